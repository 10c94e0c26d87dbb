"""`shotlist sheet`: a contact sheet PNG of the pinned takes (or of every take)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shotlist.cli.options import ProjectArg


def register(app: typer.Typer) -> None:
    app.command()(sheet)


def sheet(
    project: ProjectArg = Path("."),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The PNG to write (default: beside the cut, <name>.sheet.png)."),
    ] = None,
    takes: Annotated[
        bool, typer.Option("--takes", help="A row for every take of each shot, not only the pinned one.")
    ] = False,
) -> None:
    """One row per shot: the first, middle and last frame of its pinned take, with id, duration, model and take."""
    from shotlist.cut import check_destination, output_path
    from shotlist.errors import BuildError
    from shotlist.load import load_project
    from shotlist.sheet import contact_sheet, project_rows
    from shotlist.store import Store

    p = load_project(project)
    default = output_path(p).with_suffix(".sheet.png")
    dest = output or default
    check_destination(p, dest, "sheet", default)
    rows = project_rows(p, every_take=takes)
    if not rows:
        raise BuildError(f"no takes to show yet: `shotlist build {project}` makes them")
    missing = sorted({s.id for s in p.shots} - {r.label[0] for r in rows}, key=[s.id for s in p.shots].index)
    contact_sheet(
        Store(p.root), rows, dest, f"{p.board.title} — {len(rows)} take{'s' if len(rows) != 1 else ''}"
    )
    typer.echo(f"{dest}: {len(rows)} row{'s' if len(rows) != 1 else ''}")
    if missing:
        typer.echo(f"  no take yet for {', '.join(missing)}", err=True)
