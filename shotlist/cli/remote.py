"""Commands for working as a team: push and pull clips, a git-status-like overview, and the remote's upkeep."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shotlist.cli.options import ProjectArg

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from shotlist.load import Project
    from shotlist.lock import Lock
    from shotlist.plan import ShotPlan
    from shotlist.remote import Remote, Transfer
    from shotlist.store import Store

RemoteOpt = Annotated[
    str | None, typer.Option("--remote", help="Remote store URL (default: the storyboard's remote:).")
]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="Transfers at once.")]

remote_app = typer.Typer(help="The shared clip store's upkeep.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(push)
    app.command()(pull)
    app.command()(status)
    app.add_typer(remote_app, name="remote")
    remote_app.command("gc")(remote_gc)


def say(message: str) -> None:
    typer.echo(message, err=True)


def open_remote(project: Project, url: str | None = None, *, required: bool = True) -> Remote | None:
    """The project's remote store (``url`` overrides it); None when it names none and ``required`` is False."""
    from shotlist.errors import ShotlistError
    from shotlist.remote import Remote, project_remote

    remote = Remote(url, on_wait=say) if url else project_remote(project, on_wait=say)
    if remote is not None:
        return remote
    if not required:
        return None
    raise ShotlistError(
        "this project names no remote clip store: add `remote: <folder, s3://bucket/path or "
        "gs://bucket/path>` to the storyboard, or pass --remote"
    )


def _opened(project: Project, url: str | None) -> tuple[Store, Lock, Remote]:
    """The store, the lock (each entry checked against the remote's takes too) and the remote store."""
    from shotlist.lock import check_takes, read_lock
    from shotlist.store import Store

    store = Store(project.root)
    lock = read_lock(project.root, store=store)
    remote = open_remote(project, url)
    assert remote is not None
    check_takes(lock, store, remote.take_index())
    return store, lock, remote


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def _bar(total: int | None, what: str) -> tuple[Progress, TaskID]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(TextColumn(what), BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True)
    task = bar.add_task(what, total=total)
    return bar, task


def _report(verb: str, t: Transfer, shots_of: dict[str, str], url: str) -> None:
    n = len(t.sent)
    line = f"{verb} {n} clip{'s' if n != 1 else ''} ({_size(t.bytes)}); {len(t.skipped)} already there"
    if t.repaired:
        line += f"; {len(t.repaired)} corrupt remote cop{'ies' if len(t.repaired) > 1 else 'y'} replaced"
    typer.echo(line)
    for sha in t.damaged:
        fix = (
            "the remote store's copy replaced it"
            if sha in t.sent
            else "`shotlist pull` fetches the remote store's copy"
            if sha in t.skipped
            else "no store has it intact"
        )
        say(
            f"  damaged: {shots_of.get(sha, 'a take')}: this clone's copy of clip {sha[:12]} was damaged (its "
            f"bytes no longer match its hash); it was {'not pushed and was ' * (verb == 'pushed')}moved to "
            f".shotlist/corrupt/; {fix}"
        )
    for sha in t.corrupt:
        say(
            f"  corrupt: {shots_of.get(sha, 'a take')}: the remote copy of clip {sha[:12]} is corrupt; it was "
            "not used. Whoever has the clip can repair it with `shotlist push`"
        )
    for sha in t.missing:
        say(
            f"  missing: {shots_of.get(sha, 'a take')} (clip {sha[:12]}) is neither here nor in the remote "
            f"store {url}; whoever built it can `shotlist push` it"
        )


def push(
    project: ProjectArg = Path("."),
    remote: RemoteOpt = None,
    all_takes: Annotated[
        bool, typer.Option("--all-takes", help="Push every take, not only the pinned ones.")
    ] = False,
    jobs: JobsOpt = 8,
) -> None:
    """Upload the pinned takes to the shared clip store (every take with --all-takes); repair corrupt copies."""
    from shotlist.load import load_project
    from shotlist.remote import push as push_clips

    p = load_project(project)
    store, lock, r = _opened(p, remote)
    pins = {e.key: e.clip for e in lock.entries.values()}
    total = sum(store.object_path(s).stat().st_size for s in set(pins.values()) if store.has_object(s))
    bar, task = _bar(total if not all_takes else None, f"pushing to {r.url}")
    with store.locked("push", timeout=30, on_wait=say), bar:
        result = push_clips(
            store, r, pins, all_takes=all_takes, progress=lambda sha, n: bar.advance(task, n), workers=jobs
        )
    _report("pushed", result, {e.clip: e.shot for e in lock.entries.values()}, r.url)
    if result.missing:
        raise typer.Exit(1)


def pull(
    project: ProjectArg = Path("."),
    remote: RemoteOpt = None,
    all_takes: Annotated[
        bool,
        typer.Option("--all-takes", help="Also fetch every take the remote holds (pushed for review)."),
    ] = False,
    jobs: JobsOpt = 8,
) -> None:
    """Download the clips the lock pins that this clone lacks; each is verified by its hash."""
    from shotlist.load import load_project
    from shotlist.remote import pull as pull_clips

    p = load_project(project)
    store, lock, r = _opened(p, remote)
    wanted = {(e.key, e.clip) for e in lock.entries.values()}
    if all_takes:
        wanted |= {(k, s) for k, shas in r.take_index().items() for s in shas}
    bar, task = _bar(None, f"pulling from {r.url}")
    with store.locked("pull", timeout=30, on_wait=say), bar:
        result = pull_clips(
            store, r, sorted(wanted), progress=lambda sha, n: bar.advance(task, n), workers=jobs
        )
    _report("pulled", result, {e.clip: e.shot for e in lock.entries.values()}, r.url)
    if result.missing or result.corrupt:
        say(
            "a missing clip is never regenerated silently: `shotlist plan` says what regenerating costs, "
            "and `shotlist build --regenerate-missing` pays for it"
        )
        raise typer.Exit(1)


