"""`shotlist models`: the catalog, as a table or JSON."""

from __future__ import annotations

import typer

from shotlist.cli.options import JsonOpt


def register(app: typer.Typer) -> None:
    app.command()(models)


def models(as_json: JsonOpt = False) -> None:
    """List the models shotlist can drive: modes, durations, sizes, price, and the key each needs."""
    import json
    import os

    from shotlist.catalog import catalog, estimate_cost

    entries = list(catalog().values())
    if as_json:
        typer.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="models (price: US$ for a 5 s clip at 720p, catalog estimate)")
    for col in ("id", "modes", "durations", "resolutions", "5 s @720p", "key", "status"):
        table.add_column(col)
    for e in entries:
        keys = ", ".join(f"{v} {'(set)' if os.environ.get(v) else '(missing)'}" for v in e.env) or "none"
        price = "free" if e.local else f"${estimate_cost(e, 5, e.resolution_for('720p')):.2f}"
        note = f"{e.status}: {e.status_message}" if e.status != "active" else "active"
        table.add_row(e.id, " ".join(e.modes), e.durations_text(), " ".join(e.resolutions), price, keys, note)
    Console().print(table)
