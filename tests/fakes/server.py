"""A real HTTP server on 127.0.0.1 for provider fakes: routes, a request log, injected faults.

Each provider fake subclasses ``FakeProvider`` and registers routes that answer with the provider's
real request and response shapes. Faults are injected the way real services misbehave: 429 with
Retry-After and bursts of 5xx (the request is refused before any job is created), answers lost after
the work was done (the connection drops), slow jobs, refusals, result URLs that expire.

Every fake also answers the questions the backend contract asks of it (tests/test_backend_contract.py):
how many jobs it made (``submissions``: what a user is billed for), which requests were submits and
which were downloads, and it can make every result link it handed out expire.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (to measure a client's waits)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes | Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        if isinstance(self.body, bytes):
            return self.body, self.headers
        return json.dumps(self.body).encode(), {"Content-Type": "application/json", **self.headers}


Handler = Callable[[Request, re.Match[str]], Response]
LOST_ANSWER = Response(0)  # a route's answer that is never sent: the connection closes instead


def mp4(data: bytes) -> Response:
    """A result file."""
    return Response(200, data, {"Content-Type": "video/mp4"})


def access_denied() -> Response:
    """What an object store answers for a presigned link whose time is up."""
    return Response(
        403,
        b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        {"Content-Type": "application/xml"},
    )


@dataclass
class Faults:
    """Misbehaviour to inject before routes run. Rates are fractions of requests (seeded, reproducible)."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    retry_after: str = "0"
    seed: int = 7
    # A POST that the service carries out (a job is created) but whose answer never leaves: the
    # connection closes first, as when a network drops after the request was sent.
    rate_lost_answer: float = 0.0


@dataclass
class _Trap:
    """The next ``times`` requests of one method whose path matches ``pattern``, answered with
    ``response`` instead of being carried out (a truncation trap carries them out, then cuts the answer)."""

    method: str
    pattern: re.Pattern[str]
    times: int
    response: Response | None = None

    def springs(self, req: Request) -> bool:
        if self.times > 0 and req.method == self.method and self.pattern.search(req.path):
            self.times -= 1
            return True
        return False


class FakeProvider:
    """Subclass and call ``route`` in ``__init__``; use as a context manager to serve on 127.0.0.1."""

    #: The method and path pattern of the requests that create paid work, of those that read a job's
    #: status, and of those for result files.
    submit_route: ClassVar[tuple[str, str]] = ("POST", r"$^")
    poll_route: ClassVar[tuple[str, str]] = ("GET", r"$^")
    download_route: ClassVar[tuple[str, str]] = ("GET", r"$^")

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.log: list[Request] = []
        self.faults = Faults()
        self._rng = random.Random(self.faults.seed)
        self._loss_rng = random.Random(self.faults.seed + 1)
        self.lost_answers: list[Request] = []  # POSTs carried out whose answer was dropped
        self._lock = threading.Lock()
        self._throttles: list[_Trap] = []
        self._losses: list[_Trap] = []
        self._cuts: list[_Trap] = []
        self.server: ThreadingHTTPServer | None = None
        self.started = time.monotonic()

    # -- setup --------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def rate_limit(self, method: str, pattern: str, *, times: int = 1, retry_after: str | None = "1") -> None:
        """Answer the next ``times`` such requests with 429 and ``Retry-After`` (none when None): nothing is made."""
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        self.answer(method, pattern, Response(429, {"detail": "rate limited"}, headers), times=times)

    def answer(self, method: str, pattern: str, response: Response, *, times: int = 1) -> _Trap:
        """Answer the next ``times`` such requests with ``response`` instead of carrying them out (a proxy's
        error page, an answer of an unexpected shape); the trap, whose ``times`` a test may set to 0."""
        trap = _Trap(method, re.compile(pattern), times, response)
        self._throttles.append(trap)
        return trap

    def truncate(self, method: str, pattern: str, *, times: int = 1) -> None:
        """Carry out the next ``times`` such requests, then send half the answer's body and close the
        connection (its Content-Length promises the whole): a download cut short."""
        self._cuts.append(_Trap(method, re.compile(pattern), times))

    def lose_answers(self, method: str, pattern: str, *, times: int = 1) -> None:
        """Carry out the next ``times`` such requests, then drop the connection before answering."""
        self._losses.append(_Trap(method, re.compile(pattern), times))

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        fake = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # answer headers and body without Nagle's delay (else every request waits ~40 ms for an ACK)
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                resp = fake.dispatch(req)
                if resp is LOST_ANSWER or fake.sprung(fake._losses, req):
                    self.close_connection = True  # the work is done; its answer never arrives
                    return
                data, headers = resp.encoded()
                self.send_response(resp.status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if resp.status < 300 and fake.sprung(fake._cuts, req):
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is None:
            return
        # serve_forever looks at its stop flag every 0.5 s; set it and wake the loop now
        self.server._BaseServer__shutdown_request = True  # type: ignore[attr-defined]
        host, port = self.server.server_address[:2]
        with contextlib.suppress(OSError), socket.create_connection((str(host), int(port)), timeout=1):
            pass
        self.server.shutdown()
        self.server.server_close()

    # -- serving ------------------------------------------------------------------------------
    def sprung(self, traps: list[_Trap], req: Request) -> _Trap | None:
        with self._lock:
            return next((t for t in traps if t.springs(req)), None)

    def dispatch(self, req: Request) -> Response:
        with self._lock:
            self.log.append(req)
            roll = self._rng.random()
        trapped = self.sprung(self._throttles, req)
        if trapped is not None and trapped.response is not None:
            return trapped.response
        if roll < self.faults.rate_429:
            return Response(429, {"detail": "rate limited"}, {"Retry-After": self.faults.retry_after})
        if roll < self.faults.rate_429 + self.faults.rate_5xx:
            return Response(503, {"detail": "overloaded"}, {"Retry-After": self.faults.retry_after})
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                try:
                    resp = handler(req, m)
                except Exception as exc:  # a fake's bug should show as a 500 with the reason, not hang
                    return Response(500, {"detail": f"fake error: {exc!r}"})
                return self._answer_lost(req, resp)
        return Response(404, {"detail": f"no route {req.method} {req.path}"})

    def _answer_lost(self, req: Request, resp: Response) -> Response:
        if req.method == "POST" and resp.status < 300 and self.faults.rate_lost_answer:
            with self._lock:
                lost = self._loss_rng.random() < self.faults.rate_lost_answer
            if lost:
                self.lost_answers.append(req)
                return LOST_ANSWER
        return resp

    def calls(self, method: str, pattern: str) -> list[Request]:
        """Logged requests matching a method and a path regex."""
        rx = re.compile(pattern)
        return [r for r in self.log if r.method == method and rx.search(r.path)]

    # -- what the backend contract asks of every provider fake ---------------------------------
    def submits(self) -> list[Request]:
        """Every request that asked for paid work, answered or not."""
        return self.calls(*self.submit_route)

    @property
    def submissions(self) -> int:
        """Jobs made: what a user would be billed for."""
        raise NotImplementedError

    def downloads(self) -> list[Request]:
        """Every request for a result file."""
        return self.calls(*self.download_route)

    def expire_links(self) -> None:
        """Every result link handed out so far stops working, as signed URLs do when their time is up."""
        raise NotImplementedError

    def forget(self) -> None:
        """A restart that loses every job: reads of them answer as for an unknown id (what was made stays
        counted in ``submissions``: it was paid for)."""
        raise NotImplementedError
