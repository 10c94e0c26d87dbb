"""What the commands share: the project argument, common options, and how money and time are written."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shotlist.ledger import money

__all__ = ["money"]

ProjectArg = Annotated[
    Path, typer.Argument(help="A project folder or a storyboard file (default: the current folder).")
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Make every shot with this model (e.g. animatic: an offline preview of the whole film).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"~{seconds:.0f} s"
    return f"~{seconds / 60:.0f} min"


def parse_money(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().lstrip("$").replace("USD", "").strip())
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not an amount of dollars (like 5 or 12.50)") from None
    if value < 0:
        raise typer.BadParameter("a budget cannot be negative")
    return value
