"""What the hosted-provider fakes (fal, Replicate, Runway, Luma) share: result files behind links that
expire, jobs that finish after some polls, auth checks, TLS for SDKs that only speak HTTPS.

A shot's prompt steers its fake job, the way a real service reacts to content:
``[refuse]`` → the provider's moderation refusal, ``[fail]`` → a runtime failure, ``[slow]`` → a job
that needs many more polls.

Below the fakes: what every adapter test uses to make shots (``make_spec``, ``full_spec``, ``frames``)
and to take them through an adapter the way the engine does (``finish``, ``through``, ``generate``,
``outcome``), without the engine's pauses.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx
import pytest

from shotlist.backends.base import Backend, JobState, JobStatus
from shotlist.backends.http import RetryPolicy
from shotlist.catalog import DurationRange, catalog, get_model
from shotlist.spec import MediaInput, ShotSpec
from tests.fakes.server import FakeProvider, Request, Response, access_denied, mp4

REFUSE, FAIL, SLOW = "[refuse]", "[fail]", "[slow]"


def default_video(job_id: str, body: Any) -> bytes:
    """Stand-in clip bytes that name their job, so a test can tell which job a file came from."""
    return f"fake-mp4 {job_id}".encode()


@dataclass
class Job:
    """One fake job: its input, how many polls it still needs, and how it ends."""

    id: str
    kind: str  # the endpoint or model it was submitted to
    body: Any
    polls_left: int
    outcome: str = "ok"  # ok | refuse | fail
    polls: int = 0
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.polls_left <= 0 or self.cancelled

    def tick(self) -> None:
        self.polls += 1
        self.polls_left -= 1


class HostedFake(FakeProvider):
    """A FakeProvider with jobs, expiring result files, a key checked on every API request, optional TLS."""

    download_route = ("GET", r"^/files/")
    auth_scheme: ClassVar[str] = "Bearer"  # the API wants ``Authorization: <scheme> <key>``
    unauthorized: ClassVar[Any] = {"detail": "Invalid API key"}  # its 401's body
    not_found: ClassVar[Any] = {"detail": "Not found"}  # its 404's body for a job it does not know

    def __init__(
        self,
        key: str,
        *,
        polls_to_finish: int = 2,
        slow_polls: int = 8,
        video: Callable[[str, Any], bytes] = default_video,
    ) -> None:
        super().__init__()
        self.key = key
        self.polls_to_finish = polls_to_finish
        self.slow_polls = slow_polls
        self.video = video
        self.jobs: dict[str, Job] = {}
        self.forgotten: list[Job] = []  # jobs a restart lost (made, and paid for)
        self.files: dict[str, bytes] = {}
        self.expired: set[str] = set()
        self.file_requests: list[Request] = []
        self.tls: ssl.SSLContext | None = None
        self._ids = itertools.count(1)
        self._jobs_lock = threading.Lock()
        self.route("GET", r"/files/(?P<token>[^/]+)/(?P<name>[^/]+)", self._file)

    # -- jobs ---------------------------------------------------------------------------------
    def new_job(self, kind: str, body: Any, prompt: str, prefix: str = "") -> Job:
        """Create a job (a paid submission); its prompt's markers decide how it ends."""
        with self._jobs_lock:
            job_id = f"{prefix}{next(self._ids):04d}{secrets.token_hex(4)}"
            polls = self.slow_polls if SLOW in prompt else self.polls_to_finish
            outcome = "refuse" if REFUSE in prompt else "fail" if FAIL in prompt else "ok"
            job = self.jobs[job_id] = Job(job_id, kind, body, polls, outcome)
        return job

    def read(self, job_id: str, answer: Callable[[Job], Any]) -> Response:
        """A read of a job's status, which advances it one poll until it is done."""
        job = self.jobs.get(job_id)
        if job is None:
            return Response(404, self.not_found)
        if not job.done:
            job.tick()
        return Response(200, answer(job))

    def cancel(self, job_id: str, answer: Callable[[Job], Response]) -> Response:
        """Cancel a job that is still running (a finished one stays as it is)."""
        job = self.jobs.get(job_id)
        if job is None:
            return Response(404, self.not_found)
        job.cancelled = not job.done
        return answer(job)

    @property
    def submissions(self) -> int:
        return len(self.jobs) + len(self.forgotten)

    def forget(self) -> None:
        with self._jobs_lock:
            self.forgotten += self.jobs.values()
            self.jobs.clear()

    def made(self, backend: Backend, spec: ShotSpec, out: Path) -> tuple[str, Job, JobStatus]:
        """Generate one shot against this fake: the adapter's job id, the job the fake made, its status.
        The take must succeed, with the clip of that job at ``out/<shot>.mp4``."""
        [(job_id, status)] = generate(backend, spec, out=out)
        assert status.state is JobState.SUCCEEDED, status.message
        (job,) = self.jobs.values()
        assert (out / f"{spec.shot}.mp4").read_bytes() == self.video(job.id, job.body)
        return job_id, job, status

    # -- result files -------------------------------------------------------------------------
    def issue_file(self, job: Job, name: str = "output.mp4") -> str:
        """A fresh link to a job's video (a signed-URL-like token, on another origin than the API)."""
        token = secrets.token_urlsafe(12)
        self.files[token] = self.video(job.id, job.body)
        return f"{self.file_origin}/files/{token}/{name}"

    def expire_links(self) -> None:
        self.expired.update(self.files)  # a dead link answers 403, as an expired signed URL does

    @property
    def file_origin(self) -> str:
        # "localhost" rather than 127.0.0.1: another origin than the API, like a real CDN
        return self.url.replace("127.0.0.1", "localhost")

    def _file(self, req: Request, m: Any) -> Response:
        self.file_requests.append(req)
        token = m["token"]
        if token in self.expired or token not in self.files:
            return access_denied()
        return mp4(self.files[token])

    # -- auth and TLS -------------------------------------------------------------------------
    def authorized(self, req: Request) -> bool:
        return req.headers.get("authorization") == f"{self.auth_scheme} {self.key}"

    def dispatch(self, req: Request) -> Response:
        if not req.path.startswith("/files/") and not self.authorized(req):  # result files need no key
            self.log.append(req)
            return Response(401, self.unauthorized)
        return super().dispatch(req)

    def enable_tls(self, workdir: Path) -> Path:
        """Serve HTTPS with a certificate from a throwaway CA; return the CA file for SSL_CERT_FILE.

        Call before entering the server."""
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.tls)
        cafile = workdir / "fake-ca.pem"
        ca.cert_pem.write_to_path(str(cafile))
        return cafile

    def __enter__(self) -> Self:
        super().__enter__()
        assert self.server is not None
        if self.tls is not None:
            # same file descriptor, so the already-running accept loop now hands out TLS connections
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        return self

    @property
    def url(self) -> str:
        base = super().url
        return base.replace("http://", "https://") if self.tls is not None else base


