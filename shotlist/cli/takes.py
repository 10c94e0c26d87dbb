"""`shotlist takes` lists a shot's takes; `shotlist pick` pins one of them in shotlist.lock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shotlist.cli.options import ModelOpt, ProjectArg, money

if TYPE_CHECKING:
    from shotlist.journal import JournalEntry
    from shotlist.load import Project
    from shotlist.lock import Lock
    from shotlist.plan import ShotPlan
    from shotlist.store import Store


def register(app: typer.Typer) -> None:
    app.command()(takes)
    app.command()(pick)


def takes(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    project: ProjectArg = Path("."),
    model: ModelOpt = None,
) -> None:
    """List a shot's takes (this recipe's first, then earlier recipes'), with cost; * marks the pinned one.

    Jobs that left no take are listed too (refused, lost after being paid, sent with no answer, still
    running), each with what to do about it."""
    from shotlist.journal import Journal
    from shotlist.ledger import Ledger

    p, store, lock, sp = _shot_plan(project, shot, model)
    pinned = lock.get(shot)
    current = sp.key
    rows = []
    for recipe in store.entries():
        if recipe.shot != shot and recipe.key != current:  # a shot sharing another's request shares its takes
            continue
        for t in recipe.takes:
            rows.append((recipe.key == current, recipe.key, t))
    ended = [r for r in Ledger(store.dir).all() if r.shot == shot or r.key == current]
    running = [j for j in Journal(store.dir).entries() if j.shot == shot or j.key == current]
    if not rows and not ended and not running:
        typer.echo(
            f"{shot}: no takes in the store yet ({'`shotlist build` makes one' if current else 'its upstream shot must be built first'})"
        )
        return
    rows.sort(key=lambda r: (not r[0], r[2].time), reverse=False)
    typer.echo(f"takes of {shot} (pick one of this recipe with `shotlist pick {shot} TAKE`):")
    for is_current, key, t in rows:
        mark = "*" if pinned and pinned.clip == t.sha256 and pinned.key == key else " "
        where = "this recipe" if is_current else f"earlier recipe {key[:10]}"
        missing = "" if store.has_object(t.sha256) else "  (clip not in the store)"
        typer.echo(
            f" {mark} take {t.take:<3} {t.sha256[:12]}  {t.model:<14} {money(t.cost):>8}"
            f"{' est.' if t.cost_is_estimate else '     '} {t.facts.duration:6.2f} s  {t.time}  {where}{missing}"
        )
    for r in ended:
        where = "this recipe" if r.key == current else f"earlier recipe {r.key[:10]}"
        typer.echo(
            f"   take {r.take:<3} {r.outcome:<12}  {r.model:<14} {money(r.cost):>8}"
            f"{' est.' if r.cost_is_estimate else '     '}           {r.time}  {where}"
        )
        typer.echo(f"            {r.text(sp.again, sp.free)}")
    for j in running:
        typer.echo(f"   take {j.take:<3} {'in flight':<12}  {j.model:<14}                     {j.time}")
        typer.echo(f"            {in_flight_text(j, sp)}")


def in_flight_text(entry: JournalEntry, sp: ShotPlan | None) -> str:
    """What a journaled job means and what the next build does with it (`takes` and `cache verify` alike)."""
    from shotlist.ledger import unknown_text

    if entry.job:
        return (
            f"take {entry.take} is running at {entry.backend} (job {entry.job}); the next build resumes it "
            "(already paid)"
        )
    if sp is not None and sp.free:
        return f"take {entry.take}'s submit had no answer; the next build sends it again (free)"
    if sp is not None and entry.take in sp.unknown:
        return (
            f"take {entry.take}'s submit had no answer; the next build looks it up at {entry.backend} "
            "before anything is sent again"
        )
    why = entry.why_unknown
    return unknown_text(entry.shot, entry.take, entry.backend, entry.time, why, sp.again if sp else None)


def pick(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    take: Annotated[
        int, typer.Argument(help="A take number of the shot's current recipe (see `shotlist takes`).")
    ],
    project: ProjectArg = Path("."),
    model: ModelOpt = None,
) -> None:
    """Pin a take of a shot in shotlist.lock (also resolves that shot's merge conflict in the lock)."""
    from shotlist.errors import ShotlistError
    from shotlist.lock import LockEntry, write_lock

    p, store, lock, sp = _shot_plan(project, shot, model)
    if sp.key is None:
        raise ShotlistError(
            f"{shot} starts from a frame of {sp.waits_for}, which has no clip yet; build it first"
        )
    recipe = store.entry(sp.key)
    chosen = recipe.take(take) if recipe else None
    available = [t.take for t in store.takes(sp.key)]
    if chosen is None or not store.has_object(chosen.sha256):
        listed = ", ".join(map(str, sorted(available))) or "none"
        raise ShotlistError(
            f"{shot} has no take {take} of its current recipe in the store (takes: {listed}); "
            f"`shotlist takes {shot}` lists them"
        )
    with store.locked("pick", timeout=30, on_wait=lambda m: typer.echo(m, err=True)):
        lock.entries[shot] = LockEntry.pinning(shot, sp.key, chosen)
        write_lock(p.root, lock, [s.id for s in p.shots])
    typer.echo(f"{shot}: pinned take {chosen.take} ({chosen.sha256[:12]})")
    left = [s for s in lock.conflicted + lock.dropped if s != shot]
    if left:
        typer.echo(
            f"the lock's entries for {', '.join(left)} were in conflict or broken and are dropped; "
            "`shotlist plan` shows what a build does for them (their takes stay in the store)",
            err=True,
        )


def _shot_plan(project: Path, shot: str, model: str | None) -> tuple[Project, Store, Lock, ShotPlan]:
    """The project, its store, its lock (read leniently: pick repairs it) and the plan of one shot."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.errors import ShotlistError, did_you_mean
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.plan import make_plan
    from shotlist.store import Store

    p = load_project(project)
    ids = [s.id for s in p.shots]
    if shot not in ids:
        raise ShotlistError(f"no shot '{shot}'{did_you_mean(shot, ids)}; the shots are: {', '.join(ids)}")
    store = Store(p.root)
    lock = read_lock(p.root, lenient=True)
    the_plan = make_plan(p, store, lock, CatalogModels(), model=model)
    return p, store, lock, next(s for s in the_plan.shots if s.shot == shot)
