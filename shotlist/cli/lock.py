"""`shotlist lock resolve`: settle shotlist.lock after a git merge, from the storyboard as it now stands."""

from __future__ import annotations

from pathlib import Path

import typer

from shotlist.cli.options import ModelOpt, ProjectArg

lock_app = typer.Typer(help="shotlist.lock: settle it after a git merge.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(lock_app, name="lock")
    lock_app.command("resolve")(resolve)


def resolve(project: ProjectArg = Path("."), model: ModelOpt = None) -> None:
    """Re-pin the lock's conflicted, broken or mismatched entries from the storyboard as it now stands.

    For each such shot: a branch's entry of the storyboard's recipe, else a take of it in .shotlist/,
    else one in the remote store (pulled); with none, the next build generates the shot.
    """
    from shotlist.catalog.registry import CatalogModels
    from shotlist.cli.remote import open_remote, say
    from shotlist.conflicts import resolve_lock
    from shotlist.load import load_project
    from shotlist.lock import LOCK, check_takes, read_lock, write_lock
    from shotlist.store import Store

    p = load_project(project)  # a storyboard still holding conflict markers stops here, with their line
    store = Store(p.root)
    with store.locked("lock resolve", timeout=30, on_wait=say):
        lock = read_lock(p.root, lenient=True, store=store)
        remote = open_remote(p, required=False)
        if remote is not None:
            check_takes(lock, store, remote.take_index(), lenient=True)
        if not lock.troubled and not lock.markers:
            typer.echo(f"nothing to resolve: every entry of {LOCK} is a take of its own recipe")
            return
        had_markers = bool(lock.markers)
        settled = resolve_lock(p, store, lock, remote, CatalogModels(), model=model)
        write_lock(p.root, lock, [s.id for s in p.shots])
    for s in settled:
        typer.echo(s.line())
    typer.echo(
        f"{LOCK} rewritten"
        + (f"; `git add {LOCK}` marks its conflict resolved" if had_markers else "")
        + (
            "; `shotlist plan` shows what the next build does"
            if any(s.entry is None for s in settled)
            else ""
        )
    )
