"""Commands for working as a team: push and pull pinned clips, and a git-status-like overview."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shotlist.cli.options import ProjectArg

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from shotlist.load import Project
    from shotlist.remote import Remote, Transfer

RemoteOpt = Annotated[
    str | None, typer.Option("--remote", help="Remote store URL (default: the storyboard's remote:).")
]


def register(app: typer.Typer) -> None:
    app.command()(push)
    app.command()(pull)
    app.command()(status)


def _remote(project: Project, url: str | None) -> Remote:
    from shotlist.errors import ShotlistError
    from shotlist.remote import Remote, remote_url

    chosen = url or remote_url(project.board.remote, project.root)
    if not chosen:
        raise ShotlistError(
            "this project names no remote clip store: add `remote: <folder, s3://bucket/path or "
            "gs://bucket/path>` to the storyboard, or pass --remote"
        )
    return Remote(chosen)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def _bar(total: int, what: str) -> tuple[Progress, TaskID]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(TextColumn(what), BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True)
    task = bar.add_task(what, total=total)
    return bar, task


def _report(verb: str, t: Transfer, shots_of: dict[str, str]) -> None:
    typer.echo(
        f"{verb} {len(t.sent)} clip{'s' if len(t.sent) != 1 else ''} ({_size(t.bytes)}); "
        f"{len(t.skipped)} already there"
    )
    for sha in t.missing:
        typer.echo(
            f"  missing: {shots_of.get(sha, sha[:12])} (clip {sha[:12]}) is in neither store", err=True
        )
    for sha in t.corrupt:
        typer.echo(
            f"  corrupt: {shots_of.get(sha, sha[:12])} (clip {sha[:12]}) did not match its hash in the "
            "remote; not used",
            err=True,
        )


def push(
    project: ProjectArg = Path("."),
    remote: RemoteOpt = None,
    all_takes: Annotated[
        bool, typer.Option("--all-takes", help="Push every take, not only the pinned ones.")
    ] = False,
) -> None:
    """Upload the pinned takes to the shared clip store (every take with --all-takes)."""
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.remote import push as push_clips
    from shotlist.remote import write_marker
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    lock = read_lock(p.root)
    r = _remote(p, remote)
    pins = {e.key: e.clip for e in lock.entries.values()}
    total = sum(store.object_path(s).stat().st_size for s in set(pins.values()) if store.has_object(s))
    bar, task = _bar(total, f"pushing to {r.url}")
    with bar:
        result = push_clips(store, r, pins, all_takes=all_takes, progress=lambda sha, n: bar.advance(task, n))
    write_marker(store, r, result.sent + result.skipped)
    _report("pushed", result, {e.clip: e.shot for e in lock.entries.values()})
    if result.missing:
        raise typer.Exit(1)


def pull(project: ProjectArg = Path("."), remote: RemoteOpt = None) -> None:
    """Download the clips the lock pins that this clone lacks; each is verified by its hash."""
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.remote import pull as pull_clips
    from shotlist.remote import write_marker
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    lock = read_lock(p.root)
    r = _remote(p, remote)
    wanted = {e.key: e.clip for e in lock.entries.values()}
    bar, task = _bar(0, f"pulling from {r.url}")
    with bar, store.locked("pull"):
        result = pull_clips(store, r, wanted, progress=lambda sha, n: bar.advance(task, n))
    write_marker(store, r, result.sent + result.skipped)
    _report("pulled", result, {e.clip: e.shot for e in lock.entries.values()})
    if result.missing or result.corrupt:
        typer.echo(
            "a missing clip is never regenerated silently: `shotlist plan` says what regenerating costs, "
            "and `shotlist build --regenerate-missing` pays for it",
            err=True,
        )
        raise typer.Exit(1)


def status(
    project: ProjectArg = Path("."),
    check_remote: Annotated[
        bool, typer.Option("--remote/--no-remote", help="Ask the remote which clips it has.")
    ] = False,
) -> None:
    """Say, like git status, which shots are pinned, stale, missing locally or not pushed."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.plan import Action, make_plan
    from shotlist.remote import pushed, remote_url
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    lock = read_lock(p.root, lenient=True)
    url = remote_url(p.board.remote, p.root)
    known = pushed(store, url) if url else set()
    r = _remote(p, None) if check_remote and url else None
    plan = {s.shot: s for s in make_plan(p, store, lock, CatalogModels()).shots}
    for shot in p.shots:
        entry = lock.get(shot.id)
        sp = plan[shot.id]
        words: list[str] = []
        if entry is None:
            words.append("new: not generated yet")
        else:
            if sp.action == Action.GENERATE or (sp.spec is not None and sp.spec.key != entry.key):
                why = "; ".join(sp.reasons) or "its recipe changed"
                words.append(f"stale ({why})")
            else:
                words.append(f"pinned take {entry.take}")
            if not store.has_object(entry.clip):
                words.append("missing locally (shotlist pull)")
            if url:
                on_remote = r.has(entry.clip) if r is not None else entry.clip in known
                if not on_remote:
                    words.append("not pushed" if r is not None or entry.clip not in known else "")
        typer.echo(f"  {shot.id:<24} {', '.join(w for w in words if w)}")
    for shot_id in lock.conflicted:
        typer.echo(
            f"  {shot_id:<24} merge conflict in shotlist.lock: choose a take, then `shotlist pick "
            f"{shot_id} TAKE`"
        )
    if url:
        typer.echo(f"remote: {url}{'' if check_remote else ' (pushed state as last seen; --remote asks it)'}")
