"""Generate: the asyncio scheduler that submits, polls, fetches, verifies and stores the takes a plan asks for.

Shots run concurrently, at most each backend's ``concurrency`` jobs at once; a chained shot waits for
its upstream clip; two shots that send the same request share one generation. Every paid submit is
journaled before it is made and its job id as soon as it is known (shotlist.journal), so a build
killed at any moment and started again polls the jobs it had submitted instead of paying for them
twice. Every success is stored and pinned as it lands; one failing shot does not stop the others.

A job is forgotten only when the provider says it ended: its clip is stored, it reports a failure or
a refusal, or it says it does not know the job (recorded as lost, with what it cost). A timeout, a
5xx or a dropped connection while polling or fetching is trouble, never an ending: the shot fails
for this build, the journal keeps the job, and the next build resumes it. Every ending without a
take goes to the ledger (shotlist.ledger) with the one next step that works.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from shotlist.backends.base import (
    Backend,
    BackendError,
    JobGone,
    JobState,
    JobStatus,
    Recoverable,
    SubmitUnknown,
)
from shotlist.catalog.registry import ModelInfo, Models
from shotlist.errors import ShotlistError
from shotlist.journal import Journal, JournalEntry, JournalState
from shotlist.ledger import JobRecord, Ledger, Outcome, money, unknown_text
from shotlist.load import Project
from shotlist.lock import Lock, LockEntry, write_lock
from shotlist.media import ClipFacts
from shotlist.plan import HELD, Action, History, Plan, ShotPlan, decide, pin_found
from shotlist.qc import check_stored
from shotlist.request import shot_spec
from shotlist.spec import ShotSpec
from shotlist.store import Store, Take, now

log = logging.getLogger("shotlist.generate")
T = TypeVar("T")

#: How long polls of one job may fail (the provider unreachable, 5xx) before its shot fails for this
#: build. The job is kept either way: the next build asks about it again.
POLL_PATIENCE_S = 180.0

#: What an adapter raises reading an answer of a shape its provider never documented (a list where an
#: object was, a field missing): trouble with that answer, never a reason to crash or forget a paid job.
UNEXPECTED = (KeyError, IndexError, TypeError, AttributeError, ValueError)


class ShotState(StrEnum):
    """Where one shot's generation stands, for a progress display."""

    WAITING = "waiting"  # not sent yet: waits for a slot, an upstream clip or a shot with the same request
    SUBMITTED = "submitted"
    QUEUED = "queued"  # in the provider's queue (``position`` in the message when it says)
    THROTTLED = "throttled"  # held back by the provider: over the account's concurrency
    GENERATING = "generating"
    RETRYING = "retrying"  # the provider does not answer; the job keeps running and is kept
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
    elapsed: float | None = None  # seconds since its job was submitted or resumed


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
        self.ledger = Ledger(store.dir)
        self.history = History(store, journal, self.ledger)
        self.made: dict[str, list[Take]] = {}
        self.records: dict[str, list[JobRecord]] = {}  # endings without a take this build paid for
        self.failures: dict[str, str] = {}
        self.shared: dict[str, str] = {}  # shot → the shot whose identical request made its clip
        self.clips: dict[str, asyncio.Future[str | None]] = {}
        self.backends: dict[str, Backend] = {}
        self.limits: dict[str, asyncio.Semaphore] = {}
        self.makers: dict[str, str] = {}  # recipe key → the shot generating it in this build
        self.started: dict[str, float] = {}  # shot → when its job was submitted or resumed
        self.committed = 0.0  # dollars spent or in flight in this build
        # A chained shot's spec and take numbers are known only once its upstream clip is: kept here,
        # so the reviewed plan is never rewritten.
        self.specs: dict[str, ShotSpec] = {}
        self.late: dict[str, ShotPlan] = {}

    def pin_known(self) -> None:
        """Pin the takes the plan found (pinned or cached), and drop removed shots from the lock."""
        pin_found(self.plan, self.lock)
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
            self.emit(ShotEvent(sp.shot, ShotState.WAITING, message=sp.summary()))
        try:
            await asyncio.gather(*(self.shot(sp) for sp in work))
        finally:
            for backend in self.backends.values():
                await backend.aclose()
            self.write_lock()

    def info(self, sp: ShotPlan) -> ModelInfo:
        return self.models.info(sp.model)

    def backend(self, info: ModelInfo) -> Backend:
        """One backend per provider, whatever the model: its jobs share one pool (one set of ComfyUI
        servers spreads every ComfyUI shot; one account's concurrency covers every model)."""
        if info.backend not in self.backends:
            workdir = (
                self.store.dir / "work" / info.backend
            )  # the backend's own scratch, apart from the store
            workdir.mkdir(parents=True, exist_ok=True)
            self.backends[info.backend] = self.models.backend(info.id, workdir)
        if info.backend not in self.limits:
            self.limits[info.backend] = asyncio.Semaphore(info.concurrency)
        return self.backends[info.backend]

    async def shot(self, sp: ShotPlan) -> None:
        """Make one shot's takes; record a failure instead of raising, so the other shots go on."""
        try:
            spec = await self.spec(sp)
            if spec is None:
                return  # resolved from the store once its upstream clip was known
            maker = sp.shares or self.makers.setdefault(spec.key, sp.shot)
            if maker != sp.shot:
                await self.share(sp.shot, spec, maker)
                return
            info = self.info(sp)
            plan = self.late.get(sp.shot, sp)
            await self.abandon(spec, plan.abandon, info)
            takes = await asyncio.gather(
                *(self.take(spec, n, info) for n in plan.takes), return_exceptions=True
            )
            made = [t for t in takes if isinstance(t, Take)]
            errors = [t for t in takes if isinstance(t, BaseException)]
            if made:
                self.made[sp.shot] = made
                newest = max(made, key=lambda t: t.take)
                self.pin(sp.shot, spec.key, newest)
                self.clips[sp.shot].set_result(newest.sha256)
                self.emit(ShotEvent(sp.shot, ShotState.DONE, 1.0, _take_text(newest), self.elapsed(sp.shot)))
            for err in errors:
                if not isinstance(err, (ShotFailed, ShotlistError)):
                    raise err
            if errors:
                raise ShotFailed("; ".join(str(e) for e in errors))
        except (ShotFailed, ShotlistError) as exc:
            self.failures[sp.shot] = str(exc)
            log.info("%s: failed: %s", sp.shot, exc)
            self.emit(ShotEvent(sp.shot, ShotState.FAILED, message=str(exc), elapsed=self.elapsed(sp.shot)))
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
                self.emit(ShotEvent(sp.shot, ShotState.WAITING, message=f"waits for {up}"))
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
        self.specs[sp.shot] = spec
        if sp.spec is None:
            return self.decide_late(sp, spec)
        return spec

    def decide_late(self, sp: ShotPlan, spec: ShotSpec) -> ShotSpec | None:
        """The plan's decision for a chained shot, made now that its request is known (the same rules)."""
        late = replace(sp, action=Action.GENERATE, reasons=[], takes=[], resume={}, unknown=[], abandon=[])
        shot = self.project.shot(sp.shot)
        new_take = sp.shot in self.resubmit
        decide(
            late,
            shot,
            spec,
            self.lock.get(sp.shot),
            self.history,
            shot.takes,
            new_take,
            len(sp.takes),
            self.info(sp),
        )
        if late.action in (Action.PINNED, Action.CACHED) and late.take is not None:
            self.pin(sp.shot, spec.key, late.take)
            self.clips[sp.shot].set_result(late.take.sha256)
            message = f"take {late.take.take} is in the store: reused, free"
            self.emit(ShotEvent(sp.shot, ShotState.CACHED, 1.0, message))
            return None
        if late.action in HELD and late.record is not None:
            raise ShotFailed(late.record.text(late.again, late.free))
        self.late[sp.shot] = late
        return spec

    def plan_of(self, shot: str) -> ShotPlan:
        return next(s for s in self.plan.shots if s.shot == shot)

    def elapsed(self, shot: str) -> float | None:
        return None if shot not in self.started else time.monotonic() - self.started[shot]

    async def share(self, shot: str, spec: ShotSpec, maker: str) -> None:
        """Pin the clip of the shot that sends the same request: one generation, two shots."""
        self.emit(ShotEvent(shot, ShotState.WAITING, message=f"same request as {maker}: waits for its clip"))
        clip = await self.clips[maker]
        take = next((t for t in self.store.takes(spec.key) if t.sha256 == clip), None)
        if take is None:
            raise ShotFailed(f"it sends the same request as {maker}, which has no clip (see {maker})")
        self.shared[shot] = maker
        self.pin(shot, spec.key, take)
        self.clips[shot].set_result(take.sha256)
        self.emit(
            ShotEvent(
                shot, ShotState.DONE, 1.0, f"same request as {maker}: pinned its take {take.take}, free"
            )
        )

    async def abandon(self, spec: ShotSpec, numbers: list[int], info: ModelInfo) -> None:
        """Takes whose submit had no answer, sent anew by ``--regenerate``: their record moves to the ledger."""
        estimate = info.estimate(spec.duration, self.project.board.output.resolution, spec.audio)
        for n in numbers:
            entry = self.journal.get(spec.take_key(n))
            if entry is None or entry.job is not None:
                continue
            record = _record(
                entry,
                Outcome.UNKNOWN,
                entry.why_unknown,
                estimate,
                True,
            )
            await asyncio.to_thread(self.ledger.add, replace(record, time=entry.time))
            self.journal.close(entry.take_key)
            if entry.state is JournalState.INTENT:
                # a killed build never reported it: this build's spent total counts it (it may be billed)
                self.records.setdefault(spec.shot, []).append(record)
            log.info(
                "%s take %d: its unanswered submit is recorded in the ledger; a new take is sent",
                spec.shot,
                n,
            )

    async def take(self, spec: ShotSpec, n: int, info: ModelInfo) -> Take:
        """Submit (or resume), poll, fetch, verify and store one take."""
        spec = replace(spec, take=n)
        backend = self.backend(info)
        estimate = info.estimate(spec.duration, self.project.board.output.resolution, spec.audio)
        entry = self.journal.get(spec.take_key())
        job = entry.job if entry else None
        if entry is not None and job is None:
            job = await self.unknown_submit(entry, spec, backend, info, estimate)
        async with self.limits[info.backend]:
            if job is None:
                job = await self.submit(spec, backend, info, estimate)
            else:
                log.info("%s take %d: resuming job %s (already paid)", spec.shot, n, job)
                self.emit(ShotEvent(spec.shot, ShotState.SUBMITTED, message=f"resuming job {job}"))
            self.started.setdefault(spec.shot, time.monotonic())
            status, job = await self.follow(spec, backend, job, info, estimate)
        if status.state is not JobState.SUCCEEDED:
            outcome = Outcome.REFUSED if status.state is JobState.REFUSED else Outcome.FAILED
            why = status.message or "no reason given"
            raise self.end(spec, job, outcome, why, status.cost, False, info, estimate)
        dest, facts = await self.download(spec, backend, job, info, status, estimate)
        sha = await asyncio.to_thread(self.store.add_file, dest)
        # QC at store time, cached by the clip's hash: takes are listed with their findings (shotlist.qc).
        await asyncio.to_thread(check_stored, self.store.dir, sha, self.store.object_path(sha), spec.backend)
        await asyncio.to_thread(
            self.journal.write,
            JournalEntry(
                spec.take_key(),
                spec.shot,
                spec.key,
                n,
                spec.backend,
                spec.model,
                JournalState.FETCHED,
                job,
                sha,
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
        self.journal.close(spec.take_key())
        log.info("%s take %d: stored %s (job %s, %s)", spec.shot, n, sha[:12], job, money(cost))
        if status.cost is not None and estimate is not None:
            self.committed += status.cost - estimate
        return take

    def end(
        self,
        spec: ShotSpec,
        job: str | None,
        outcome: Outcome,
        why: str,
        cost: float | None,
        cost_is_estimate: bool,
        info: ModelInfo,
        estimate: float | None,
    ) -> ShotFailed:
        """A job ended without a take: record it in the ledger, forget it in the journal; the failure to raise."""
        if info.free:
            cost, cost_is_estimate = 0.0, False
        entry = JournalEntry(
            spec.take_key(),
            spec.shot,
            spec.key,
            spec.take,
            spec.backend,
            spec.model,
            JournalState.SUBMITTED,
            job,
        )
        record = _record(entry, outcome, why, cost, cost_is_estimate)
        self.ledger.add(record)
        self.journal.close(spec.take_key())
        self.records.setdefault(spec.shot, []).append(record)
        log.info("%s take %d: %s (job %s), recorded in the ledger", spec.shot, spec.take, outcome, job)
        return ShotFailed(record.text(estimate, info.free))

    async def unknown_submit(
        self, entry: JournalEntry, spec: ShotSpec, backend: Backend, info: ModelInfo, estimate: float | None
    ) -> str | None:
        """An earlier submit of this take left no job id: find its job, or refuse to pay blindly again."""
        if isinstance(backend, Recoverable):
            try:
                job = await backend.recover(spec)
            except BackendError as exc:
                raise ShotFailed(
                    f"take {spec.take}: looking up its unanswered submit at {spec.backend} failed ({exc}); "
                    "nothing was sent again, and the next build looks again"
                ) from None
            if job is not None:
                log.info("%s take %d: found the job of its unanswered submit: %s", spec.shot, spec.take, job)
                self.journal.write(replace(entry, state=JournalState.SUBMITTED, job=job))
            return job  # None: the provider never saw it, so submitting is not paying twice
        if info.free:
            return None
        why = entry.why_unknown
        raise ShotFailed(unknown_text(spec.shot, spec.take, spec.backend, entry.time, why, estimate))

    async def submit(self, spec: ShotSpec, backend: Backend, info: ModelInfo, estimate: float | None) -> str:
        tk = spec.take_key()
        if self.budget is not None:
            if estimate is None or self.committed + estimate > self.budget + 1e-9:
                raise ShotFailed(
                    f"take {spec.take} not submitted: it would take the build over its budget of "
                    f"${self.budget:.2f} (${self.committed:.2f} committed); raise --budget to make it"
                )
        intent = JournalEntry(
            tk, spec.shot, spec.key, spec.take, spec.backend, spec.model, JournalState.INTENT
        )
        # Durable before the provider hears of it. fsync is slow, so it runs off the event loop: other
        # shots go on submitting and polling meanwhile.
        await asyncio.to_thread(self.journal.write, intent)
        self.committed += estimate or 0.0
        log.info("%s take %d: submitting to %s (%s)", spec.shot, spec.take, spec.backend, money(estimate))
        try:
            job = await _answer(backend.submit(spec), spec.backend, submit=True)
        except SubmitUnknown as exc:
            return await self.submit_unknown(intent, spec, backend, info, estimate, str(exc))
        except BackendError as exc:
            self.committed -= estimate or 0.0
            if exc.refused:
                raise self.end(spec, None, Outcome.REFUSED, str(exc), None, False, info, estimate) from None
            self.journal.close(tk)  # refused before any job existed: nothing was bought
            step = "the next build sends it again" if exc.retryable else "fix what it names, then build again"
            raise ShotFailed(
                f"take {spec.take} was not accepted: {exc}; nothing was charged, {step}"
            ) from None
        await asyncio.to_thread(self.journal.write, replace(intent, state=JournalState.SUBMITTED, job=job))
        self.started[spec.shot] = time.monotonic()
        self.emit(ShotEvent(spec.shot, ShotState.SUBMITTED, message=f"job {job}"))
        return job

    async def submit_unknown(
        self,
        intent: JournalEntry,
        spec: ShotSpec,
        backend: Backend,
        info: ModelInfo,
        estimate: float | None,
        why: str,
    ) -> str:
        """The submit's answer was lost: look it up where the backend can; never send it blindly again."""
        entry = await asyncio.to_thread(
            self.journal.write, replace(intent, state=JournalState.UNKNOWN, message=why)
        )
        if isinstance(backend, Recoverable):
            job = await backend.recover(spec)
            if job is not None:
                log.info(
                    "%s take %d: its submit's answer was lost; found its job %s", spec.shot, spec.take, job
                )
                await asyncio.to_thread(
                    self.journal.write, replace(entry, state=JournalState.SUBMITTED, job=job)
                )
                return job
            raise ShotFailed(
                f"take {spec.take}: the answer to its submit was lost ({why}) and {spec.backend} does not "
                "show it yet; the next build looks it up again before anything is sent (never paid twice)"
            )
        if info.free:
            raise ShotFailed(
                f"take {spec.take}: the answer to its submit was lost ({why}); the next build sends it again (free)"
            )
        # Counted in this build's spent total: it may be running and billed.
        record = _record(entry, Outcome.UNKNOWN, why, estimate, True)
        self.records.setdefault(spec.shot, []).append(record)
        raise ShotFailed(unknown_text(spec.shot, spec.take, spec.backend, entry.time, why, estimate))

    async def follow(
        self, spec: ShotSpec, backend: Backend, job: str, info: ModelInfo, estimate: float | None
    ) -> tuple[JobStatus, str]:
        """Poll the job until the provider says it ended; trouble on the way never ends it."""
        interval = backend.poll_interval or min(max(info.latency_s / 10, 0.05), 5.0)
        trouble: float | None = None
        tries = 0
        while True:
            try:
                status = await _answer(backend.poll(job), spec.backend)
            except BackendError as exc:
                if exc.gone:
                    why = (
                        str(exc)
                        if isinstance(exc, JobGone)
                        else f"{spec.backend} no longer knows the job ({exc})"
                    )
                    raise self.end(spec, job, Outcome.LOST, why, estimate, True, info, estimate) from None
                if exc.refused:
                    raise self.end(
                        spec, job, Outcome.REFUSED, str(exc), None, False, info, estimate
                    ) from None
                tries += 1
                trouble = trouble or time.monotonic()
                waited = time.monotonic() - trouble
                if not exc.retryable:
                    raise ShotFailed(
                        f"take {spec.take} is kept (job {job}): {exc}; the next build resumes it once that is fixed"
                    ) from None
                if waited >= POLL_PATIENCE_S:
                    raise ShotFailed(
                        f"take {spec.take} is still running at {spec.backend} (job {job}), which has not answered "
                        f"usably for {waited:.0f} s ({exc}); the next build resumes it"
                    ) from None
                log.info("%s take %d: poll trouble (%s); retry %d", spec.shot, spec.take, exc, tries)
                says = "does not answer" if exc.status is None else "answers with an error"
                message = f"{spec.backend} {says} ({exc}); retry {tries}, the job keeps running"
                self.emit(
                    ShotEvent(spec.shot, ShotState.RETRYING, message=message, elapsed=self.elapsed(spec.shot))
                )
                await asyncio.sleep(min(interval * 2**tries, 30.0, max(POLL_PATIENCE_S - waited, 0.0) + 0.01))
                continue
            trouble, tries = None, 0
            if status.moved_to:
                job = await self.moved(spec, job, status.moved_to)
                continue
            if status.done:
                return status, job
            self.emit(self.progress_event(spec, status))
            await asyncio.sleep(interval)

    async def moved(self, spec: ShotSpec, old: str, new: str) -> str:
        """The backend moved a job that never ran (its server died): journal the new id, follow that."""
        entry = self.journal.get(spec.take_key()) or JournalEntry(
            spec.take_key(), spec.shot, spec.key, spec.take, spec.backend, spec.model, JournalState.SUBMITTED
        )
        await asyncio.to_thread(self.journal.write, replace(entry, state=JournalState.SUBMITTED, job=new))
        log.info("%s take %d: job %s moved to %s", spec.shot, spec.take, old, new)
        self.emit(ShotEvent(spec.shot, ShotState.SUBMITTED, message=f"moved to {new}"))
        return new

    def progress_event(self, spec: ShotSpec, status: JobStatus) -> ShotEvent:
        """What a running job's status means to the person watching."""
        elapsed = self.elapsed(spec.shot)
        if status.state is JobState.QUEUED and status.throttled:
            return ShotEvent(
                spec.shot,
                ShotState.THROTTLED,
                message=f"by {spec.backend} (account concurrency)",
                elapsed=elapsed,
            )
        if status.state is JobState.QUEUED:
            where = f"position {status.position}" if status.position is not None else f"at {spec.backend}"
            return ShotEvent(spec.shot, ShotState.QUEUED, message=where, elapsed=elapsed)
        return ShotEvent(spec.shot, ShotState.GENERATING, status.progress, status.message or "", elapsed)

    async def download(
        self,
        spec: ShotSpec,
        backend: Backend,
        job: str,
        info: ModelInfo,
        status: JobStatus,
        estimate: float | None,
    ) -> tuple[Path, ClipFacts]:
        """Fetch and verify a finished job's clip; a clip that can never be had is a lost (paid) job."""
        self.emit(ShotEvent(spec.shot, ShotState.DOWNLOADING, elapsed=self.elapsed(spec.shot)))
        dest = self.store.tmp_path(f"{spec.take_key()[:16]}.mp4")
        cost = status.cost if status.cost is not None else estimate
        for second in (False, True):
            try:
                await _answer(backend.fetch(job, dest), spec.backend)
            except BackendError as exc:
                if exc.refused:
                    raise self.end(
                        spec, job, Outcome.REFUSED, str(exc), status.cost, False, info, estimate
                    ) from None
                if exc.retryable or exc.status == 401:
                    raise ShotFailed(
                        f"take {spec.take} finished at {spec.backend} (job {job}) but downloading it failed: "
                        f"{exc}; the next build downloads it (already paid)"
                    ) from None
                raise self.end(
                    spec, job, Outcome.LOST, str(exc), cost, status.cost is None, info, estimate
                ) from None
            try:
                return dest, await asyncio.to_thread(verify_clip, dest, spec)
            except ShotFailed as exc:
                if not second:  # a page where the clip should be, bytes cut short: ask the job once more
                    log.info("%s take %d: %s; downloading it again", spec.shot, spec.take, exc)
                    continue
                # the same wrong answer twice: fetching this job again would give it a third time
                raise self.end(
                    spec, job, Outcome.LOST, str(exc), cost, status.cost is None, info, estimate
                ) from None
        raise AssertionError("unreachable")

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


async def _answer(call: Awaitable[T], provider: str, *, submit: bool = False) -> T:
    """A backend's call; an answer of a shape it could not read is a retryable BackendError, or for a
    ``submit`` a SubmitUnknown: the request may have been made and charged, so it is never sent blindly."""
    try:
        return await call
    except UNEXPECTED as exc:
        what = f"{provider} answered in a shape shotlist does not know ({type(exc).__name__}: {exc})"
        if submit:
            raise SubmitUnknown(f"{what}; the job may exist and may be charged", status=200) from None
        raise BackendError(what, retryable=True, status=200) from None


def _record(entry: JournalEntry, outcome: Outcome, why: str, cost: float | None, estimate: bool) -> JobRecord:
    return JobRecord.of(entry, outcome, why, cost, estimate, now())


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
        raise ShotFailed(f"the clip from {spec.backend} is not what was asked: {'; '.join(problems)}")
    return facts
