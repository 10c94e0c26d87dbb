"""`shotlist review`: the local review app (or, with --html, a static copy of its page)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shotlist.cli.options import ProjectArg


def register(app: typer.Typer) -> None:
    app.command()(review)


def review(
    project: ProjectArg = Path("."),
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (default: a free one).")
    ] = 0,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open the browser.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", metavar="DIR", help="Write a static, self-contained copy of the page into DIR and stop."
        ),
    ] = None,
) -> None:
    """See the cut, the storyboard strip and every take in the browser; pick, reject, ask for new takes."""
    from shotlist.load import load_project

    p = load_project(project)  # a storyboard error is said here, with its line, before anything starts
    if html is not None:
        from shotlist.review.static_copy import write_static

        notes: list[str] = []
        index = write_static(p, html, notes=notes)
        for note in notes:
            typer.echo(f"note: {note} (`shotlist cache verify` checks the store)", err=True)
        typer.echo(f"wrote {index} (open it in a browser; no server needed)")
        return
    import webbrowser

    from shotlist.review.server import serve

    served = serve(project, port=port)
    typer.echo(f"reviewing {p.path} at {served.url}")
    typer.echo("(only this machine can open it; the token in the URL is required; Ctrl-C stops)")
    if not no_open:
        webbrowser.open(served.url)
    try:
        served.run()
    except KeyboardInterrupt:
        pass  # uvicorn has shut down cleanly and re-raised the Ctrl-C
    typer.echo("review stopped")