# -- helpers for adapter tests ----------------------------------------------------------------
def png(path: Path, size: tuple[int, int] = (640, 360), colour: tuple[int, int, int] = (200, 80, 40)) -> Path:
    """A small PNG to use as an input frame."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def media_input(
    tmp: Path,
    name: str,
    role: str = "image",
    colour: tuple[int, int, int] = (200, 80, 40),
    size: tuple[int, int] = (640, 360),
) -> MediaInput:
    """An input image of a shot (a PNG made on the fly) in the given role."""
    path = png(tmp / f"{name}.png", size, colour)
    return MediaInput(role, hashlib.sha256(path.read_bytes()).hexdigest(), *size, str(path), name)


def frames(tmp: Path, *roles: str) -> tuple[MediaInput, ...]:
    """Input images in these roles (``image``, ``end_image``, ``ref``), each a different colour."""
    return tuple(
        media_input(tmp, f"{role}{i}", role, (60 * i % 255, 200 - 40 * i, 90)) for i, role in enumerate(roles)
    )


def make_spec(
    model: str,
    mode: str,
    tmp: Path | None = None,
    *,
    prompt: str = "A lighthouse on a cliff at dusk, waves below",
    duration: float | None = None,
    end_image: bool = False,
    refs: int = 0,
    seed: int | None = None,
    audio: bool = False,
    negative: str | None = None,
    size: tuple[int, int] = (1280, 720),
    aspect: str = "16:9",
    fps: int = 24,
    params: dict[str, Any] | None = None,
    take: int = 1,
    shot: str = "s1",
    inputs: tuple[MediaInput, ...] | None = None,
) -> ShotSpec:
    """A ShotSpec for ``model`` in ``mode``; unless given, its input images are made on the fly in ``tmp``
    (none without ``tmp``)."""
    entry = get_model(model)
    if duration is None:
        duration = entry.durations.min if isinstance(entry.durations, DurationRange) else entry.durations[0]

    def media(role: str, n: int) -> MediaInput:
        assert tmp is not None
        return media_input(tmp, f"{role}{n}", role, (40 * n % 255, 120, 200 if role == "ref" else 60))

    if inputs is None and tmp is None:
        inputs = ()
    if inputs is None:
        made: list[MediaInput] = []
        if mode == "img2vid":
            made.append(media("image", 0))
            if end_image:
                made.append(media("end_image", 1))
        made += [media("ref", i + 2) for i in range(refs if mode == "ref2vid" else 0)]
        inputs = tuple(made)
    return ShotSpec(
        shot=shot,
        backend=entry.provider,
        model=model,
        mode=mode,
        prompt=prompt,
        duration=duration,
        width=size[0],
        height=size[1],
        aspect=aspect,
        fps=fps,
        negative=negative,
        seed=seed,
        audio=audio,
        inputs=inputs,
        params=params or {},
        take=take,
    )


def full_spec(model: str, mode: str, tmp: Path, *, last: bool = False, **kw: Any) -> ShotSpec:
    """A shot that uses every field the model takes: seed, negative prompt, audio, last frame, references."""
    entry = get_model(model)
    return make_spec(
        model,
        mode,
        tmp,
        end_image=last,
        refs=2 if mode == "ref2vid" else 0,
        seed=7 if entry.seed else None,
        negative="blurry, text overlays" if entry.negative else None,
        audio=bool(entry.audio),
        **kw,
    )


def each_model_and_mode(provider: str) -> pytest.MarkDecorator:
    """Run a test for every model and mode of a provider in the catalog (img2vid with and without a last
    frame where the model takes one): arguments ``model``, ``mode``, ``last``."""
    cases = [
        (m.id, mode, last)
        for m in catalog().values()
        if m.provider == provider
        for mode in m.modes
        for last in ((False, True) if mode == "img2vid" and m.first_last else (False,))
    ]
    ids = [f"{m}-{mode}{'-last' if last else ''}" for m, mode, last in cases]
    return pytest.mark.parametrize("model,mode,last", cases, ids=ids)


@dataclass
class QuickPolicy(RetryPolicy):
    """The HTTP layer's retries with pauses of milliseconds, not seconds (for engine-level fault tests)."""

    attempts: int = 3
    base: float = 0.01
    cap: float = 0.05
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(2.0, connect=0.5))


