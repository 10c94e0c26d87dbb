"""`shotlist takes` lists a shot's takes (here and in the remote store); `shotlist pick` pins one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shotlist.cli.options import ModelOpt, ProjectArg, money

if TYPE_CHECKING:
    from shotlist.journal import JournalEntry
    from shotlist.ledger import JobRecord
    from shotlist.plan import ShotPlan
    from shotlist.takes import TakeRow


def register(app: typer.Typer) -> None:
    app.command()(takes)
    app.command()(pick)


def say(message: str) -> None:
    typer.echo(message, err=True)


def takes(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    project: ProjectArg = Path("."),
    model: ModelOpt = None,
) -> None:
    """List a shot's takes (this recipe's first, then earlier recipes', then the remote's), with cost and QC;
    * marks the pinned one.

    Jobs that left no take are listed too (refused, lost after being paid, sent with no answer, still
    running), each with what to do about it."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.errors import ShotlistError, did_you_mean
    from shotlist.journal import Journal
    from shotlist.ledger import Ledger
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.plan import make_plan
    from shotlist.store import Store
    from shotlist.takes import remote_takes, shot_takes, takes_by_shot

    p = load_project(project)
    ids = [s.id for s in p.shots]
    if shot not in ids:
        raise ShotlistError(f"no shot '{shot}'{did_you_mean(shot, ids)}; the shots are: {', '.join(ids)}")
    store = Store(p.root)
    lock = read_lock(p.root, lenient=True, store=store)
    sp = next(s for s in make_plan(p, store, lock, CatalogModels(), model=model).shots if s.shot == shot)
    _, remote, note = remote_takes(p, sp.key, say)
    by_shot = takes_by_shot(store)
    found = by_shot.get(shot, [])  # and a shot sharing another's request shares its takes:
    found += [
        (key, t) for other, rows in by_shot.items() if other != shot for key, t in rows if key == sp.key
    ]
    rows = shot_takes(store, found, sp.key, lock.get(shot), qc=p.board.qc, measure=True, remote=remote)
    ended = [r for r in Ledger(store.dir).all() if r.shot == shot or r.key == sp.key]
    running = [j for j in Journal(store.dir).entries() if j.shot == shot or j.key == sp.key]
    _echo_takes(shot, sp, rows, ended, running)
    if note:
        say(note)


def _echo_takes(
    shot: str, sp: ShotPlan, rows: list[TakeRow], ended: list[JobRecord], running: list[JournalEntry]
) -> None:
    """The shot's takes, then its jobs that left no take: ended (the ledger), then in flight (the journal)."""
    from shotlist.ledger import in_flight_text
    from shotlist.qc import summary

    if not rows and not ended and not running:
        how = "`shotlist build` makes one" if sp.key else "its upstream shot must be built first"
        typer.echo(f"{shot}: no takes yet, here or in the remote store ({how})")
    else:
        typer.echo(
            f"takes of {shot} (pin one of this recipe with `shotlist pick {shot} TAKE`, by number or id):"
        )
    for r in rows:
        t = r.take
        where = "this recipe" if r.current else f"earlier recipe {r.key[:10]}"
        if r.remote:
            where += ", in the remote store (pick pulls it)"
        elif not r.present:
            where += "  (clip not in the store)"
        where += "  (rejected in review)" if r.rejected else ""
        typer.echo(
            f" {'*' if r.pinned else ' '} take {t.take:<3} {t.id}  {t.model:<14} {money(t.cost):>8}"
            f"{' est.' if t.cost_is_estimate else '     '} {t.facts.duration:6.2f} s  {t.time}  {where}"
        )
        if r.findings:
            typer.echo(f"      qc: {summary(r.findings)}")
    for e in ended:
        where = "this recipe" if e.key == sp.key else f"earlier recipe {e.key[:10]}"
        typer.echo(
            f"   take {e.take:<3} {e.outcome:<12}  {e.model:<14} {money(e.cost):>8}"
            f"{' est.' if e.cost_is_estimate else '     '}           {e.time}  {where}"
        )
        typer.echo(f"            {e.text(sp.again, sp.free)}")
    for j in running:
        typer.echo(f"   take {j.take:<3} {'in flight':<12}  {j.model:<14}                     {j.time}")
        typer.echo(f"            {in_flight_text(j, sp)}")


def pick(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    take: Annotated[
        str,
        typer.Argument(help="A take of the shot's current recipe: its number or its id (`shotlist takes`)."),
    ],
    project: ProjectArg = Path("."),
    model: ModelOpt = None,
) -> None:
    """Pin a take of a shot in shotlist.lock, pulling it from the remote store if need be.

    On a lock that a merge left conflicted, the other conflicted entries are settled too, as
    `shotlist lock resolve` does.
    """
    from shotlist.takes import pick as pick_take

    picked = pick_take(project, shot, take, model=model, on_wait=say)
    if picked.note:
        say(picked.note)
    typer.echo(f"{shot}: pinned take {picked.entry.take} ({picked.entry.clip[:8]}){picked.how}")
    for s in picked.settled:
        typer.echo(s.line())
