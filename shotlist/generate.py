"""Generate: the asyncio scheduler that submits, polls, fetches, verifies and stores the takes a plan asks for.

Shots run concurrently, at most each backend's ``concurrency`` jobs at once; a chained shot waits for
its upstream clip. Every paid submit is journaled before it is made and its job id as soon as it is
known (shotlist.journal), so a build killed at any moment and started again polls the jobs it had
submitted instead of paying for them twice. Every success is stored and pinned as it lands; one
failing shot does not stop the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from shotlist.backends.base import Backend, BackendError, JobState, JobStatus, Recoverable, SubmitUnknown
from shotlist.catalog.registry import ModelInfo, Models
from shotlist.errors import ShotlistError
from shotlist.journal import Journal, JournalEntry, JournalState
from shotlist.load import Project
from shotlist.lock import Lock, LockEntry, write_lock
from shotlist.media import ClipFacts
from shotlist.plan import Action, Plan, ShotPlan
from shotlist.qc import check_stored
from shotlist.request import shot_spec
from shotlist.spec import ShotSpec
from shotlist.store import Store, Take, now


class ShotState(StrEnum):
    """Where one shot's generation stands, for a progress display."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    GENERATING = "generating"
    DOWNLOADING = "downloading"
    DONE = "done"
    CACHED = "cached"
    FAILED = "failed"


@dataclass(frozen=True)
class ShotEvent:
    """A step of one shot's generation, for a progress display."""

    shot: str
    state: ShotState
    fraction: float | None = None
    message: str = ""


