"""A real HTTP server on 127.0.0.1 for provider fakes: routes, a request log, injected faults.

Each provider fake subclasses ``FakeProvider`` and registers routes that answer with the provider's
real request and response shapes. Faults are injected the way real services misbehave: 429 with
Retry-After and bursts of 5xx (the request is refused before any job is created), slow jobs,
refusals, result URLs that expire.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

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


class FakeProvider:
    """Subclass and call ``route`` in ``__init__``; use as a context manager to serve on 127.0.0.1."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.log: list[Request] = []
        self.faults = Faults()
        self._rng = random.Random(self.faults.seed)
        self._loss_rng = random.Random(self.faults.seed + 1)
        self.lost_answers: list[Request] = []  # POSTs carried out whose answer was dropped
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.started = time.monotonic()

    # -- setup --------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeProvider:
        fake = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

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
                if resp is LOST_ANSWER:
                    self.close_connection = True
                    return
                data, headers = resp.encoded()
                self.send_response(resp.status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # -- serving ------------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response:
        with self._lock:
            self.log.append(req)
            roll = self._rng.random()
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
