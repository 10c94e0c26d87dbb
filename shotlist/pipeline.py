"""``shotlist build``: the pipeline of stages, one after the other.

``build()`` reads top to bottom as the list of stages: load (and resolve) → recover the journal →
set damaged pinned clips aside → pull the pinned clips → plan → approve the spend → generate → the
pinned clips → render the cut → report. The report's ``spent`` counts every job the build paid for,
the ones that left no take (lost, refused, unanswered: shotlist.ledger) too. It gathers what it needs
first and writes only what each stage settles. Generation is the
only stage that spends money: it runs exactly the reviewed plan, within the budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shotlist import durable
from shotlist.catalog.registry import CatalogModels, Models
from shotlist.clip import Clip, pinned_clips, pull_pinned, set_aside_damaged
from shotlist.cut import kept
from shotlist.errors import BuildError
from shotlist.journal import Journal
from shotlist.ledger import JobRecord
from shotlist.load import Project, load_project
from shotlist.lock import Lock, LockEntry, check_takes, lock_path, read_lock, write_lock
from shotlist.plan import Action, Plan, make_plan, pin_found
from shotlist.store import Store, Take, now

if TYPE_CHECKING:
    from shotlist.cut import CutResult
    from shotlist.generate import Progress
    from shotlist.qc import QcFinding
    from shotlist.remote import Transfer

Confirm = Callable[[Plan], bool]


class BudgetError(BuildError):
    """The plan costs more than the budget allows, or its cost is unknown."""


@dataclass(frozen=True)
class BuildOptions:
    """What a build is asked to do; the defaults build everything that changed and render the cut."""

    only: Iterable[str] = ()  # generate only these shots (the others keep their pins)
    regenerate: Iterable[str] = ()  # make a new take of these shots even though one exists
    takes: int | None = None  # takes per generated shot
    budget: float | None = None  # the most this build may spend (else the storyboard's `budget:`)
    yes: bool = False  # spend without asking
    dry_run: bool = False  # plan, and stop
    model: str | None = None  # make every shot with this model
    preview: bool = False  # render the cut fast (half size)
    render: bool = True  # False: stop after pinning the takes
    regenerate_missing: bool = False  # pay to regenerate pinned clips that are in no store
    models: Models | None = None  # the model registry (tests pass shotlist.backends.fake.FakeModels)
    progress: Progress | None = None  # told each step of each shot's generation
    confirm: Confirm | None = None  # asked before paid generation when neither `yes` nor a budget allows it
    on_wait: Callable[[str], None] | None = None  # told what the build waits for (another process, a pull)
    pick: Literal["newest", "best"] = "newest"  # which new take to pin: the newest, or the fewest QC findings


@dataclass
class BuildResult:
    """What a build did: the plan it ran, the takes it made, what failed, the cut and its report."""

    project: Project
    plan: Plan
    made: dict[str, list[Take]] = field(default_factory=dict)  # shot → the takes generated now
    # shot → the jobs this build paid for (or may have) that left no take: lost, refused, unanswered
    records: dict[str, list[JobRecord]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # shot → why it has no new clip, and what to do
    shared: dict[str, str] = field(
        default_factory=dict
    )  # shot → the shot whose identical request made its clip
    missing: list[str] = field(default_factory=list)  # shots with no clip to cut
    qc: dict[str, dict[int, list[QcFinding]]] = field(default_factory=dict)  # shot → new take → QC findings
    cut: CutResult | None = None
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def spent(self) -> float:
        """Every job this build paid for: its takes, and its jobs that left none (a lost clip is paid too)."""
        return round(sum(c for c, _ in self._costs()), 4)

    @property
    def spent_is_estimate(self) -> bool:
        """Some of ``spent`` is the catalog's estimate, not what the provider reported."""
        return any(estimate for _, estimate in self._costs())

    def _costs(self) -> list[tuple[float, bool]]:
        takes = [(t.cost, t.cost_is_estimate) for ts in self.made.values() for t in ts]
        ended = [(r.cost, r.cost_is_estimate) for rs in self.records.values() for r in rs]
        return [(cost, estimate) for cost, estimate in takes + ended if cost]


