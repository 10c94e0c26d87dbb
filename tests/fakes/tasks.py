"""What the fakes of Ark, Kling, MiniMax and Veo share: tasks that finish after some reads, and result
links signed for one request that expire (each fake answers a dead link as its provider does).

A prompt steers a task the way content steers the real service: ``BLOCKED_INPUT`` is refused when
it is submitted, ``REFUSE_OUTPUT`` runs and is then stopped by output moderation.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.server import FakeProvider

BLOCKED_INPUT, REFUSE_OUTPUT = "BLOCKED_INPUT", "REFUSE_OUTPUT"


@dataclass
class Task:
    """One task a fake was asked for: the request, how many reads it still needs, where it stands."""

    id: str
    body: dict[str, Any]
    polls_left: int
    status: str
    kind: str = ""  # the model (Ark, Veo) or the kind of task (Kling) it was submitted as
    file: str = ""  # its result: a link's signature (Kling, Veo) or a file id (MiniMax)
    message: str = ""
    error: dict[str, str] | None = None
    tokens: int = 0


class TaskFake(FakeProvider):
    """A provider whose tasks take ``polls`` reads to finish and serve ``video`` (or ``video_for(body)``)."""

    def __init__(self, key: str, *, polls: int, video: bytes) -> None:
        super().__init__()
        self.key = key
        self.polls = polls
        self.video = video
        self.video_for: Callable[[dict[str, Any]], bytes] | None = None  # a clip made to the request, if set
        self.tasks: dict[str, Task] = {}
        self.forgotten: list[Task] = []  # tasks a restart lost (made, and paid for)
        self.links: dict[str, dict[str, Any]] = {}  # a link's signature → the body of the request it serves
        self.expired: set[str] = set()
        self.stale_reads = 0  # how many next links are handed out already dead (expired before the download)
        self._ids = itertools.count(1)
        self._tlock = threading.Lock()

    @property
    def submissions(self) -> int:
        return len(self.tasks) + len(self.forgotten)

    def forget(self) -> None:
        with self._tlock:
            self.forgotten += self.tasks.values()
            self.tasks.clear()

    def expire_links(self) -> None:
        self.expired.update(self.links)

    @property
    def cdn(self) -> str:
        """Where result links live: another origin than the API (``localhost``), as a CDN or a bucket is."""
        return self.url.replace("127.0.0.1", "localhost")

    def sign(self, body: dict[str, Any], current: str = "") -> str:
        """A link to the result of the task ``body`` asked for: ``current`` while it works, else a new one."""
        sig = current if current in self.links and current not in self.expired else secrets.token_hex(8)
        self.links[sig] = body
        if self.stale_reads > 0:
            self.stale_reads -= 1
            self.expired.add(sig)
        return sig

    def result(self, sig: str) -> bytes | None:
        """The clip a live link serves; None for a link that is unknown or has expired."""
        if sig not in self.links or sig in self.expired:
            return None
        return self.video_for(self.links[sig]) if self.video_for else self.video
