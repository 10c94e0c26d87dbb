"""The declarative base of the hosted adapters: what each provider declares, and what they all do alike.

An adapter declares its provider's name, where its API lives (a default URL and the environment
variables that move it: a proxy, a test server), the environment variables holding its key and the
header that carries it, its table of job states and its refusal markers. It writes only what is its
own: the request body, where a finished job keeps its video link, what the job says it cost.

What every adapter gets from here:
- the provider's HttpLayer, opened on first use (a backend that is never asked for anything needs no key);
- the provider's state words as JobState (a word the adapter does not know is an error worth retrying,
  never a guess);
- one meaning of "refused": the provider refused this content (moderation). A submit it turns down for
  that raises ``BackendError(refused=True)`` with the provider's reason; a job it stops for that polls
  as ``JobState.REFUSED``. Anything else that ends a job without a video is FAILED;
- a submit answered without a job id is a SubmitUnknown (a job may exist and be billed), never a retry;
- fetch by the job's result link: the link the last poll saw or, once it has expired, a fresh read of
  the same job. A finished job is never submitted again to get its video.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from shotlist.backends.base import BackendError, JobGone, JobState, JobStatus, SubmitUnknown
from shotlist.backends.http import HttpLayer, env_url, provider_concurrency, secret

Words = str | tuple[str, ...]


def state_words(
    *, queued: Words = (), running: Words = (), succeeded: Words = (), failed: Words = ()
) -> dict[str, JobState]:
    """A provider's job-state words, by the JobState each one means."""
    table = {
        JobState.QUEUED: queued,
        JobState.RUNNING: running,
        JobState.SUCCEEDED: succeeded,
        JobState.FAILED: failed,
    }
    return {
        word: state
        for state, words in table.items()
        for word in ((words,) if isinstance(words, str) else words)
    }


