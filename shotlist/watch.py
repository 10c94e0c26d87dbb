"""``shotlist watch``: keep the preview cut in step with the storyboard as it is saved.

On every save of the storyboard, a template or an asset: validate, lint, plan, make the changed
shots, render the preview (``<name>.preview.mp4``). An open review page sees the new preview and
reloads. A shot whose model is paid is made by the animatic instead — a stand-in that the preview
shows and the lock never pins — unless the watch was started with ``--model`` and ``--yes``. A
mistake is printed with its line and the watch goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shotlist.catalog.registry import CatalogModels, Models
from shotlist.errors import ShotlistError
from shotlist.generate import Generation
from shotlist.load import Project, load_project
from shotlist.lock import Lock, read_lock, write_lock
from shotlist.plan import Action, make_plan
from shotlist.request import LOCAL_MODEL
from shotlist.store import Store

Say = Callable[[str], None]


@dataclass
class Round:
    """What one save led to."""

    ok: bool
    seconds: float
    preview: Path | None = None
    stand_ins: list[str] = field(default_factory=list)  # paid shots shown by the animatic
    made: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds: check (load, lint, plan), shots, cut


class _Preview(Generation):
    """A generation whose stand-ins are pinned in memory only: the lock on disk keeps the real takes."""

    real: Lock
    stand_ins: set[str]

    def write_lock(self) -> None:
        entries = {s: e for s, e in self.lock.entries.items() if s not in self.stand_ins}
        entries |= {s: e for s, e in self.real.entries.items() if s in self.stand_ins}
        write_lock(self.project.root, Lock(entries=entries), [s.id for s in self.project.shots])


def refresh(
    path: Path, *, say: Say, model: str | None = None, paid: bool = False, models: Models | None = None
) -> Round:
    """One round: validate, lint, plan, make what changed, render the preview. Never raises a user's mistake."""
    began = time.perf_counter()
    try:
        return _refresh(path, say, model, paid, models or CatalogModels(), began)
    except ShotlistError as exc:
        say(str(exc))
        say("(watching; fix it and save)")
        return Round(ok=False, seconds=time.perf_counter() - began)


def _refresh(path: Path, say: Say, model: str | None, paid: bool, models: Models, began: float) -> Round:
    from shotlist.clip import pinned_clips
    from shotlist.edit import render_cut
    from shotlist.journal import Journal
    from shotlist.lint import lint_project

    project = load_project(path)
    report = lint_project(project)
    if report.findings:
        say(report.format())
    store = Store(project.root)
    with store.locked("watch", timeout=30, on_wait=say):
        real = read_lock(project.root)
        the_plan = make_plan(project, store, real, models, model=model)
        stand_ins = (
            set()
            if paid
            else {
                s.shot
                for s in the_plan.shots
                if s.action in (Action.GENERATE, Action.MISSING) and not models.info(s.model).free
            }
        )
        preview = _standing_in(project, stand_ins)
        lock = Lock(entries=dict(real.entries))
        plan = make_plan(preview, store, lock, models, model=model)
        checked = time.perf_counter()
        for sp in plan.shots:
            if sp.action == Action.GENERATE:
                say(f"{sp.shot}: {sp.summary()}{' (animatic stand-in)' if sp.shot in stand_ins else ''}")
        generation = _Preview(
            preview, plan, store, Journal(store.dir), lock, models, None if paid else 0.0, set(), None
        )
        generation.real, generation.stand_ins = real, stand_ins
        if plan.generating:
            asyncio.run(generation.run())
        else:
            generation.pin_known()
        for shot, why in generation.failures.items():
            say(f"failed  {shot}: {why}")
        clips, missing = pinned_clips(project, store=store, lock=lock)
    made = time.perf_counter()
    if missing:
        say(f"no preview: no clip for {', '.join(missing)}")
        return Round(ok=False, seconds=time.perf_counter() - began, stand_ins=sorted(stand_ins))
    cut = render_cut(project, clips, preview=True)
    end = time.perf_counter()
    phases = {"check": checked - began, "shots": made - checked, "cut": end - made}
    say(
        f"preview: {cut.path} ({len(cut.rendered)} pieces encoded) in {end - began:.2f} s "
        f"(check {phases['check']:.2f} s, shots {phases['shots']:.2f} s, cut {phases['cut']:.2f} s)"
    )
    return Round(True, end - began, cut.path, sorted(stand_ins), sorted(generation.made), phases)


def _standing_in(project: Project, shots: set[str]) -> Project:
    """The project with the animatic making these shots."""
    if not shots:
        return project
    return dataclasses.replace(
        project,
        shots=[dataclasses.replace(s, model=LOCAL_MODEL) if s.id in shots else s for s in project.shots],
    )


def watched(root: Path, out_dir: Path) -> Callable[[Any, str], bool]:
    """What a save means: the storyboard, templates and assets — not the store, the cuts or the lock we write."""

    def relevant(change: Any, path: str) -> bool:
        p = Path(path)
        try:
            rel = p.relative_to(root)
        except ValueError:
            return False
        if any(part.startswith(".") for part in rel.parts) or p.name == "shotlist.lock":
            return False
        return not p.is_relative_to(out_dir)

    return relevant


def watch(
    path: Path,
    *,
    say: Say = print,
    model: str | None = None,
    paid: bool = False,
    models: Models | None = None,
    stop: Any = None,
    on_round: Callable[[Round], None] | None = None,
) -> None:
    """Refresh now, then after every save until ``stop`` (a threading.Event) is set or Ctrl-C."""
    from watchfiles import watch as changes

    from shotlist.cut import output_path
    from shotlist.resolve import project_root

    root = project_root(Path(path))[0].absolute()
    try:
        out_dir = output_path(load_project(path)).parent
    except ShotlistError:
        out_dir = root / "out"
    first = refresh(path, say=say, model=model, paid=paid, models=models)
    if on_round is not None:
        on_round(first)
    for _ in changes(
        root,
        watch_filter=watched(root, out_dir),
        stop_event=stop,
        step=30,
        debounce=400,
        yield_on_timeout=False,
    ):
        result = refresh(path, say=say, model=model, paid=paid, models=models)
        if on_round is not None:
            on_round(result)