Progress = Callable[[ShotEvent], None]


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
        # A chained shot's spec and take numbers are known only once its upstream clip is: kept here,
        # so the reviewed plan is never rewritten.
        self.specs: dict[str, ShotSpec] = {}
        self.numbers: dict[str, list[int]] = {}

    def pin_known(self) -> None:
        """Pin the takes the plan found (pinned or cached), and drop removed shots from the lock."""
        for sp in self.plan.shots:
            if sp.clip and sp.take and sp.action in (Action.PINNED, Action.CACHED):
                self.pin(sp.shot, sp.key, sp.take, write=False)
        self.write_lock()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.pin_known()
        for sp in self.plan.shots:
            future: asyncio.Future[str | None] = loop.create_future()
            self.clips[sp.shot] = future
            if sp.action != Action.GENERATE:
                future.set_result(sp.clip)
        work = self.plan.generating
        for sp in work:
            self.emit(ShotEvent(sp.shot, ShotState.QUEUED, message=sp.summary()))
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
            numbers = self.numbers.get(sp.shot, sp.takes)
            takes = await asyncio.gather(*(self.take(spec, n, info) for n in numbers), return_exceptions=True)
            made = [t for t in takes if isinstance(t, Take)]
            errors = [t for t in takes if isinstance(t, BaseException)]
            if made:
                self.made[sp.shot] = made
                newest = max(made, key=lambda t: t.take)
                self.pin(sp.shot, spec.key, newest)
                self.clips[sp.shot].set_result(newest.sha256)
                self.emit(ShotEvent(sp.shot, ShotState.DONE, 1.0, _take_text(newest)))
            for err in errors:
                if not isinstance(err, (ShotFailed, ShotlistError)):
                    raise err
            if errors:
                raise ShotFailed("; ".join(str(e) for e in errors))
        except (ShotFailed, ShotlistError) as exc:
            self.failures[sp.shot] = str(exc)
            self.emit(ShotEvent(sp.shot, ShotState.FAILED, message=str(exc)))
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
                self.emit(ShotEvent(sp.shot, ShotState.QUEUED, message=f"waits for {up}"))
            clip = await self.clips[up]
            if clip is not None and not self.store.has_object(clip):
                raise ShotFailed(
                    f"upstream shot {up}'s pinned clip is missing from every store; this shot starts "
                    "from its frame (`shotlist build --regenerate-missing` regenerates both)"
                )
            if clip is None:
                why = (
                    "is not built in this run (add it to --only)"
                    if self.plan_of(up).action == Action.SKIP
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
        if sp.spec is None:
            # The upstream's clip may be one this shot already started from.
            existing = self.store.takes(spec.key) if sp.shot not in self.resubmit else []
            if existing:
                self.pin(sp.shot, spec.key, existing[0])
                self.clips[sp.shot].set_result(existing[0].sha256)
                message = f"take {existing[0].take} is in the store: reused, free"
                self.emit(ShotEvent(sp.shot, ShotState.CACHED, 1.0, message))
                return None
            first = self.store.next_take(spec.key)
            self.numbers[sp.shot] = list(range(first, first + len(sp.takes)))
        self.specs[sp.shot] = spec
        return spec

    def plan_of(self, shot: str) -> ShotPlan:
        return next(s for s in self.plan.shots if s.shot == shot)

    async def take(self, spec: ShotSpec, n: int, info: ModelInfo) -> Take:
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
                self.emit(ShotEvent(spec.shot, ShotState.SUBMITTED, message=f"resuming job {job}"))
            try:
                status = await self.poll(spec.shot, backend, job, info)
            except ShotFailed:
                self.journal.close(tk)  # the provider cannot tell us about this job: it is lost, say so once
                raise
        if status.state is not JobState.SUCCEEDED:
            self.journal.close(tk)  # the job is over; a new build may try again, and its plan will say so
            word = "refused by the provider" if status.state is JobState.REFUSED else "failed"
            raise ShotFailed(f"take {n} {word}: {status.message or 'no reason given'} (job {job})")
        self.emit(ShotEvent(spec.shot, ShotState.DOWNLOADING))
        dest = self.store.tmp_path(f"{tk[:16]}.mp4")
        await backend.fetch(job, dest)
        try:
            facts = await asyncio.to_thread(verify_clip, dest, spec)
        except ShotFailed:
            self.journal.close(tk)  # fetching this job again would give the same wrong clip
            raise
        sha = await asyncio.to_thread(self.store.add_file, dest)
        # QC at store time, cached by the clip's hash: takes are listed with their findings (shotlist.qc).
        await asyncio.to_thread(check_stored, self.store.dir, sha, self.store.object_path(sha), spec.backend)
        await asyncio.to_thread(
            self.journal.write,
            JournalEntry(
                tk, spec.shot, spec.key, n, spec.backend, spec.model, JournalState.FETCHED, job, sha
            ),
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
        if isinstance(backend, Recoverable):
            job = await backend.recover(spec)
            if job is not None:
                self.journal.write(replace(entry, state=JournalState.SUBMITTED, job=job))
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
        intent = JournalEntry(
            tk, spec.shot, spec.key, spec.take, spec.backend, spec.model, JournalState.INTENT
        )
        # Durable before the provider hears of it. fsync is slow, so it runs off the event loop: other
        # shots go on submitting and polling meanwhile.
        await asyncio.to_thread(self.journal.write, intent)
        self.committed += estimate or 0.0
        try:
            job = await backend.submit(spec)
        except SubmitUnknown as exc:
            await asyncio.to_thread(
                self.journal.write, replace(intent, state=JournalState.UNKNOWN, message=str(exc))
            )
            raise ShotFailed(
                f"take {spec.take}: the submit's outcome is unknown ({exc}); it may be running and "
                f"billed, so it is not sent again. Check the {spec.backend} dashboard; to submit it "
                f"again run `shotlist build --regenerate {spec.shot}`"
            ) from None
        except BackendError as exc:
            self.journal.close(tk)  # refused before any job existed: nothing was bought
            self.committed -= estimate or 0.0
            raise ShotFailed(f"take {spec.take} was not accepted: {exc}") from None
        await asyncio.to_thread(self.journal.write, replace(intent, state=JournalState.SUBMITTED, job=job))
        self.emit(ShotEvent(spec.shot, ShotState.SUBMITTED, message=f"job {job}"))
        return job

    async def poll(self, shot: str, backend: Backend, job: str, info: ModelInfo) -> JobStatus:
        interval = backend.poll_interval or min(max(info.latency_s / 10, 0.05), 5.0)
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
            self.emit(ShotEvent(shot, ShotState.GENERATING, status.progress, status.message or ""))
            await asyncio.sleep(interval)

    def pin(self, shot: str, key: str | None, take: Take, *, write: bool = True) -> None:
        if key is None:
            return
        new = LockEntry.pinning(shot, key, take)
        if self.lock.get(shot) != new:
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
    """Probe a fetched clip: a video of about the asked duration and shape, or ShotFailed naming the gap."""
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
