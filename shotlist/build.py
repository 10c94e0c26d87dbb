"""``shotlist build``: load → resolve → specs → plan → generate → assemble → render the cut → report.

``build()`` reads top to bottom as the pipeline of DESIGN.md. Generation is the only stage that
spends money, so it runs exactly the reviewed plan, within the budget, and journals every paid
submit before making it (shotlist.journal): a build killed at any moment and started again polls
the jobs it had submitted instead of paying for them twice.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotlist import durable
from shotlist.backends.base import Backend, BackendError, JobState, JobStatus, SubmitUnknown
from shotlist.clip import Clip
from shotlist.errors import BuildError, ShotlistError
from shotlist.journal import Journal, JournalEntry
from shotlist.lock import Lock, LockEntry, read_lock, write_lock
from shotlist.plan import (
    CACHED,
    GENERATE,
    PINNED,
    SKIP,
    CatalogModels,
    ModelInfo,
    Models,
    Plan,
    ShotPlan,
    make_plan,
    shot_spec,
)
from shotlist.resolve import Project
from shotlist.spec import ShotSpec
from shotlist.store import Store, Take, now

if TYPE_CHECKING:
    from shotlist.media import ClipFacts


class BudgetError(BuildError):
    """The plan costs more than the budget allows, or its cost is unknown."""


@dataclass(frozen=True)
class ShotEvent:
    """A step of one shot's generation, for a progress display."""

    shot: str
    state: str  # queued | submitted | generating | downloading | done | cached | failed
    fraction: float | None = None
    message: str = ""


Progress = Callable[[ShotEvent], None]
Confirm = Callable[[Plan], bool]


@dataclass
class BuildResult:
    """What a build did: the plan it ran, the takes it made, what failed, the cut and its report."""

    project: Project
    plan: Plan
    made: dict[str, list[Take]] = field(default_factory=dict)  # shot → the takes generated now
    failures: dict[str, str] = field(default_factory=dict)  # shot → why it has no new clip
    missing: list[str] = field(default_factory=list)  # shots with no clip to cut
    cut: Any = None  # shotlist.edit.CutResult when the cut was rendered
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def spent(self) -> float:
        return round(sum(t.cost or 0.0 for takes in self.made.values() for t in takes), 4)


def build(
    path: str | Path = ".",
    *,
    only: Iterable[str] | None = None,
    regenerate: Iterable[str] | None = None,
    takes: int | None = None,
    budget: float | None = None,
    yes: bool = False,
    dry_run: bool = False,
    model: str | None = None,
    preview: bool = False,
    progress: Progress | None = None,
    confirm: Confirm | None = None,
    models: Models | None = None,
    render: bool = True,
    on_wait: Callable[[str], None] | None = None,
    regenerate_missing: bool = False,
) -> BuildResult:
    """Build a project: generate what the plan says, pin it, render the cut and write the build report.

    ``models`` replaces the catalog (tests pass ``shotlist.backends.fake.FakeModels``); ``confirm`` is
    asked before paid generation when neither ``yes`` nor a budget allows it; ``render=False`` stops
    after pinning (the cut is the edit's business). A pinned clip that is neither in ``.shotlist/`` nor in
    the project's remote store is left out (the plan says so) unless ``regenerate_missing``.
    Raises ShotlistError for what the user must fix.
    """
    from shotlist.project import load_project

    project = load_project(path)  # load → resolve (every mistake is a StoryboardError with its line)
    # Files are found from the root; absolute, so no stage depends on the working folder (messages keep
    # the storyboard path as the user typed it).
    project.root = project.root.absolute()
    models = models or CatalogModels()
    store = Store(project.root)
    with store.locked("build", on_wait=on_wait):
        journal = Journal(store.dir)
        for entry in journal.entries():  # a take stored just before a crash may have left its entry behind
            stored = store.entry(entry.key)
            if stored is not None and stored.take(entry.take) is not None:
                journal.close(entry.take_key)
        lock = read_lock(project.root)
        pull_pinned(
            project, store, lock, on_wait
        )  # a teammate's clips come from the shared store, not the provider
        regenerate = set(regenerate or ())
        plan = make_plan(
            project,
            store,
            lock,
            models,
            journal=journal,
            only=only,
            regenerate=regenerate,
            takes=takes,
            model=model,
            regenerate_missing=regenerate_missing,
        )  # specs → keys → plan
        result = BuildResult(project=project, plan=plan)
        if dry_run:
            return result
        limit = budget if budget is not None else project.board.budget
        approve(plan, limit, yes=yes, confirm=confirm)
        generation = Generation(project, plan, store, journal, lock, models, limit, regenerate, progress)
        if plan.generating:
            asyncio.run(generation.run())  # generate: every success is stored and pinned as it lands
        else:
            generation.pin_known()
        result.made, result.failures = generation.made, generation.failures
        clips, result.missing = pinned_clips(project, store=store, lock=lock)
        if render and not result.missing:
            result.cut = render_the_cut(project, clips, preview)  # assemble → render
        result.report = write_report(result, clips, lock)
    return result


