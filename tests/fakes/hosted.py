"""What the hosted-provider fakes (fal, Replicate, Runway, Luma) share: result files behind links that
expire, jobs that finish after some polls, auth checks, TLS for SDKs that only speak HTTPS.

A shot's prompt steers its fake job, the way a real service reacts to content:
``[refuse]`` → the provider's moderation refusal, ``[fail]`` → a runtime failure, ``[slow]`` → a job
that needs many more polls.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from tests.fakes.server import FakeProvider, Request, Response

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


class QuickServer(FakeProvider):
    """A FakeProvider that answers without Nagle's delay and stops at once (tests start hundreds)."""

    def __enter__(self) -> Self:
        super().__enter__()
        assert self.server is not None
        # answer headers and body without Nagle's delay (else every request waits ~40 ms for an ACK)
        self.server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            # serve_forever looks at its stop flag every 0.5 s; set it and wake the loop now
            self.server._BaseServer__shutdown_request = True  # type: ignore[attr-defined]
            with (
                contextlib.suppress(OSError),
                socket.create_connection(
                    (str(self.server.server_address[0]), int(self.server.server_address[1])), timeout=1
                ),
            ):
                pass
        super().__exit__(*exc)


class HostedFake(QuickServer):
    """A FakeProvider with jobs, expiring result files and optional TLS."""

    def __init__(
        self,
        *,
        polls_to_finish: int = 2,
        slow_polls: int = 8,
        video: Callable[[str, Any], bytes] = default_video,
    ) -> None:
        super().__init__()
        self.polls_to_finish = polls_to_finish
        self.slow_polls = slow_polls
        self.video = video
        self.jobs: dict[str, Job] = {}
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

    @property
    def submissions(self) -> int:
        """Jobs created: what a user would be billed for."""
        return len(self.jobs)

    # -- result files -------------------------------------------------------------------------
    def issue_file(self, job: Job, name: str = "output.mp4") -> str:
        """A fresh link to a job's video (a signed-URL-like token, on another origin than the API)."""
        token = secrets.token_urlsafe(12)
        self.files[token] = self.video(job.id, job.body)
        return f"{self.file_origin}/files/{token}/{name}"

    def expire_links(self) -> None:
        """Every link issued so far stops working (403), as signed URLs do when their time is up."""
        self.expired.update(self.files)

    @property
    def file_origin(self) -> str:
        # "localhost" rather than 127.0.0.1: another origin than the API, like a real CDN
        return self.url.replace("127.0.0.1", "localhost")

    def _file(self, req: Request, m: Any) -> Response:
        self.file_requests.append(req)
        token = m["token"]
        if token in self.expired or token not in self.files:
            return Response(
                403,
                b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                {"Content-Type": "application/xml"},
            )
        return Response(200, self.files[token], {"Content-Type": "video/mp4"})

    # -- auth and TLS -------------------------------------------------------------------------
    def authorized(self, req: Request, expected: str) -> bool:
        return req.headers.get("authorization") == expected

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


def make_spec(
    model: str,
    mode: str,
    tmp: Path,
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
) -> Any:
    """A ShotSpec for ``model`` in ``mode``, with input images made on the fly."""
    import hashlib

    from shotlist.catalog import DurationRange, get_model
    from shotlist.spec import MediaInput, ShotSpec

    entry = get_model(model)
    if duration is None:
        duration = entry.durations.min if isinstance(entry.durations, DurationRange) else entry.durations[0]

    def media(role: str, n: int) -> MediaInput:
        p = png(tmp / f"{role}{n}.png", colour=(40 * n % 255, 120, 200 if role == "ref" else 60))
        return MediaInput(role, hashlib.sha256(p.read_bytes()).hexdigest(), 640, 360, str(p), f"{role}{n}")

    inputs: list[MediaInput] = []
    if mode == "img2vid":
        inputs.append(media("image", 0))
        if end_image:
            inputs.append(media("end_image", 1))
    inputs += [media("ref", i + 2) for i in range(refs if mode == "ref2vid" else 0)]
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
        inputs=tuple(inputs),
        params=params or {},
        take=take,
    )


async def no_sleep(seconds: float) -> None:
    """Stands in for the layer's sleep, so retries and backoff cost no wall time in tests."""


async def finish(backend: Any, job_id: str, polls: int = 40) -> Any:
    """Poll a backend's job until it is done (no real waiting); the final JobStatus."""
    for _ in range(polls):
        status = await backend.poll(job_id)
        if status.done:
            return status
    raise AssertionError(f"{job_id} not done after {polls} polls")
