"""What a language-model call costs: prices per million tokens from ``prices.yaml`` (with dates), and a
token estimate made before the call (about 4 characters a token for English and JSON)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class TokenPrice:
    """US dollars per million input and output tokens, and where the figures come from."""

    input: float
    output: float
    date: str
    source: str

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1e6

    def __str__(self) -> str:
        return f"${self.input:g}/${self.output:g} per million tokens in/out, prices of {self.date}"


@functools.cache
def prices() -> dict[str, TokenPrice]:
    """Every priced model by ``provider/model``."""
    raw = yaml.safe_load(resources.files(__package__).joinpath("prices.yaml").read_text(encoding="utf-8"))
    return {name: TokenPrice(float(p["input"]), float(p["output"]), str(p["date"]), str(p["source"])) for name, p in raw.items()}


def price_of(provider: str, model: str) -> TokenPrice | None:
    """The price of a model, or None when the catalog has none."""
    return prices().get(f"{provider}/{model}")


def tokens_in(text: str) -> int:
    """About how many tokens ``text`` is."""
    return max(1, len(text) // CHARS_PER_TOKEN)