def pull_pinned(project: Project, store: Store, lock: Lock, say: Callable[[str], None] | None) -> None:
    """Download the pinned clips this store lacks from the project's remote store, when it names one."""
    wanted = {e.key: e.clip for e in lock.entries.values() if not store.has_object(e.clip)}
    if not wanted:
        return
    from shotlist.remote import Remote, pull, remote_url

    url = remote_url(project.board.remote, project.root)
    if url is None:
        return
    if say is not None:
        say(f"pulling {len(wanted)} pinned clip{'s' if len(wanted) > 1 else ''} from {url}…")
    pull(store, Remote(url), wanted)


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


class ShotFailed(Exception):
    """One shot could not be made; the message says why and what to do."""


class Generation:
    """The asyncio scheduler: shots run concurrently within each backend's limit; chains wait for upstream clips."""

    def __init__(
        self,
        project: Project,
        plan: Plan,
        store: Store,
        journal: Journal,
        lock: Lock,
        models: Models,
        budget: float | None,
        resubmit: set[str],
        progress: Progress | None,
    ) -> None:
        self.project, self.plan, self.store, self.journal, self.lock = project, plan, store, journal, lock
        self.models, self.budget, self.resubmit = models, budget, resubmit
        self.emit: Progress = progress or (lambda event: None)
        self.made: dict[str, list[Take]] = {}
        self.failures: dict[str, str] = {}
        self.clips: dict[str, asyncio.Future[str | None]] = {}
        self.backends: dict[str, Backend] = {}
        self.limits: dict[str, asyncio.Semaphore] = {}
        self.committed = 0.0  # dollars spent or in flight in this build

    def pin_known(self) -> None:
        """Pin the takes the plan found (pinned or cached), and drop removed shots from the lock."""
        for sp in self.plan.shots:
            if sp.clip and sp.take and sp.action in (PINNED, CACHED):
                self.pin(sp.shot, sp.key, sp.take, write=False)
        self.write_lock()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.pin_known()
        for sp in self.plan.shots:
            future: asyncio.Future[str | None] = loop.create_future()
            self.clips[sp.shot] = future
            if sp.action != GENERATE:
                future.set_result(sp.clip)
        work = [sp for sp in self.plan.shots if sp.action == GENERATE]
        for sp in work:
            self.emit(ShotEvent(sp.shot, "queued", message=sp.summary()))
        try:
            await asyncio.gather(*(self.shot(sp) for sp in work))
        finally:
            for backend in self.backends.values():
                await backend.aclose()
            self.write_lock()

    def info(self, sp: ShotPlan) -> ModelInfo:
        return self.models.info(sp.model)

    def backend(self, info: ModelInfo) -> Backend:
        if info.id not in self.backends:
            workdir = (
                self.store.dir / "work" / info.backend
            )  # the backend's own scratch, apart from the store
            workdir.mkdir(parents=True, exist_ok=True)
            self.backends[info.id] = self.models.backend(info.id, workdir)
        if info.backend not in self.limits:
            self.limits[info.backend] = asyncio.Semaphore(info.concurrency)
        return self.backends[info.id]

    async def shot(self, sp: ShotPlan) -> None:
        """Make one shot's takes; record a failure instead of raising, so the other shots go on."""
        try:
            spec = await self.spec(sp)
            if spec is None:
                return  # resolved from the store once its upstream clip was known
            info = self.info(sp)
            takes = await asyncio.gather(
                *(self.take(spec, n, info, sp) for n in sp.takes), return_exceptions=True
            )
            made = [t for t in takes if isinstance(t, Take)]
            errors = [t for t in takes if isinstance(t, BaseException)]
            if made:
                self.made[sp.shot] = made
                newest = max(made, key=lambda t: t.take)
                self.pin(sp.shot, spec.key, newest)
                self.clips[sp.shot].set_result(newest.sha256)
                self.emit(ShotEvent(sp.shot, "done", 1.0, _take_text(newest)))
            for err in errors:
                if not isinstance(err, (ShotFailed, ShotlistError)):
                    raise err
            if errors:
                raise ShotFailed("; ".join(str(e) for e in errors))
        except (ShotFailed, ShotlistError) as exc:
            self.failures[sp.shot] = str(exc)
            self.emit(ShotEvent(sp.shot, "failed", message=str(exc)))
        finally:
            if not self.clips[sp.shot].done():
                self.clips[sp.shot].set_result(None)

    async def spec(self, sp: ShotPlan) -> ShotSpec | None:
        """The shot's spec with its input frames extracted; for a chained shot, once its upstream clip exists."""
        shot = self.project.shot(sp.shot)
        if not shot.upstream:
            return sp.spec
        known: dict[str, str] = {}
        for up in shot.upstream:
            if not self.clips[up].done():
                self.emit(ShotEvent(sp.shot, "queued", message=f"waits for {up}"))
            clip = await self.clips[up]
            if clip is not None and not self.store.has_object(clip):
                raise ShotFailed(
                    f"upstream shot {up}'s pinned clip is missing from every store; this shot starts "
                    "from its frame (`shotlist build --regenerate-missing` regenerates both)"
                )
            if clip is None:
                why = (
                    "is not built in this run (add it to --only)"
                    if self.plan_of(up).action == SKIP
                    else "has no clip"
                )
                raise ShotFailed(f"upstream shot {up} {why}; this shot starts from its frame")
            known[up] = clip
        spec = await asyncio.to_thread(
            shot_spec,
            self.project,
            shot,
            self.info(sp),
            self.store,
            known.get,
            lambda clip, selector: self.store.frame(clip, selector)[1],
        )
        if sp.spec is None and sp.shot not in self.resubmit:
            existing = self.store.takes(
                spec.key
            )  # the upstream's clip may be one this shot already started from
            if existing:
                self.pin(sp.shot, spec.key, existing[0])
                self.clips[sp.shot].set_result(existing[0].sha256)
                self.emit(
                    ShotEvent(
                        sp.shot, "cached", 1.0, f"take {existing[0].take} is in the store: reused, free"
                    )
                )
                return None
        if sp.spec is None:
            first = self.store.next_take(spec.key)
            sp.takes = list(range(first, first + len(sp.takes)))
        sp.spec = spec
        return spec

    def plan_of(self, shot: str) -> ShotPlan:
        return next(s for s in self.plan.shots if s.shot == shot)

    async def take(self, spec: ShotSpec, n: int, info: ModelInfo, sp: ShotPlan) -> Take:
        """Submit (or resume), poll, fetch, verify and store one take."""
        spec = replace(spec, take=n)
        tk = spec.take_key()
        backend = self.backend(info)
        entry = self.journal.get(tk)
        job = entry.job if entry else None
        if entry is not None and job is None:
            job = await self.unknown_submit(entry, spec, backend, info)
        estimate = info.estimate(spec.duration, self.project.board.output.resolution, spec.audio)
        async with self.limits[info.backend]:
            if job is None:
                job = await self.submit(spec, backend, info, estimate)
            else:
                self.emit(ShotEvent(spec.shot, "submitted", message=f"resuming job {job}"))
            try:
                status = await self.poll(spec.shot, backend, job, info)
            except ShotFailed:
                self.journal.close(tk)  # the provider cannot tell us about this job: it is lost, say so once
                raise
        if status.state is not JobState.SUCCEEDED:
            self.journal.close(tk)  # the job is over; a new build may try again, and its plan will say so
            word = "refused by the provider" if status.state is JobState.REFUSED else "failed"
            raise ShotFailed(f"take {n} {word}: {status.message or 'no reason given'} (job {job})")
        self.emit(ShotEvent(spec.shot, "downloading"))
        dest = self.store.tmp_path(f"{tk[:16]}.mp4")
        await backend.fetch(job, dest)
        try:
            facts = await asyncio.to_thread(verify_clip, dest, spec)
        except ShotFailed:
            self.journal.close(tk)  # fetching this job again would give the same wrong clip
            raise
        sha = await asyncio.to_thread(self.store.add_file, dest)
        await asyncio.to_thread(
            self.journal.write,
            JournalEntry(tk, spec.shot, spec.key, n, spec.backend, spec.model, "fetched", job, sha),
        )
        cost = status.cost if status.cost is not None else estimate
        take = Take(
            take=n,
            sha256=sha,
            shot=spec.shot,
            backend=spec.backend,
            model=spec.model,
            job=job,
            cost=cost,
            cost_is_estimate=status.cost is None,
            time=now(),
            facts=facts,
        )
        self.store.add_take(spec.key, spec.recipe(), take)
        self.journal.close(tk)
        if status.cost is not None and estimate is not None:
            self.committed += status.cost - estimate
        return take

    async def unknown_submit(
        self, entry: JournalEntry, spec: ShotSpec, backend: Backend, info: ModelInfo
    ) -> str | None:
        """An earlier submit of this take left no job id: find its job, or refuse to pay blindly again."""
        recover = getattr(backend, "recover", None)
        if recover is not None:
            job: str | None = await recover(spec)
            if job is not None:
                self.journal.write(replace(entry, state="submitted", job=job))
            return job  # None: the provider never saw it, so submitting is not paying twice
        if info.free or spec.shot in self.resubmit:
            return None
        raise ShotFailed(
            f"take {spec.take}: an interrupted build sent it at {entry.time} and never heard back "
            f"({entry.message or 'killed while submitting'}); it may be running and billed. Check "
            f"the {spec.backend} dashboard; to submit it again run "
            f"`shotlist build --regenerate {spec.shot}`"
        )

    async def submit(self, spec: ShotSpec, backend: Backend, info: ModelInfo, estimate: float | None) -> str:
        tk = spec.take_key()
        if self.budget is not None:
            if estimate is None or self.committed + estimate > self.budget + 1e-9:
                raise ShotFailed(
                    f"take {spec.take} not submitted: it would take the build over its budget of "
                    f"${self.budget:.2f} (${self.committed:.2f} committed)"
                )
        intent = JournalEntry(tk, spec.shot, spec.key, spec.take, spec.backend, spec.model, "intent")
        # Durable before the provider hears of it. fsync is slow, so it runs off the event loop: other
        # shots go on submitting and polling meanwhile.
        await asyncio.to_thread(self.journal.write, intent)
        self.committed += estimate or 0.0
        try:
            job = await backend.submit(spec)
        except SubmitUnknown as exc:
            await asyncio.to_thread(self.journal.write, replace(intent, state="unknown", message=str(exc)))
            raise ShotFailed(
                f"take {spec.take}: the submit's outcome is unknown ({exc}); it may be running and "
                f"billed, so it is not sent again. Check the {spec.backend} dashboard; to submit it "
                f"again run `shotlist build --regenerate {spec.shot}`"
            ) from None
        except BackendError as exc:
            self.journal.close(tk)  # refused before any job existed: nothing was bought
            self.committed -= estimate or 0.0
            raise ShotFailed(f"take {spec.take} was not accepted: {exc}") from None
        await asyncio.to_thread(self.journal.write, replace(intent, state="submitted", job=job))
        self.emit(ShotEvent(spec.shot, "submitted", message=f"job {job}"))
        return job

    async def poll(self, shot: str, backend: Backend, job: str, info: ModelInfo) -> JobStatus:
        interval = float(getattr(backend, "poll_interval", 0) or min(max(info.latency_s / 10, 0.05), 5.0))
        errors = 0
        while True:
            try:
                status = await backend.poll(job)
            except BackendError as exc:
                errors += 1
                if not exc.retryable or errors > 5:
                    raise ShotFailed(f"job {job}: {exc}") from None
                await asyncio.sleep(min(interval * 2**errors, 30.0))
                continue
            errors = 0
            if status.done:
                return status
            self.emit(ShotEvent(shot, "generating", status.progress, status.message or ""))
            await asyncio.sleep(interval)

    def pin(self, shot: str, key: str | None, take: Take, *, write: bool = True) -> None:
        if key is None:
            return
        old = self.lock.get(shot)
        new = LockEntry(
            shot=shot,
            key=key,
            take=take.take,
            clip=take.sha256,
            backend=take.backend,
            model=take.model,
            job=take.job,
            cost=take.cost,
            cost_is_estimate=take.cost_is_estimate,
        )
        if old != new:
            self.lock.entries[shot] = new
            if write:
                self.write_lock()

    def write_lock(self) -> None:
        write_lock(self.project.root, self.lock, [s.id for s in self.project.shots])


