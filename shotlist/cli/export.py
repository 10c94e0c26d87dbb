"""The `export` command: the cut as an editor's timeline (OTIO, FCPXML, FCP 7 XML, EDL)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shotlist.cli.options import ProjectArg


class Format(StrEnum):
    otio = "otio"
    fcpxml = "fcpxml"
    xml = "xml"
    edl = "edl"


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    project: ProjectArg = Path("."),
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="otio (OpenTimelineIO), fcpxml (Final Cut Pro X), "
            "xml (FCP 7 XML: Premiere, Resolve), edl (CMX 3600).",
        ),
    ] = Format.otio,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write (default: next to the cut, with the format's suffix)."
        ),
    ] = None,
) -> None:
    """Export the cut of the pinned clips for a real editor; say what the format cannot carry."""
    from shotlist.clip import pinned_clips
    from shotlist.cut import check_destination
    from shotlist.durable import check_writable
    from shotlist.errors import BuildError
    from shotlist.export import FORMATS, editor_media, export_timeline
    from shotlist.load import load_project
    from shotlist.timeline import assemble

    p = load_project(project)
    default = p.file(p.board.output.file).with_suffix(FORMATS[fmt.value][1])
    dest = output if output is not None else default
    check_destination(p, dest, "export", default)
    clips, missing = pinned_clips(p)
    if missing:
        raise BuildError(
            f"no clip yet for {', '.join(missing)}: run `shotlist build` first "
            "(`shotlist plan` says what generating them costs)"
        )
    check_writable([dest], "export")
    clips = editor_media(clips, dest.with_name(f"{dest.stem}.media"))  # named files an editor imports
    try:
        timeline = assemble(p, clips)
        warnings = export_timeline(timeline, dest, fmt.value)
    except ValueError as exc:  # the format cannot carry the cut as asked
        raise BuildError(str(exc)) from exc
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"{dest}: {len(timeline.items)} shots, {float(timeline.duration):.2f} s at {timeline.fps} fps")
