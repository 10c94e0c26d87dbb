"""A fake video backend for tests and benchmarks: real files, controllable latency, failures, refusals and costs.

Its jobs live in a folder, not in memory, so they outlive the build process: a build killed with
kill -9 and started again finds its jobs still running (or finished) exactly as with a hosted API.
Every submit is appended to ``submits.log`` (fsynced), so a test can count double submissions.

A job succeeds ``latency`` seconds after its submit and its clip is a real H.264 MP4 of the asked
size, rate and duration in a colour derived from the take key, encoded with the animatic's settings,
so the same request gives the same bytes (``looks`` makes given takes of a shot a moving test card or
black, for QC). Shots named in ``fail`` fail, in ``refuse`` are refused, and in ``lose`` have their
submit recorded but answered with SubmitUnknown (a connection dropped after the request was sent).

Use it through ``FakeModels``, which a build accepts instead of the catalog::

    shotlist.build(path, BuildOptions(models=FakeModels(tmp / "fake", latency=0.5, price=0.1)))
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shotlist import durable
from shotlist.backends.animatic.encode import AS_BT709, output_args
from shotlist.backends.base import BackendError, JobState, JobStatus, SubmitUnknown
from shotlist.catalog.registry import ModelInfo
from shotlist.media import run_ffmpeg
from shotlist.spec import ShotSpec


class FakeBackend:
    """A backend whose jobs are files in ``state_dir``."""

    name = "fake"
    poll_interval: float | None

    def __init__(
        self,
        state_dir: Path,
        *,
        latency: float = 0.0,
        price: float | None = 0.1,
        fail: Iterable[str] = (),
        refuse: Iterable[str] = (),
        lose: Iterable[str] = (),
        can_recover: bool = True,
        wrong_duration: Iterable[str] = (),
        looks: dict[str, list[str]] | None = None,
    ) -> None:
        self.dir = state_dir
        self.looks = looks or {}
        self.latency = latency
        self.price = price
        self.fail = set(fail)
        self.refuse = set(refuse)
        self.lose = set(lose)
        self.wrong_duration = set(wrong_duration)
        self.poll_interval = max(0.02, min(latency / 50, 0.5))
        if can_recover:
            self.recover = self._recover  # only a backend that can look a submit up offers recover()
        (self.dir / "jobs").mkdir(parents=True, exist_ok=True)

    def _job_file(self, job_id: str) -> Path:
        return self.dir / "jobs" / f"{job_id}.json"

    @staticmethod
    def job_id(spec: ShotSpec) -> str:
        # From the take key, like a client-supplied request id: the same take is always the same job.
        return "fake-" + spec.take_key()[:24]

    async def submit(self, spec: ShotSpec) -> str:
        job = self.job_id(spec)
        outcome = (
            "refused" if spec.shot in self.refuse else "failed" if spec.shot in self.fail else "succeeded"
        )
        duration = spec.duration / 2 if spec.shot in self.wrong_duration else spec.duration
        record = {
            "job": job,
            "shot": spec.shot,
            "take_key": spec.take_key(),
            "submitted": time.time(),
            "outcome": outcome,
            "width": spec.width,
            "height": spec.height,
            "fps": spec.fps,
            "duration": duration,
            "audio": spec.audio,
            "look": _look(self.looks.get(spec.shot, []), spec.take),
        }
        # The log line is the moment the "provider" has the job: one append, fsynced. The job file is a
        # convenience written after it, so a kill between the two still leaves a job that can be found.
        with open(self.dir / "submits.log", "a") as log:
            log.write(json.dumps({**record, "pid": os.getpid()}) + "\n")
            log.flush()
            os.fsync(log.fileno())
        durable.write_json(self._job_file(job), record)
        if spec.shot in self.lose:
            raise SubmitUnknown(f"the connection dropped after sending shot {spec.shot}")
        return job

    async def _recover(self, spec: ShotSpec) -> str | None:
        """The job of a submit whose answer was lost, or None if it never arrived."""
        job = self.job_id(spec)
        return job if any(s["job"] == job for s in self.submits()) else None

    def _record(self, job_id: str) -> dict[str, object]:
        raw = durable.read_json(self._job_file(job_id))
        if isinstance(raw, dict):
            return raw
        for record in self.submits():
            if record["job"] == job_id:
                return record
        raise BackendError(f"fake: no job {job_id}")

    async def poll(self, job_id: str) -> JobStatus:
        rec = self._record(job_id)
        elapsed = time.time() - float(str(rec["submitted"]))
        if elapsed < self.latency:
            return JobStatus(JobState.RUNNING, progress=elapsed / self.latency)
        if rec["outcome"] == "refused":
            return JobStatus(JobState.REFUSED, message="the prompt was flagged by moderation (fake)")
        if rec["outcome"] == "failed":
            return JobStatus(JobState.FAILED, message="the generation failed (fake)")
        cost = None if self.price is None else round(self.price * float(str(rec["duration"])), 4)
        return JobStatus(JobState.SUCCEEDED, progress=1.0, cost=cost)

    async def fetch(self, job_id: str, dest: Path) -> None:
        rec = self._record(job_id)
        await asyncio.to_thread(
            render_clip,
            dest,
            width=int(str(rec["width"])),
            height=int(str(rec["height"])),
            fps=int(str(rec["fps"])),
            duration=float(str(rec["duration"])),
            seed=str(rec["take_key"]),
            look=str(rec.get("look", "solid")),
        )

    async def aclose(self) -> None:
        pass

    def submits(self) -> list[dict[str, object]]:
        """Every submit ever received, in order."""
        log = self.dir / "submits.log"
        if not log.is_file():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _look(looks: list[str], take: int) -> str:
    return looks[take - 1] if 0 < take <= len(looks) else "solid"


#: What a fake take can look like, for the QC tests: a still colour, a moving test card, or black.
LOOKS = {
    "solid": "color=c=0x{colour}:s={size}:r={fps}:d={duration}",
    "moving": "testsrc=s={size}:r={fps}:d={duration}",
    "black": "color=c=black:s={size}:r={fps}:d={duration}",
}


def render_clip(
    dest: Path, *, width: int, height: int, fps: int, duration: float, seed: str, look: str = "solid"
) -> None:
    """A small deterministic H.264 + AAC clip, encoded as an animatic is: a solid colour from ``seed``
    (or another of LOOKS), and silence."""
    colour = hashlib.sha256(seed.encode()).hexdigest()[:6]
    source = LOOKS[look].format(colour=colour, size=f"{width}x{height}", fps=fps, duration=f"{duration:.6f}")
    picture = ["-f", "lavfi", "-i", f"{source},{AS_BT709}"]
    silence = ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]
    run_ffmpeg([*picture, *silence, "-t", f"{duration:.6f}", *output_args(fps), str(dest)], what="fake clip")


class FakeModels:
    """A model registry where every model id is served by one FakeBackend (pass it as ``build(models=...)``).

    ``behaviour`` goes to FakeBackend as it is: ``latency``, ``price``, ``fail``, ``refuse``, ``lose``,
    ``can_recover``, ``wrong_duration``, ``looks``.
    """

    def __init__(self, state_dir: Path, *, concurrency: int = 4, **behaviour: Any) -> None:
        self.backend_instance = FakeBackend(state_dir, **behaviour)
        self.concurrency = concurrency

    def info(self, model_id: str) -> ModelInfo:
        price = self.backend_instance.price
        return ModelInfo(
            id=model_id,
            backend="fake",
            concurrency=self.concurrency,
            latency_s=self.backend_instance.latency,
            estimate=lambda seconds, resolution, audio: None if price is None else round(price * seconds, 4),
            recovers=hasattr(self.backend_instance, "recover"),
        )

    def backend(self, model_id: str, store_dir: Path) -> FakeBackend:
        return self.backend_instance