class HostedBackend:
    """Base of the adapters for hosted video APIs; subclasses declare the class attributes below."""

    name: str  # the provider, as the catalog, the logs and the messages name it
    #: The provider's own API root, and the environment variables that point it elsewhere (first set wins).
    api_url: ClassVar[str] = ""
    api_url_env: ClassVar[tuple[str, ...]] = ()
    #: The environment variables holding the key (the first one set), and the header that carries it.
    key_env: ClassVar[tuple[str, ...]] = ()
    auth_header: ClassVar[str] = "Authorization"
    auth_scheme: ClassVar[str] = "Bearer"  # "" sends the bare key
    headers: ClassVar[Mapping[str, str]] = {}  # sent with every request (an API version)
    #: The provider's job states as shotlist's.
    states: ClassVar[Mapping[str, JobState]] = {}
    #: Words (any case) that mark a provider's reason or code as a refusal of the content.
    refusal_markers: ClassVar[tuple[str, ...]] = ()
    #: Error statuses of a submit whose body carries the provider's reason for turning it down.
    rejected: ClassVar[tuple[int, ...]] = (400, 422)
    poll_interval: float | None = None  # None: the engine paces polls by the model's latency

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.links: dict[str, str] = {}  # job id → its video's link, as the last read of the job gave it
        self._layers: dict[tuple[str, tuple[str, ...]], HttpLayer] = {}
        self._http: HttpLayer | None = None
        self.sleep: Callable[[float], Awaitable[None]] = (
            asyncio.sleep
        )  # tests replace it; given to each layer

    # -- the provider's HTTP layer --------------------------------------------------------------
    def api_root(self) -> str:
        return env_url(*self.api_url_env, default=self.api_url)

    def layer(self, url: str, key_env: Sequence[str], concurrency: int | None = None) -> HttpLayer:
        """The HttpLayer for one API root and key, opened on first use and kept until ``aclose``."""
        slot = (url, tuple(key_env))
        if slot not in self._layers:
            headers = dict(self.headers)
            if key_env:
                headers[self.auth_header] = f"{self.auth_scheme} {secret(*key_env)}".strip()
            layer = HttpLayer(
                self.name, url, headers=headers, concurrency=concurrency or provider_concurrency(self.name)
            )
            layer.sleep = self.sleep
            self._layers[slot] = layer
        return self._layers[slot]

    @property
    def http(self) -> HttpLayer:
        """The provider's HttpLayer: its API root, its key."""
        if self._http is None:
            self._http = self.layer(self.api_root(), self.key_env)
        return self._http

    def http_for(self, job_id: str) -> HttpLayer:
        """The layer that serves a job (the provider's one; a provider with regions picks the job's)."""
        return self.http

    async def aclose(self) -> None:
        for layer in self._layers.values():
            await layer.aclose()
        self._layers.clear()
        self._http = None

    # -- reading the provider's answers ---------------------------------------------------------
    def state(self, word: object) -> JobState:
        """The provider's state word as a JobState; a word this adapter does not know is a retryable error."""
        state = self.states.get(str(word))
        if state is None:
            raise BackendError(f"{self.name}: unknown job status {word!r}", retryable=True)
        return state

    def refusal(self, evidence: str) -> bool:
        """Whether the provider's reason (or error code) says it refused the content."""
        text = evidence.lower()
        return any(marker.lower() in text for marker in self.refusal_markers)

    def failed(self, message: str, *, evidence: str | None = None, **fields: Any) -> JobStatus:
        """A job that ended without a video: REFUSED when ``evidence`` (default: the message) is a refusal."""
        refused = self.refusal(message if evidence is None else evidence)
        return JobStatus(JobState.REFUSED if refused else JobState.FAILED, message=message, **fields)

    def succeeded(self, job_id: str, link: str, **fields: Any) -> JobStatus:
        """A finished job; its video's link is kept for ``fetch``."""
        self.links[job_id] = link
        return JobStatus(JobState.SUCCEEDED, progress=1.0, **fields)

    def without_video(self, job_id: str, message: str, **fields: Any) -> JobStatus:
        """A job the provider says succeeded but whose answer names no video: it ran and is billed, so it
        is no failure to send again but a paid job whose clip cannot be had (``fetch`` says so)."""
        self.links.pop(job_id, None)
        return JobStatus(JobState.SUCCEEDED, progress=1.0, message=message, **fields)

    def reason(self, body: Any) -> str | None:
        """The provider's own words for turning a request down, from its error body (None: not its shape)."""
        return None

    def created(self, answer: Any, *path: str) -> str:
        """The new job's id at ``path`` in a submit's answer. An answer without one is a SubmitUnknown:
        the provider may have made (and may bill) a job that shotlist cannot name."""
        value = answer
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not value:
            raise SubmitUnknown(
                f"{self.name}: the submit was answered without a job id ({str(answer)[:200]}); the job "
                "may exist and may be charged. shotlist will not resend it blindly"
            )
        return str(value)

    # -- submit and fetch -----------------------------------------------------------------------
    async def create(
        self,
        path: str,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        http: HttpLayer | None = None,
    ) -> Any:
        """POST a paid job; the provider's JSON answer. A request it turns down raises BackendError with
        its reason, ``refused=True`` when that reason is a refusal of the content."""
        layer = http or self.http
        response = await layer.request(
            "POST", path, submit=True, json=body, headers=dict(headers or {}), ok=self.rejected
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code < 400:
            return data
        reason = self.reason(data)
        message = f"{self.name}: {reason}" if reason else layer.describe(response)
        raise BackendError(message, refused=self.refusal(reason or response.text))

    async def result_url(self, job_id: str, expired: bool) -> str:
        """A finished job's video link: the one its last read gave, or (expired, or never read by this
        process) the one a fresh read of the job gives."""
        message = None
        if expired or job_id not in self.links:
            status = await self.poll(job_id)
            if status.state is not JobState.SUCCEEDED:
                raise BackendError(
                    status.message or f"{self.name}: job {job_id} has no video",
                    refused=status.state is JobState.REFUSED,
                )
            message = status.message
        link = self.links.get(job_id)
        if link is None:
            raise JobGone(message or f"{self.name}: job {job_id} finished without a video link")
        return link

    async def download(self, job_id: str, dest: Path) -> str:
        """Download a finished job's clip to ``dest``; its sha256."""
        return await self.http_for(job_id).download_result(functools.partial(self.result_url, job_id), dest)

    async def fetch(self, job_id: str, dest: Path) -> None:
        await self.download(job_id, dest)

    async def poll(self, job_id: str) -> JobStatus:
        raise NotImplementedError
