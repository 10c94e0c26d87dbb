"""`shotlist validate` checks a storyboard and every file it names; `shotlist schema` prints its JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shotlist.cli.options import ProjectArg

if TYPE_CHECKING:
    from shotlist.load import Project


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(schema)


def validate(project: ProjectArg = Path(".")) -> None:
    """Check a storyboard, every file it names and every prompt it renders; print each problem with its line."""
    from shotlist.load import load_project, refused
    from shotlist.prompt import check_prompts

    p = load_project(project)
    problems = check_prompts(p)  # cheap, and a template error found now is not a build failing later
    if problems:
        raise refused(p, problems)
    typer.echo(summary(p))


def summary(p: Project) -> str:
    """One line about a valid project: shots, cut length, modes, input images."""
    from shotlist.resolve import ImageInfo

    shots = p.shots
    lengths = [(s.trim.end or s.duration) - s.trim.start if s.trim else s.duration for s in shots]
    overlap = sum(s.transition.duration for s in shots[:-1] if s.transition.type != "cut")
    modes: dict[str, int] = {}
    for s in shots:
        modes[s.mode] = modes.get(s.mode, 0) + 1
    images = {i.rel for s in shots for i in (s.image, s.end_image) if isinstance(i, ImageInfo)}
    images |= {i.rel for s in shots for r in s.refs for i in r.images}
    n = len(shots)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(modes.items()))
    return (
        f"{p.path}: ok — {n} shot{'s' if n != 1 else ''} ({kinds}), {sum(lengths) - overlap:g} s cut, "
        f"{len(images)} image{'s' if len(images) != 1 else ''}"
    )


def schema() -> None:
    """Print the storyboard's JSON Schema (for editors: see the README's yaml-language-server line)."""
    from shotlist.storyboard import schema_text

    typer.echo(schema_text(), nl=False)
