"""What the language-model fakes share: a script of replies, served in order, one per chat request.

A reply is a JSON answer, raw text, a refusal, an error status (a 429 with Retry-After), or any of them
after a delay (a timeout). When the script runs out, its last reply repeats — so "never validates" is
a script of one bad answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import FakeProvider, Request, Response


@dataclass
class Reply:
    """One scripted reply."""

    data: Any = None  # the answer, as JSON data
    text: str | None = None  # raw text instead (not JSON, a fenced block...)
    refusal: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    cut_off: bool = False  # the answer stopped at max tokens
    # the whole response body, reshaped: a proxy or local server that bends the protocol (bytes: sent as is)
    mangle: Callable[[dict[str, Any]], Any] | None = None

    def answer_text(self) -> str:
        return self.text if self.text is not None else json.dumps(self.data)


def rate_limited(retry_after: str = "1") -> Reply:
    return Reply(status=429, headers={"Retry-After": retry_after})


class ChatFake(FakeProvider):
    """A fake chat server with a script of replies and the chat requests it was sent."""

    def __init__(self, script: list[Reply], key: str) -> None:
        super().__init__()
        self.script = list(script)
        self.key = key
        self.chats: list[dict[str, Any]] = []  # the JSON body of every chat request, in order
        self.times: list[float] = []  # when each arrived (time.monotonic)
        self._next = 0
        self._slock = threading.Lock()
        self._mangle: Callable[[dict[str, Any]], Any] | None = None  # the reply being served's

    def dispatch(self, req: Request) -> Response:
        self._mangle = None
        response = super().dispatch(req)
        if self._mangle is None or response.status != 200:
            return response
        return Response(200, self._mangle(response.body))

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._slock:
            self.chats.append(body)
            self.times.append(time.monotonic())
            reply = self.script[min(self._next, len(self.script) - 1)]
            self._next += 1
            self._mangle = reply.mangle
        if reply.delay:
            time.sleep(reply.delay)
        return reply

    def request_problem(self, body: dict[str, Any]) -> str | None:
        """Why the provider would refuse this request body (a 400), or None."""
        raise NotImplementedError

    def take(
        self, req: Request, error: Callable[[int, str], Response]
    ) -> tuple[dict[str, Any], Reply] | Response:
        """A chat request's body, checked by the provider's rules, and the reply scripted for it; or the
        error the provider answers (``error`` shapes it: a 400 for a bad body, a scripted 429...)."""
        body, bad = body_of(req)
        if body is None:
            return bad or error(400, "bad body")
        if problem := self.request_problem(body):
            return error(400, problem)
        reply = self.next_reply(body)
        if reply.status != 200:
            response = error(reply.status, "Rate limit reached for requests")
            response.headers.update(reply.headers)
            return response
        return body, reply

    @staticmethod
    def tokens(value: Any) -> int:
        return max(1, len(value if isinstance(value, str) else json.dumps(value)) // 4)


def body_of(req: Request) -> tuple[dict[str, Any] | None, Response | None]:
    """The request's JSON object, or the 400 a real API gives for a body that is none."""
    try:
        body = req.json()
    except ValueError:
        return None, Response(
            400, {"error": {"message": "We could not parse the JSON body of your request."}}
        )
    if not isinstance(body, dict):
        return None, Response(400, {"error": {"message": "the request body must be a JSON object"}})
    return body, None