def _take_text(take: Take) -> str:
    cost = (
        "cost unknown"
        if take.cost is None
        else "free"
        if take.cost == 0
        else f"${take.cost:.2f}{' (estimate)' if take.cost_is_estimate else ''}"
    )
    return f"take {take.take}, {take.facts.duration:.2f} s, {cost}"


def verify_clip(path: Path, spec: ShotSpec) -> ClipFacts:
    """Probe a fetched clip: a video of about the asked duration and shape, or BackendError naming the gap."""
    from shotlist.media import MediaError, probe

    try:
        facts = probe(path)
    except MediaError as exc:
        raise ShotFailed(f"the {spec.backend} clip is not a video: {exc}") from None
    problems = []
    if not facts.has_video:
        problems.append("it has no video stream")
    tolerance = max(spec.duration * 0.1, 2 / spec.fps)  # providers round to their own frame grid
    if abs(facts.duration - spec.duration) > tolerance:
        problems.append(f"it lasts {facts.duration:.2f} s, not {spec.duration:g} s")
    if (
        facts.width
        and facts.height
        and abs(facts.width / facts.height - spec.width / spec.height) > 0.03 * spec.width / spec.height
    ):
        problems.append(f"it is {facts.width}x{facts.height}, not the shape of {spec.width}x{spec.height}")
    if problems:
        path.unlink(missing_ok=True)
        raise ShotFailed(
            f"take {spec.take}: the clip from {spec.backend} is not what was asked: {'; '.join(problems)}"
        )
    return facts