def build(path: str | Path = ".", options: BuildOptions | None = None) -> BuildResult:
    """Build a project: generate what the plan says, pin it, render the cut and write the build report.

    A pinned clip that is neither in ``.shotlist/`` nor in the project's remote store is left out
    (the plan says so) unless ``regenerate_missing``. Raises ShotlistError for what the user must fix.
    """
    o = options or BuildOptions()
    project = load_project(path)  # load → resolve: every mistake is a StoryboardError with its line
    models = o.models or CatalogModels()
    store = Store(project.root)
    cut = [project.file(project.board.output.file)] if o.render else []
    durable.check_writable([store.dir, lock_path(project.root), *cut], "build")  # before anything changes
    with store.locked("build", on_wait=o.on_wait):
        journal = Journal(store.dir)
        recover_journal(journal, store)
        lock = read_lock(project.root)
        # A damaged pinned clip is never used: set aside, it is pulled again below or planned as missing.
        for damaged in set_aside_damaged(project, store, lock).values():
            if o.on_wait is not None:
                o.on_wait(damaged)
        pulled = pull_pinned(project, store, lock, o.on_wait)  # a teammate's clips come from the shared store
        check_takes(lock, store)  # after the pull: a teammate's take records are known now
        plan = make_plan(
            project,
            store,
            lock,
            models,
            journal=journal,
            only=o.only,
            regenerate=o.regenerate,
            takes=o.takes,
            model=o.model,
            regenerate_missing=o.regenerate_missing,
        )
        if pulled is not None:
            explain_missing(plan, *pulled)
        result = BuildResult(project=project, plan=plan)
        if o.dry_run:
            return result
        budget = o.budget if o.budget is not None else project.board.budget
        approve(plan, budget, yes=o.yes, confirm=o.confirm)
        if plan.generating:
            generate(result, store, journal, lock, models, budget, o)  # stored and pinned as each lands
        else:  # a build that generates nothing imports no scheduler and no backend
            pin_found(plan, lock)
            write_lock(project.root, lock, [s.id for s in project.shots])  # drops removed shots' entries
        clips, result.missing = pinned_clips(project, store=store, lock=lock)
        if o.render and not result.missing:
            result.cut = kept(store, project, clips, o.preview)  # made from these very inputs: no edit at all
            if result.cut is None:
                from shotlist.edit import render_cut  # the edit (and ffmpeg) only when there is a cut to make

                result.cut = render_cut(project, clips, preview=o.preview)
        result.report = write_report(result, clips, lock)
    return result


def generate(
    result: BuildResult,
    store: Store,
    journal: Journal,
    lock: Lock,
    models: Models,
    budget: float | None,
    o: BuildOptions,
) -> None:
    """Run the plan's generation (the asyncio scheduler) and put what it made, failed and recorded in ``result``."""
    import asyncio

    from shotlist.generate import Generation

    project, plan = result.project, result.plan
    generation = Generation(
        project, plan, store, journal, lock, models, budget, set(o.regenerate), o.progress
    )
    asyncio.run(generation.run())
    result.made, result.failures = generation.made, generation.failures
    result.records, result.shared = generation.records, generation.shared
    result.qc = check_made(project, store, lock, result.made, best=o.pick == "best")


def check_made(
    project: Project, store: Store, lock: Lock, made: dict[str, list[Take]], *, best: bool
) -> dict[str, dict[int, list[QcFinding]]]:
    """The QC findings of the new takes; with ``best``, pin each shot's take with the fewest findings."""
    from shotlist.takes import best_take, made_findings

    keys = {shot: entry.key for shot in made if (entry := lock.get(shot)) is not None}
    if best:
        for shot, key in keys.items():
            chosen = best_take(store, key, project.board.qc)
            if chosen is not None:
                lock.entries[shot] = LockEntry.pinning(shot, key, chosen)
        write_lock(project.root, lock, [s.id for s in project.shots])
    return made_findings(store, keys, made, project.board.qc)


def recover_journal(journal: Journal, store: Store) -> None:
    """Close the journal entries of takes that were stored just before a crash."""
    for entry in journal.entries():
        stored = store.entry(entry.key)
        if stored is not None and stored.take(entry.take) is not None:
            journal.close(entry.take_key)


