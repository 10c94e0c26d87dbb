"""`shotlist render`: the edit alone, from the clips already picked for every shot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shotlist.cli.options import ProjectArg


def register(app: typer.Typer) -> None:
    app.command()(render)


def render(
    project: ProjectArg = Path("."),
    preview: Annotated[
        bool,
        typer.Option(
            "--preview",
            help="Half size and a faster preset, same fps; written beside the cut as <name>.preview.mp4.",
        ),
    ] = False,
) -> None:
    """Edit the picked clips into the cut; only the pieces a change touches are re-encoded."""
    from shotlist.cli import STATE
    from shotlist.errors import ShotlistError

    try:
        _render(project, preview)
    except ShotlistError as exc:
        if STATE["debug"]:
            raise
        # A script reads the exit status; a person reads the last line: both say the cut was not written.
        typer.echo(str(exc), err=True)
        typer.echo(f"no cut written: {no_cut_reason(exc)}", err=True)
        raise typer.Exit(exc.exit_code) from None


def no_cut_reason(exc: Exception) -> str:
    """The first line of an error, as the reason a cut was not written."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _render(project: Path, preview: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from shotlist.clip import pinned_clips
    from shotlist.cut import output_path
    from shotlist.durable import check_writable
    from shotlist.edit import render_cut
    from shotlist.errors import BuildError
    from shotlist.load import load_project
    from shotlist.salvage import STORE
    from shotlist.store import Store

    p = load_project(project)
    check_writable([p.root / STORE, output_path(p, preview=preview)], "render")
    store = Store(p.root)
    with store.locked("render", on_wait=lambda m: typer.echo(m, err=True)):
        clips, missing = pinned_clips(p, store=store)
        if missing:
            raise BuildError(
                f"no clip yet for {len(missing)} shot{'s' if len(missing) != 1 else ''}: {', '.join(missing)}\n"
                f"  run `shotlist plan {project}` to see what generating them would cost, "
                f"then `shotlist build {project}`"
            )
        console = Console(stderr=True)
        with Progress(
            TextColumn("rendering"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task("render", total=1.0)
            result = render_cut(p, clips, preview=preview, progress=lambda x: bar.update(task, completed=x))
    typer.echo(
        f"{result.path}: {result.frames} frames, {result.duration:.2f} s, {result.width}x{result.height} "
        f"at {result.fps} fps, in {result.seconds:.1f} s"
    )
    typer.echo(f"  pieces: {len(result.rendered)} encoded, {len(result.reused)} reused")
    audio = result.audio
    if audio is not None:
        typer.echo(
            f"  sound: {audio.lufs:.1f} LUFS, true peak {audio.true_peak_db:.1f} dBTP "
            f"({audio.normalization_type} normalisation)"
        )
    for path in result.sidecars:
        typer.echo(f"  captions: {path}")