def pinned_clips(
    project: Project, *, store: Store | None = None, lock: Lock | None = None
) -> tuple[dict[str, Clip], list[str]]:
    """The clip the lock pins for each shot, and the ids of shots with none in the local store (storyboard order).

    A pin may be stale (the storyboard changed since): ``shotlist plan`` says which shots would change.
    """
    store = store or Store(project.root)
    lock = lock if lock is not None else read_lock(project.root)
    clips: dict[str, Clip] = {}
    missing: list[str] = []
    for shot in project.shots:
        entry = lock.get(shot.id)
        if entry is None or not store.has_object(entry.clip):
            missing.append(shot.id)
            continue
        recipe = store.entry(entry.key)
        take = recipe.take(entry.take) if recipe else None
        if take is not None and take.sha256 == entry.clip:
            facts = take.facts
        else:
            from shotlist.media import probe

            facts = probe(store.object_path(entry.clip))
        clips[shot.id] = Clip(
            shot=shot.id, path=store.object_path(entry.clip), sha256=entry.clip, facts=facts
        )
    return clips, missing


def render_the_cut(project: Project, clips: dict[str, Clip], preview: bool) -> Any:
    """The edit's final cut, when the edit is installed (shotlist.edit); None otherwise."""
    try:
        from shotlist.edit import render_cut
    except ModuleNotFoundError as exc:
        if exc.name != "shotlist.edit":
            raise
        return None
    return render_cut(project, clips, preview=preview)


