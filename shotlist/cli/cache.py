"""`shotlist cache ls | verify | gc`: the project's clip store (.shotlist/)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shotlist.cli.options import ProjectArg, money

if TYPE_CHECKING:
    from shotlist.load import Project
    from shotlist.lock import Lock
    from shotlist.plan import ShotPlan
    from shotlist.store import Store, Sweep, Take

cache_app = typer.Typer(
    help="The project's clip store (.shotlist/): list, verify, clean up.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
    cache_app.command("ls")(cache_ls)
    cache_app.command("verify")(cache_verify)
    cache_app.command("gc")(cache_gc)


def cache_ls(project: ProjectArg = Path(".")) -> None:
    """List the takes in the store by shot (size, cost, * for the pinned ones), then what the edit keeps."""
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    pins = read_lock(p.root, lenient=True).pins()
    total = count = 0
    for recipe in sorted(store.entries(), key=lambda r: r.shot):
        for t in recipe.takes:
            size = store.object_path(t.sha256).stat().st_size if store.has_object(t.sha256) else 0
            mark = "*" if t.sha256 in pins else " "
            typer.echo(
                f" {mark} {recipe.shot:<20} take {t.take:<3} {t.sha256[:12]}  {size / 1e6:8.2f} MB  "
                f"{money(t.cost):>8}  {t.model}{'' if size else '  (clip missing)'}"
            )
    for _, path in store.objects():
        total += path.stat().st_size
        count += 1
    typer.echo(f"{count} objects, {total / 1e6:.2f} MB in {store.dir}")
    for line in edit_store_text(store):
        typer.echo(line)


def edit_store_text(store: Store) -> list[str]:
    """What the edit keeps: pieces, shot sounds and finished sounds (how many, how big, how many no cut
    uses), and one line per cut record."""
    used = store.used_by_cuts()
    lines = []
    for what, derived in (
        ("pieces", store.pieces),
        ("shot sounds", store.sounds),
        ("cut sounds", store.mixes),
    ):
        keys = derived.keys()
        unused = [k for k in keys if k not in used]
        size = sum(derived.size(k) for k in keys)
        spare = sum(derived.size(k) for k in unused)
        lines.append(
            f"{len(keys)} {what}, {size / 1e6:.2f} MB"
            + (
                f" ({len(unused)} used by no cut: {spare / 1e6:.2f} MB, `shotlist cache gc` removes them)"
                if unused
                else ""
            )
        )
    for cut, record in store.cut_records():
        shown = f"{cut.stat().st_size / 1e6:.2f} MB" if cut.is_file() else "file gone"
        pieces = len(record.get("pieces", []))
        lines.append(
            f"cut {record.get('cut')}: {shown}, joined from {pieces} piece{'s' if pieces != 1 else ''}"
        )
    return lines


def cache_verify(project: ProjectArg = Path(".")) -> None:
    """Re-hash the store: objects against their names, pieces and sounds against their records, cuts against
    theirs; report any that differ, and pinned clips that are missing.

    Also notes every job in flight and every shot held by a refused, lost or unanswered job, with what
    to do about it (the same words as `shotlist plan` and `shotlist takes`)."""
    from shotlist.journal import Journal
    from shotlist.ledger import Ledger, in_flight_text
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    lock = read_lock(p.root, store=store)
    count, bad = store.verify({shot: e.clip for shot, e in lock.entries.items()})
    plans = _plans(p, store, lock)
    for j in Journal(store.dir).entries():
        typer.echo(f"note: {j.shot}: {in_flight_text(j, plans.get(j.shot))}")
    for sp in plans.values():
        if sp.record is not None and sp.action in ("refused", "lost"):
            typer.echo(f"note: {sp.shot}: {sp.record.text(sp.again, sp.free)}")
    ledger = Ledger(store.dir)
    paid = [r for r in ledger.all() if r.paid]
    if paid:
        typer.echo(
            f"note: the ledger records {len(paid)} paid job{'s' if len(paid) > 1 else ''} that left no clip "
            f"({money(sum(r.cost or 0.0 for r in paid))}); `shotlist takes ID` lists each shot's"
        )
    bad += [
        f"damaged: {path.relative_to(p.root)} (a ledger file that could not be read, kept aside)"
        for path in ledger.damaged()
    ]
    for line in bad:
        typer.echo(line, err=True)
    if bad:
        typer.echo(
            f"{len(bad)} problem{'s' if len(bad) > 1 else ''}; the next build or render sets a damaged pinned "
            "clip aside and pulls it again (or says how to replace it), and remakes a damaged piece or sound",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"{count} files verified: all intact; every pinned clip is present")


def _plans(p: Project, store: Store, lock: Lock) -> dict[str, ShotPlan]:
    """The plan of every shot, for what the notes say (none when the storyboard cannot be planned)."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.errors import ShotlistError
    from shotlist.plan import make_plan

    try:
        return {sp.shot: sp for sp in make_plan(p, store, lock, CatalogModels()).shots}
    except ShotlistError:
        return {}