async def no_sleep(seconds: float) -> None:
    """Stands in for the layer's sleep, so retries and backoff cost no wall time in tests."""


async def finish(backend: Backend, job_id: str, *, within_s: float = 20.0) -> JobStatus:
    """Poll a backend's job until it is done, as the engine does but without its pauses; the final status."""
    deadline = time.monotonic() + within_s
    while True:
        status = await backend.poll(job_id)
        if status.done:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{job_id} not done after {within_s} s: {status}")
        await asyncio.sleep(0.002)  # jobs of the fakes that run on a worker thread (ComfyUI) need a moment


async def through(
    backend: Backend, spec: ShotSpec, dest: Path, job: str | None = None, *, within_s: float = 20.0
) -> tuple[str, JobStatus]:
    """What the engine does with one take: submit (unless given the job), poll until done, fetch a success."""
    job = job or await backend.submit(spec)
    status = await finish(backend, job, within_s=within_s)
    if status.state is JobState.SUCCEEDED:
        await backend.fetch(job, dest)
    return job, status


def outcome(backend: Backend, spec: ShotSpec, out: Path) -> JobStatus:
    """How one shot's take ends (its clip at ``out/<shot>.mp4``)."""
    [(_, status)] = generate(backend, spec, out=out)
    return status


def generate(
    backend: Backend, *specs: ShotSpec, out: Path, within_s: float = 20.0
) -> list[tuple[str, JobStatus]]:
    """``through`` for each shot at once (clips at ``out/<shot>.mp4``), then the backend closed."""
    out.mkdir(parents=True, exist_ok=True)

    async def go() -> list[tuple[str, JobStatus]]:
        try:
            takes = (through(backend, s, out / f"{s.shot}.mp4", within_s=within_s) for s in specs)
            return await asyncio.gather(*takes)
        finally:
            await backend.aclose()

    return asyncio.run(go())
