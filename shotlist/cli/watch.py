"""`shotlist watch`: re-validate, re-lint, re-plan and re-render the preview on every save."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shotlist.cli.options import ModelOpt, ProjectArg


def register(app: typer.Typer) -> None:
    app.command()(watch)


def watch(
    project: ProjectArg = Path("."),
    model: ModelOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --model: let every save spend on that model.")
    ] = False,
) -> None:
    """Keep the preview cut in step with the storyboard: paid shots are previewed by the animatic unless --model and --yes."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.errors import ShotlistError
    from shotlist.watch import watch as run_watch

    paid = False
    if model is not None:
        info = CatalogModels().info(model)
        paid = not info.free
        if paid and not yes:
            raise ShotlistError(
                f"--model {model} is paid: every save would spend on it. Add --yes to allow that, "
                "or leave --model out (changed shots are previewed by the animatic)"
            )
    typer.echo(f"watching {project} (Ctrl-C stops)")
    try:
        run_watch(project, say=typer.echo, model=model, paid=paid)
    except KeyboardInterrupt:
        typer.echo("watch stopped")