def cache_gc(
    project: ProjectArg = Path("."),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """Delete the takes and frames no lock entry pins (shows the bytes and what those takes cost first), the
    pieces and sounds no current cut was made from, and what killed renders left behind."""
    from shotlist.cut import output_path
    from shotlist.durable import check_writable
    from shotlist.journal import Journal
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.store import Store, sweep_leftovers

    p = load_project(project)
    store = Store(p.root)
    check_writable([store.dir], "cache gc")
    with store.locked("cache gc", timeout=30, on_wait=lambda m: typer.echo(m, err=True)):
        left = sum(
            sweep_leftovers(out.parent, out.name) for out in (output_path(p), output_path(p, preview=True))
        )
        # Backends' scratch (e.g. the animatic's renders) is needed only to resume a job still in the journal.
        sweep = store.sweep(read_lock(p.root).pins(), keep_scratch=bool(Journal(store.dir).entries()))
        if not sweep:
            typer.echo(
                "nothing to remove: every object is pinned by shotlist.lock and every piece is in a cut"
            )
            return
        typer.echo("would remove " + sweep_text(sweep, _refetchable(p, [t for _, t in sweep.takes])))
        # Takes were paid for: ask. Pieces and sounds are remade from the clips if ever needed.
        if not yes and (sweep.takes or sweep.objects):
            if not sys.stdin.isatty():
                typer.echo("not removed: pass --yes to delete without a terminal", err=True)
                raise typer.Exit(1)
            if not typer.confirm("Delete them?", default=False):
                raise typer.Exit(1)
        freed = store.gc(sweep) + left
    typer.echo(
        f"removed {len(sweep.objects)} objects and {len(sweep.derived)} pieces and sounds, "
        f"{freed / 1e6:.2f} MB freed"
    )


def sweep_text(sweep: Sweep, refetch: str = " and cannot be fetched again") -> str:
    """What a gc would remove, in one sentence; ``refetch`` ends the clause about the takes."""
    n, objects, derived = len(sweep.takes), len(sweep.objects), len(sweep.derived)
    parts = []
    if n or objects:
        clips = sweep.bytes - sweep.scratch - sweep.derived_bytes
        parts.append(
            f"{n} unpinned take{'s' if n != 1 else ''} and {objects} object{'s' if objects != 1 else ''}: "
            f"{clips / 1e6:.2f} MB; those takes cost {money(sweep.cost)} to generate{refetch}"
        )
    if derived:
        parts.append(
            f"{derived} piece{'s' if derived != 1 else ''} and sound{'s' if derived != 1 else ''} no current cut "
            f"uses: {sweep.derived_bytes / 1e6:.2f} MB (remade if ever needed)"
        )
    if sweep.scratch:
        parts.append(f"{sweep.scratch / 1e6:.2f} MB of backend scratch")
    return "; and ".join(parts)


def _refetchable(p: Project, takes: list[Take]) -> str:
    """What the remote store holds of takes about to be deleted, as the end of a sentence."""
    from shotlist.cli.remote import open_remote
    from shotlist.remote import RemoteError

    remote = open_remote(p, required=False)
    if remote is None or not takes:
        return " and cannot be fetched again"
    try:
        there = set(remote.inventory())
    except RemoteError as exc:
        return f"; the remote store could not be asked whether it keeps them ({exc})"
    kept = sum(1 for t in takes if t.sha256 in there)
    if kept == len(takes):
        return "; all of them are in the remote store (`shotlist pull --all-takes` fetches them again)"
    return (
        f"; {kept} of them are in the remote store (`shotlist pull --all-takes` fetches them again), "
        f"the other {len(takes) - kept} cannot be fetched again"
        if kept
        else "; they are not in the remote store and cannot be fetched again"
    )