def status(
    project: ProjectArg = Path("."),
    check_remote: Annotated[
        bool, typer.Option("--remote/--no-remote", help="Ask the remote which clips it has (one listing).")
    ] = False,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help="Exit 1 when the lock holds conflict markers or a shot is conflicted in it, not pushed, "
            "in no store, or (--remote) its remote copy changed since it was pushed.",
        ),
    ] = False,
) -> None:
    """Say, like git status, which shots are pinned, stale, conflicted, missing locally or not pushed."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.load import load_project
    from shotlist.lock import LOCK, read_lock
    from shotlist.plan import make_plan
    from shotlist.remote import pushed, write_marker
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    lock = read_lock(p.root, lenient=True, store=store)
    r = open_remote(p, required=False)
    known: set[str] = set()
    changed: set[str] = set()  # rewritten on the remote since a push recorded them
    if r is not None and check_remote:
        inventory = r.inventory()
        known = set(inventory)
        changed = {sha for sha, obj in inventory.items() if obj.sidecars and not obj.verified}
        write_marker(store, r, known & lock.pins())
    elif r is not None:
        known = pushed(store, r.url)
    plan = {s.shot: s for s in make_plan(p, store, lock, CatalogModels()).shots}
    problems = 0
    if lock.markers:  # even where both sides pin the same takes, the file must not be committed so
        typer.echo(f"{LOCK}:{lock.markers}: git merge conflict markers (`shotlist lock resolve`)")
    for shot in p.shots:
        words, bad = _shot_status(shot.id, lock, store, plan[shot.id], known if r else None, check_remote)
        entry = lock.get(shot.id)
        if entry is not None and entry.clip in changed:
            words.append("its remote copy changed since it was pushed (`shotlist push` checks it)")
            bad = True
        problems += bad
        typer.echo(f"  {shot.id:<24} {', '.join(words)}")
    if r is not None:
        typer.echo(f"remote: {r.url}{'' if check_remote else ' (as last seen; --remote asks it)'}")
    if exit_code and (problems or lock.markers):
        said = []
        if problems:
            said.append(
                f"{problems} shot{'s' if problems > 1 else ''} need{'' if problems > 1 else 's'} attention"
            )
        if lock.markers:
            said.append(f"{LOCK} holds git merge conflict markers")
        say("; ".join(said))
        raise typer.Exit(1)


def _shot_status(
    shot: str, lock: Lock, store: Store, sp: ShotPlan, known: set[str] | None, asked: bool
) -> tuple[list[str], bool]:
    """The status words of one shot, and whether a pre-push check should fail on it."""
    from shotlist.plan import Action

    if shot in lock.conflicted or shot in lock.mismatched:
        why = "conflicted" if shot in lock.conflicted else "its clip is a take of another recipe"
        return [f"{why} in shotlist.lock (`shotlist lock resolve`)"], True
    if shot in lock.dropped:
        return ["its shotlist.lock entry is broken (`shotlist lock resolve`)"], True
    entry = lock.get(shot)
    if entry is None:
        return ["new: not generated yet"], False
    words = []
    if sp.action == Action.GENERATE or (sp.spec is not None and sp.spec.key != entry.key):
        words.append(f"stale ({'; '.join(sp.reasons) or 'its recipe changed'})")
    else:
        words.append(f"pinned take {entry.take} ({entry.clip[:8]})")
    here = store.has_object(entry.clip)
    there = known is not None and entry.clip in known
    if not here:
        words.append("missing locally (`shotlist pull`)" if there else "missing locally")
    if known is not None and not there:
        if asked:
            words.append("not pushed (`shotlist push`)" if here else "not in the remote store either")
        else:
            words.append("not pushed as far as this clone knows (`shotlist status --remote` asks)")
    return words, (not here and not there) or (known is not None and not there)


def remote_gc(
    project: ProjectArg = Path("."),
    remote: RemoteOpt = None,
    older_than: Annotated[
        float, typer.Option("--older-than", min=0, help="Hours; younger parts may be a push in progress.")
    ] = 24,
) -> None:
    """Remove what interrupted pushes left on the remote store: upload parts (a folder's tmp/*.part, an
    object store's unfinished multipart uploads)."""
    from shotlist.load import load_project

    r = open_remote(load_project(project), remote)
    assert r is not None
    parts = r.parts()
    old = [(name, size) for name, age, size in parts if age >= older_than * 3600]
    for name, _ in old:
        r.remove_part(name)
    uploads = r.uploads()
    stopped = [(key, upload) for key, upload, age in uploads if age >= older_than * 3600]
    for key, upload in stopped:
        r.abort_upload(key, upload)
    kept = len(parts) + len(uploads) - len(old) - len(stopped)
    typer.echo(
        f"removed {len(old)} upload part{'s' if len(old) != 1 else ''} ({_size(sum(n for _, n in old))}) "
        f"from {r.url}"
        + (
            f"; aborted {len(stopped)} unfinished upload{'s' if len(stopped) != 1 else ''} (a push stopped "
            "midway)"
            if stopped
            else ""
        )
        + (f"; kept {kept} younger than {older_than:g} h (a push may be writing them)" if kept else "")
    )
