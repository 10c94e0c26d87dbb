"""The ``animatic`` backend's jobs: each submit renders in a worker thread; poll and fetch read the result."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shotlist import durable, salvage
from shotlist.backends.animatic.render import render_animatic
from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.spec import MediaInput, ShotSpec


class _Cancelled(Exception):
    """Raised from a render's progress callback when the backend is closed."""


@dataclass
class _Job:
    task: asyncio.Task[None] | None = None
    started: bool = False
    progress: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)

    def report(self, fraction: float) -> None:
        if self.cancel.is_set():
            raise _Cancelled("the animatic backend was closed")
        self.progress = fraction


class AnimaticBackend:
    """The offline backend: renders each job in a worker thread into ``workdir/<job id>/clip.mp4``.

    The job id is the spec's take key. The spec is saved beside the clip, so a job submitted before a
    restart is rendered again on ``poll``/``fetch`` (it is free and deterministic). ``fetch`` hands the
    clip over and deletes it, so the work folder does not keep a second copy of every take; a later
    poll or fetch of the same job renders it again. ``parallel`` limits renders at once (each already
    keeps about two cores busy).
    """

    name = "animatic"
    poll_interval: float | None = None

    def __init__(self, workdir: Path, *, parallel: int | None = None) -> None:
        self.workdir = workdir
        self._limit = asyncio.Semaphore(parallel or max(1, (os.cpu_count() or 2) // 2))
        self._jobs: dict[str, _Job] = {}

    def _clip(self, job_id: str) -> Path:
        return self.workdir / job_id / "clip.mp4"

    async def submit(self, spec: ShotSpec) -> str:
        job_id = spec.take_key()
        job = self._jobs.get(job_id)
        if job is not None and (job.task is None or not job.task.done() or job.task.exception() is None):
            return job_id
        await asyncio.to_thread(_save_spec, self.workdir / job_id / "spec.json", spec)
        self._start(job_id, spec)
        return job_id

    async def poll(self, job_id: str) -> JobStatus:
        job = await self._job(job_id)
        if job is None:
            if self._clip(job_id).is_file():
                return JobStatus(JobState.SUCCEEDED, progress=1.0, cost=0.0)
            return JobStatus(JobState.FAILED, message=f"unknown animatic job {job_id}")
        assert job.task is not None
        if not job.task.done():
            return JobStatus(JobState.RUNNING if job.started else JobState.QUEUED, progress=job.progress)
        if job.task.cancelled():
            return JobStatus(JobState.FAILED, message="cancelled")
        exc = job.task.exception()
        if exc is not None:
            return JobStatus(JobState.FAILED, message=str(exc) or type(exc).__name__)
        return JobStatus(JobState.SUCCEEDED, progress=1.0, cost=0.0)

    async def fetch(self, job_id: str, dest: Path) -> None:
        job = await self._job(job_id)
        if job is not None and job.task is not None:
            try:
                await asyncio.shield(job.task)
            except Exception as exc:
                raise BackendError(f"animatic job {job_id} failed: {exc or type(exc).__name__}") from exc
        clip = self._clip(job_id)
        if not clip.is_file():
            raise BackendError(f"unknown animatic job {job_id}")
        await asyncio.to_thread(shutil.copyfile, clip, dest)
        clip.unlink()
        self._jobs.pop(job_id, None)

    async def aclose(self) -> None:
        """Stop renders in progress (at their next frame) and wait for their threads."""
        for job in self._jobs.values():
            job.cancel.set()
        # Finished ones too: a render that failed because the build was interrupted (its ffmpeg got the
        # Ctrl-C as well) is retrieved here, not reported later as "Task exception was never retrieved".
        tasks = [j.task for j in self._jobs.values() if j.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _job(self, job_id: str) -> _Job | None:
        """The job in this process, or one restarted from its saved spec (None if there is nothing to render)."""
        job = self._jobs.get(job_id)
        if job is not None or self._clip(job_id).is_file():
            return job
        spec = await asyncio.to_thread(_load_spec, self.workdir / job_id / "spec.json")
        if spec is None or spec.take_key() != job_id:
            return None
        return self._start(job_id, spec)

    def _start(self, job_id: str, spec: ShotSpec) -> _Job:
        job = _Job()
        job.task = asyncio.create_task(self._render(job, spec, self._clip(job_id)))
        self._jobs[job_id] = job
        return job

    async def _render(self, job: _Job, spec: ShotSpec, clip: Path) -> None:
        async with self._limit:
            job.started = True
            if not clip.is_file():
                job.report(0.0)
                await asyncio.to_thread(render_animatic, spec, clip, job.report)
            job.progress = 1.0


def _save_spec(path: Path, spec: ShotSpec) -> None:
    # Not fsynced: a spec lost in a crash only costs a new submit of a free job.
    durable.write_json(path, asdict(spec) | {"params": dict(spec.params)}, sync=False)


def _load_spec(path: Path) -> ShotSpec | None:
    return salvage.read_cache(path, _spec_of, "a saved animatic job")


def _spec_of(raw: bytes) -> ShotSpec:
    data = salvage.json_object(raw)
    data["inputs"] = tuple(MediaInput(**i) for i in data["inputs"])
    return ShotSpec(**data)