def explain_missing(plan: Plan, url: str, transfer: Transfer | set[str]) -> None:
    """Say, for each shot whose pinned clip is missing here, what the remote store at ``url`` has of it.

    ``transfer``: what a pull found (its missing and corrupt clips), or the set of objects the remote
    holds (a listing).
    """
    for sp in plan.missing:
        clip = sp.take.sha256 if sp.take else ""
        if isinstance(transfer, set) and clip in transfer:
            sp.reasons[1:] = [
                f"it is in the remote store {url}: a build pulls it, free (`shotlist pull` now)"
            ]
        elif not isinstance(transfer, set) and clip in transfer.corrupt:
            sp.reasons.insert(
                1,
                "the remote store's copy is corrupt; whoever has the clip can repair it with `shotlist push`",
            )
        else:
            sp.reasons.insert(1, f"nor in the remote store {url}")


def approve(plan: Plan, budget: float | None, *, yes: bool, confirm: Confirm | None) -> None:
    """Refuse a plan that goes over the budget; ask before paid generation unless told (``yes``, a budget)."""
    shots = plan.generating
    if not shots:
        return
    cost = plan.cost
    what = f"{len(shots)} shot{'s' if len(shots) > 1 else ''}"
    if budget is not None:
        if cost is None:
            unknown = ", ".join(s.shot for s in shots if s.cost is None)
            raise BudgetError(
                f"the cost of generating {unknown} is unknown, so the build cannot promise to stay "
                f"within the budget of ${budget:.2f}; nothing was generated"
            )
        if cost > budget + 1e-9:
            raise BudgetError(
                f"this build would cost about ${cost:.2f} ({what}) but the budget is ${budget:.2f}; "
                "nothing was generated. Raise it (--budget or budget: in the storyboard), or build "
                "fewer shots (--only ID…, --model animatic to preview)"
            )
    if cost == 0 or yes or budget is not None:
        return
    if confirm is not None:
        if confirm(plan):
            return
        raise BuildError("nothing generated (not confirmed)")
    money = "an unknown amount" if cost is None else f"about ${cost:.2f}"
    raise BuildError(
        f"this build would spend {money} on {what}; on a terminal it asks first — here pass --yes, "
        "or set a budget (--budget MONEY or budget: in the storyboard)"
    )


def write_report(result: BuildResult, clips: dict[str, Clip], lock: Lock) -> Path:
    """The build report as JSON: next to the cut when there is one, else in .shotlist/."""
    project = result.project
    shots = []
    for sp in result.plan.shots:
        entry = lock.get(sp.shot)
        clip = clips.get(sp.shot)
        made = result.made.get(sp.shot, [])
        ended = result.records.get(sp.shot, [])
        shots.append(
            {
                "shot": sp.shot,
                "action": sp.action,
                "reasons": sp.reasons,
                "model": sp.model,
                "take": entry.take if entry else None,
                "clip": entry.clip if entry else None,
                "job": entry.job if entry else None,
                "cost": entry.cost if entry else None,
                "cost_is_estimate": entry.cost_is_estimate if entry else None,
                "estimated_cost": sp.cost if sp.action == Action.GENERATE else 0.0,
                "generated_takes": [t.take for t in made],
                "ended_without_take": [r.to_json() for r in ended],
                "shares_clip_of": result.shared.get(sp.shot),
                "spent": round(sum(t.cost or 0.0 for t in made) + sum(r.cost or 0.0 for r in ended), 4),
                "duration": round(clip.facts.duration, 3) if clip else None,
                "failure": result.failures.get(sp.shot),
                "qc": {
                    str(n): [f.to_json() for f in found] for n, found in result.qc.get(sp.shot, {}).items()
                },
            }
        )
    report: dict[str, Any] = {
        "project": project.board.title,
        "storyboard": project.path.name,
        "time": now(),
        "estimated_cost": result.plan.cost,
        "spent": result.spent,
        "spent_is_estimate": result.spent_is_estimate,
        "shots": shots,
        "failures": result.failures,
        "missing": result.missing,
        "output": None,
    }
    cut = result.cut
    if cut is not None:
        report["output"] = {
            "file": _rel(project, cut.path),
            "duration": cut.duration,
            "width": cut.width,
            "height": cut.height,
            "fps": cut.fps,
            "sidecars": [_rel(project, p) for p in cut.sidecars],
        }
        path = cut.path.with_name(cut.path.stem + ".build.json")
    else:
        path = Store(project.root).dir / "last-build.json"
    durable.write_text(path, json.dumps(report, indent=2, default=str) + "\n", sync=False)
    return path


def _rel(project: Project, path: Path) -> str:
    try:
        return path.resolve().relative_to(project.root.resolve()).as_posix()
    except ValueError:
        return str(path)