def write_report(result: BuildResult, clips: dict[str, Clip], lock: Lock) -> Path:
    """The build report as JSON: next to the cut when there is one, else in .shotlist/."""
    project = result.project
    cut = result.cut
    shots = []
    for sp in result.plan.shots:
        entry = lock.get(sp.shot)
        clip = clips.get(sp.shot)
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
                "estimated_cost": sp.cost if sp.action == GENERATE else 0.0,
                "generated_takes": [t.take for t in result.made.get(sp.shot, [])],
                "spent": round(sum(t.cost or 0.0 for t in result.made.get(sp.shot, [])), 4),
                "duration": round(clip.facts.duration, 3) if clip else None,
                "failure": result.failures.get(sp.shot),
            }
        )
    report: dict[str, Any] = {
        "project": project.board.title,
        "storyboard": project.path.name,
        "time": now(),
        "estimated_cost": result.plan.cost,
        "spent": result.spent,
        "spent_is_estimate": any(t.cost_is_estimate for ts in result.made.values() for t in ts),
        "shots": shots,
        "failures": result.failures,
        "missing": result.missing,
        "output": None,
    }
    if cut is not None:
        out = Path(cut.path)
        report["output"] = {
            "file": _rel(project, out),
            "duration": cut.duration,
            "width": cut.width,
            "height": cut.height,
            "fps": cut.fps,
            "sidecars": [_rel(project, Path(p)) for p in getattr(cut, "sidecars", []) or []],
        }
        path = out.with_name(out.stem + ".build.json")
    else:
        path = Store(project.root).dir / "last-build.json"
    durable.write_text(path, json.dumps(report, indent=2, default=str) + "\n", sync=False)
    return path


def _rel(project: Project, path: Path) -> str:
    try:
        return path.resolve().relative_to(project.root.resolve()).as_posix()
    except ValueError:
        return str(path)


class _CallableModule(types.ModuleType):
    """Importing ``shotlist.build`` (this module) replaces the package's ``shotlist.build`` function with the
    module; making the module callable keeps ``shotlist.build(path)`` working either way."""

    def __call__(self, path: str | Path = ".", **options: Any) -> BuildResult:
        return build(path, **options)


sys.modules[__name__].__class__ = _CallableModule
