"""What a language-model call costs: prices per million tokens from ``prices.yaml`` (with dates), and a
token estimate made before the call (about 4 characters a token for English and JSON)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from shotlist.llm import Ask, ChatClient, Usage

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
    return {
        name: TokenPrice(float(p["input"]), float(p["output"]), str(p["date"]), str(p["source"]))
        for name, p in raw.items()
    }


def price_of(provider: str, model: str) -> TokenPrice | None:
    """The price of a model, or None when the list has none. A router's model id names its maker
    (``openai/gpt-4.1-mini`` on OpenRouter) and is looked up as it is."""
    return prices().get(f"{provider}/{model}") or prices().get(model)


def tokens_in(text: str) -> int:
    """About how many tokens ``text`` is."""
    return max(1, len(text) // CHARS_PER_TOKEN)


def estimate_line(client: ChatClient, ask: Ask, out_tokens: int, repairs: int) -> str:
    """The line shown before a call: about how many tokens go in and come out, and what that costs."""
    n_in = (
        tokens_in(ask.system) + sum(tokens_in(t.text) for t in ask.turns) + tokens_in(json.dumps(ask.schema))
    )
    if client.local:
        cost = "free (a server on this machine or network)"
    else:
        price = price_of(client.provider, client.model)
        cost = (
            f"about {money(price.cost(n_in, out_tokens))} ({price})"
            if price
            else "cost unknown (no price listed)"
        )
    return (
        f"asking {client.label} at {client.base_url}: about {n_in:,} tokens in and {out_tokens:,} out, "
        f"{cost}; up to {repairs} repair rounds may follow, each resending the conversation"
    )


def spent_line(client: ChatClient, used: Usage, requests: int) -> str:
    """The line shown after the calls: the tokens the provider reported and what they cost."""
    price = None if client.local else price_of(client.provider, client.model)
    cost = "free" if client.local else money(price.cost(used.input, used.output)) if price else "cost unknown"
    return f"used {used.input:,} tokens in and {used.output:,} out in {requests} request{'s' * (requests != 1)}: {cost}"


def money(dollars: float) -> str:
    """Dollars as a person reads a token bill: cents when it is cents, else four decimals."""
    return f"${dollars:.2f}" if dollars >= 0.1 else f"${dollars:.4f}"
