"""The backend protocol: submit a ShotSpec → job id, poll → status, fetch → a video file.

A backend is small on purpose (like httpx's one-method transport). The engine does everything
around it: it journals the intent before ``submit`` and the job id after, retries polls, verifies
and stores the fetched file, records the cost. A backend never writes into the store itself.

What a backend's answers mean to the engine (a paid job is forgotten only when the provider says it
ended):

- a ``JobStatus`` that is ``done``: the job ended (succeeded, failed, refused);
- ``JobGone`` (or a BackendError with ``status`` 404/410) from ``poll`` or ``fetch``: the provider
  does not know the job, or its clip can never be had — the engine records a lost job;
- ``BackendError(refused=True)``: the provider's moderation refused the request;
- any other BackendError while polling or fetching (a timeout, 5xx, a dropped connection): trouble,
  never an ending — the job stays journaled and the next build asks about it again;
- ``SubmitUnknown`` from ``submit``: the request may have reached the provider; never resent blindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from shotlist.errors import ShotlistError
from shotlist.spec import ShotSpec


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # may be retried as a new take by the user; never automatically for money
    REFUSED = "refused"  # moderation / content policy: terminal for this take


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands. ``cost`` is what the provider says it charged, when it says."""

    state: JobState
    progress: float | None = None  # 0..1 when known
    message: str | None = None  # the provider's reason on failure or refusal (no secrets)
    cost: float | None = None  # US dollars reported by the provider
    provider_job: str | None = None  # the provider's own id, when it differs from the job id
    position: int | None = None  # QUEUED: how many jobs are ahead of it, when the provider says
    throttled: bool = False  # QUEUED: held back by the account's concurrency limit
    # The job now runs under another id (a local backend moved it off a dead server before it ran):
    # the engine journals the new id and polls that.
    moved_to: str | None = None

    @property
    def done(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.REFUSED)


class BackendError(ShotlistError):
    """A backend could not do what was asked. ``retryable`` says whether trying again can help,
    ``refused`` that the provider's moderation said no, ``status`` the HTTP status of the answer."""

    def __init__(
        self, message: str, *, retryable: bool = False, refused: bool = False, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.refused = refused
        self.status = status

    @property
    def gone(self) -> bool:
        """The provider says the job (or its clip) does not exist: asking again cannot help."""
        return self.status in (404, 410)


class JobGone(BackendError):
    """The provider does not know the job (any more), or its clip can never be downloaded."""

    @property
    def gone(self) -> bool:
        return True


class SubmitUnknown(BackendError):
    """A submit whose outcome is unknown (the connection dropped after sending): never resent blindly."""


@runtime_checkable
class Backend(Protocol):
    """What the engine needs from a generator of clips."""

    name: str
    #: Seconds between polls of one job; None lets the engine pace polls by the model's typical latency.
    poll_interval: float | None

    async def submit(self, spec: ShotSpec) -> str:
        """Start generating ``spec``; return a job id that ``poll`` and ``fetch`` accept (also after a restart)."""
        ...

    async def poll(self, job_id: str) -> JobStatus:
        """The job's current status."""
        ...

    async def fetch(self, job_id: str, dest: Path) -> None:
        """Download the finished clip to ``dest`` (a temporary path the engine then verifies and stores)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class Recoverable(Protocol):
    """A backend that can look a job up by the take key it sent as the provider's client reference."""

    async def recover(self, spec: ShotSpec) -> str | None:
        """The job id of an earlier submit of ``spec`` whose answer was lost, or None if the provider never saw it."""
        ...
