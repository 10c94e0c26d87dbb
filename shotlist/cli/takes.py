"""`shotlist takes` lists a shot's takes; `shotlist pick` pins one of them in shotlist.lock."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shotlist.cli.options import ModelOpt, ProjectArg, money


def register(app: typer.Typer) -> None:
    app.command()(takes)
    app.command()(pick)


def takes(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    project: ProjectArg = Path("."),
    model: ModelOpt = None,
) -> None:
    """List a shot's takes (this recipe's first, then earlier recipes'), with cost and QC; * marks the pinned one."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.errors import ShotlistError, did_you_mean
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.plan import make_plan
    from shotlist.qc import summary
    from shotlist.store import Store
    from shotlist.takes import shot_takes, takes_by_shot

    p = load_project(project)
    ids = [s.id for s in p.shots]
    if shot not in ids:
        raise ShotlistError(f"no shot '{shot}'{did_you_mean(shot, ids)}; the shots are: {', '.join(ids)}")
    store = Store(p.root)
    lock = read_lock(p.root, lenient=True)
    sp = next(s for s in make_plan(p, store, lock, CatalogModels(), model=model).shots if s.shot == shot)
    rows = shot_takes(
        store, takes_by_shot(store).get(shot, []), sp.key, lock.get(shot), qc=p.board.qc, measure=True
    )
    if not rows:
        typer.echo(
            f"{shot}: no takes in the store yet ({'`shotlist build` makes one' if sp.key else 'its upstream shot must be built first'})"
        )
        return
    typer.echo(f"takes of {shot} (pick one of this recipe with `shotlist pick {shot} TAKE`):")
    for r in rows:
        t = r.take
        where = "this recipe" if r.current else f"earlier recipe {r.key[:10]}"
        notes = "" if r.present else "  (clip not in the store)"
        notes += "  (rejected in review)" if r.rejected else ""
        typer.echo(
            f" {'*' if r.pinned else ' '} take {t.take:<3} {t.sha256[:12]}  {t.model:<14} {money(t.cost):>8}"
            f"{' est.' if t.cost_is_estimate else '     '} {t.facts.duration:6.2f} s  {t.time}  {where}{notes}"
        )
        if r.findings:
            typer.echo(f"      qc: {summary(r.findings)}")


def pick(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    take: Annotated[
        str,
        typer.Argument(
            help="A take number of the shot's current recipe, or its clip hash (see `shotlist takes`)."
        ),
    ],
    project: ProjectArg = Path("."),
    model: ModelOpt = None,
) -> None:
    """Pin a take of a shot in shotlist.lock (also resolves that shot's merge conflict in the lock)."""
    from shotlist.takes import pick as pick_take

    picked = pick_take(project, shot, take, model=model, on_wait=lambda m: typer.echo(m, err=True))
    typer.echo(f"{shot}: pinned take {picked.entry.take} ({picked.entry.clip[:12]})")
    if picked.dropped:
        typer.echo(
            f"the lock's entries for {', '.join(picked.dropped)} were in conflict or broken and are dropped; "
            "`shotlist plan` shows what a build does for them (their takes stay in the store)",
            err=True,
        )
