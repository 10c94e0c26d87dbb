"""Commands about the storyboard itself: validate, schema, init."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Project = Annotated[Path, typer.Argument(help="A project folder or a storyboard file (default: the current folder).")]


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(schema)


def validate(project: Project = Path(".")) -> None:
    """Check a storyboard and every file it names; print each problem with its line."""
    from shotlist.project import load_project

    p = load_project(project)
    typer.echo(f"{p.path}: ok, {len(p.shots)} shots")


def schema() -> None:
    """Print the storyboard's JSON Schema (for editors)."""
    import json

    from shotlist.storyboard import Storyboard

    typer.echo(json.dumps(Storyboard.model_json_schema(), indent=2))
