"""`shotlist takes` lists a shot's takes, here and in the remote store; `shotlist pick` pins one of them.

A take is named by its number or by its id (the start of its clip's hash): numbers are given per
clone, so a teammate's take 2 and this clone's take 2 can both exist; ids never collide.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shotlist.cli.options import ModelOpt, ProjectArg, money

if TYPE_CHECKING:
    from shotlist.load import Project
    from shotlist.lock import Lock
    from shotlist.plan import ShotPlan
    from shotlist.remote import Remote
    from shotlist.store import Store, Take


def register(app: typer.Typer) -> None:
    app.command()(takes)
    app.command()(pick)


def takes(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    project: ProjectArg = Path("."),
    model: ModelOpt = None,
) -> None:
    """List a shot's takes (this recipe's first, then earlier recipes', then the remote's), with cost; * marks the pinned one."""
    p, store, lock, sp = _shot_plan(project, shot, model)
    pinned = lock.get(shot)
    current = sp.key
    rows: list[tuple[bool, str, Take, str]] = []  # (this recipe?, key, take, where)
    for recipe in store.entries():
        if recipe.shot == shot:
            for t in recipe.takes:
                rows.append((recipe.key == current, recipe.key, t, ""))
    here = {t.sha256 for _, _, t, _ in rows}
    remote, note = _remote_takes(p, current)
    rows += [(True, current or "", t, "remote") for t in remote[1] if t.sha256 not in here]
    if not rows:
        how = "`shotlist build` makes one" if current else "its upstream shot must be built first"
        typer.echo(f"{shot}: no takes yet, here or in the remote store ({how})")
        if note:
            typer.echo(note, err=True)
        return
    rows.sort(key=lambda r: (not r[0], r[3] == "remote", r[2].time))
    typer.echo(f"takes of {shot} (pin one of this recipe with `shotlist pick {shot} TAKE`, by number or id):")
    for is_current, key, t, where in rows:
        mark = "*" if pinned and pinned.clip == t.sha256 and pinned.key == key else " "
        what = "this recipe" if is_current else f"earlier recipe {key[:10]}"
        if where:
            what += ", in the remote store (pick pulls it)"
        elif not store.has_object(t.sha256):
            what += "  (clip not in the store)"
        typer.echo(
            f" {mark} take {t.take:<3} {t.id}  {t.model:<14} {money(t.cost):>8}"
            f"{' est.' if t.cost_is_estimate else '     '} {t.facts.duration:6.2f} s  {t.time}  {what}"
        )
    if note:
        typer.echo(note, err=True)


def _remote_takes(p: Project, key: str | None) -> tuple[tuple[Remote | None, list[Take]], str]:
    """The remote store and its takes of recipe ``key``, and a note when it could not be asked."""
    from shotlist.cli.remote import open_remote
    from shotlist.remote import RemoteError

    remote = open_remote(p, required=False)
    if remote is None or key is None:
        return (remote, []), ""
    try:
        return (remote, remote.takes(key)), ""
    except RemoteError as exc:
        return (remote, []), f"note: the remote store's takes are not listed: {exc}"


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
    from shotlist.catalog.registry import CatalogModels
    from shotlist.cli.remote import say
    from shotlist.conflicts import fetched, resolve_lock
    from shotlist.errors import ShotlistError
    from shotlist.lock import LockEntry, write_lock

    p, store, lock, sp = _shot_plan(project, shot, model)
    if sp.key is None:
        raise ShotlistError(
            f"{shot} starts from a frame of {sp.waits_for}, which has no clip yet; build it first"
        )
    (remote, remote_takes), note = _remote_takes(p, sp.key)
    if note:
        say(note)
    local = store.takes(sp.key)
    ids = {t.sha256 for t in local}
    choices = local + [t for t in remote_takes if t.sha256 not in ids]
    chosen = _choose(shot, take, choices, conflicted=shot in lock.troubled)
    how = fetched(store, remote, sp.key, chosen.sha256)
    if how is None:
        raise ShotlistError(
            f"the clip of take {chosen.take} ({chosen.id}) of {shot} could not be pulled; `shotlist pull` says why"
        )
    with store.locked("pick", timeout=30, on_wait=say):
        lock.entries[shot] = LockEntry.pinning(shot, sp.key, chosen)
        for troubled in (lock.conflicted, lock.dropped, lock.mismatched):
            if shot in troubled:
                troubled.remove(shot)
        settled = resolve_lock(p, store, lock, remote, CatalogModels(), model=model) if lock.troubled else []
        write_lock(p.root, lock, [s.id for s in p.shots])
    typer.echo(f"{shot}: pinned take {chosen.take} ({chosen.id}){how}")
    for s in settled:
        typer.echo(s.line())


def _choose(shot: str, text: str, choices: list[Take], *, conflicted: bool) -> Take:
    """The take named by ``text``: a number (at most 5 digits) or an id (a hex prefix of 4 or more)."""
    from shotlist.errors import ShotlistError

    wanted = text.strip().lower()
    if wanted.isdigit() and len(wanted) <= 5:
        found = [t for t in choices if t.take == int(wanted)]
    elif len(wanted) >= 4 and all(c in "0123456789abcdef" for c in wanted):
        found = [t for t in choices if t.sha256.startswith(wanted)]
    else:
        raise ShotlistError(
            f"'{text}' is neither a take number nor a take id; `shotlist takes {shot}` lists them"
        )
    if len(found) == 1:
        return found[0]
    if found:
        listed = ", ".join(t.id for t in found)
        raise ShotlistError(
            f"{shot} has {len(found)} takes '{text}' of its current recipe (made in different clones: {listed}); "
            f"pick one by its id, e.g. `shotlist pick {shot} {found[0].id}`"
        )
    listed = ", ".join(f"{t.take} ({t.id})" for t in choices)
    fix = (
        f"`shotlist takes {shot}` lists them"
        if choices
        else "`shotlist lock resolve` leaves it to the next build"
        if conflicted
        else "`shotlist build` makes one"
    )
    raise ShotlistError(
        f"{shot} has no take {text} of its current recipe, here or in the remote store "
        f"(takes: {listed or 'none'}); {fix}"
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
    lock = read_lock(p.root, lenient=True, store=store)
    the_plan = make_plan(p, store, lock, CatalogModels(), model=model)
    return p, store, lock, next(s for s in the_plan.shots if s.shot == shot)
