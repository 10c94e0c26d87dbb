"""MiniMax Hailuo: task → file id → download URL.

``POST /v1/video_generation`` → ``task_id``; ``GET /v1/query/video_generation?task_id=`` → ``status``
(Queueing, Preparing, Processing, Success, Fail) and, on success, ``file_id``; ``GET
/v1/files/retrieve?file_id=`` → ``file.download_url`` (time-limited; asking again gives a fresh one).
MiniMax answers most errors with HTTP 200 and a non-zero ``base_resp.status_code``: 1002 is its rate
limit (nothing was created, so it is retried like a 429), 1026/1027 are sensitive content (a
refusal, never retried). The camera travels inside the prompt as bracketed commands ([Pan left]),
which the minimax prompt dialect writes.
"""

from __future__ import annotations

from typing import Any

from shotlist.backends.base import BackendError, JobGone, JobState, JobStatus
from shotlist.backends.hosted import HostedBackend, state_words
from shotlist.backends.http import input_data_uri, job_parts, spec_resolution
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

RATE_LIMITED = {1002}
#: "invalid params" — a query's only parameter is the task id, so on a query it means MiniMax does not know the task.
UNKNOWN_TASK = {2013}
SENSITIVE = {1026, 1027}  # the provider refused the content (input or output moderation)


def resolution(spec: ShotSpec, entry: ModelEntry) -> str:
    """The shot's resolution, moved up where a mode has fewer sizes (Hailuo-02 makes 512P only from an image)."""
    wanted = spec_resolution(spec, entry)
    allowed = entry.extra.get(f"{spec.mode}_resolutions")
    return wanted if not allowed or wanted in allowed else str(allowed[0])


def generation_body(spec: ShotSpec, entry: ModelEntry) -> dict[str, Any]:
    """The video_generation request for a shot."""
    body: dict[str, Any] = {
        "model": entry.endpoint.get(spec.mode) or entry.endpoint["*"],
        "prompt": spec.prompt,
        "duration": entry.wire_duration(spec.duration),
        "resolution": resolution(spec, entry),
        "prompt_optimizer": False,  # the rendered prompt is the recipe: do not let the service rewrite it
    }
    for inp in spec.inputs:
        if inp.role == "image":
            body["first_frame_image"] = input_data_uri(inp, entry.image)
        elif inp.role == "end_image":
            body["last_frame_image"] = input_data_uri(inp, entry.image)
    refs = [input_data_uri(i, entry.image) for i in spec.inputs if i.role == "ref"]
    if refs:
        body["subject_reference"] = [{"type": "character", "image": refs}]
    return body


class MiniMaxBackend(HostedBackend):
    """Hailuo models on MiniMax's own API."""

    name = "minimax"
    poll_interval: float | None = 10.0
    api_url = "https://api.minimax.io"
    api_url_env = ("SHOTLIST_MINIMAX_URL",)
    key_env = ("MINIMAX_API_KEY",)
    states = state_words(
        queued=("Queueing", "Preparing"), running="Processing", succeeded="Success", failed="Fail"
    )

    async def _call(
        self, method: str, url: str, *, submit: bool = False, task: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """A request whose ``base_resp`` is checked: its rate limit retried, its other errors raised
        (``task=True``: a task's own failure is returned for ``poll`` to read, not raised)."""
        policy = self.http.policy
        for attempt in range(policy.attempts):
            data = await self.http.object(method, url, submit=submit, **kwargs)
            code, message = _error(data)
            if code == 0 or (task and data.get("status") == "Fail"):
                return data
            if code in UNKNOWN_TASK or (code and "not found" in message.lower()):
                raise _Unknown(message)
            if code not in RATE_LIMITED:
                raise BackendError(message, refused=code in SENSITIVE)
            if attempt + 1 < policy.attempts:
                await self.http.sleep(policy.delay(attempt, None))
        raise BackendError(f"{message} (gave up after {policy.attempts} tries)", retryable=True)

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        data = await self._call(
            "POST", "/v1/video_generation", json=generation_body(spec, entry), submit=True
        )
        return "::".join((spec.model, self.created(data, "task_id")))

    async def _query(self, job_id: str) -> dict[str, Any]:
        _, task = job_parts(job_id, 2, self.name)
        try:
            return await self._call("GET", "/v1/query/video_generation", params={"task_id": task}, task=True)
        except _Unknown as exc:
            raise JobGone(f"{exc} (MiniMax does not know task {task})") from None

    async def poll(self, job_id: str) -> JobStatus:
        data = await self._query(job_id)
        state = self.state(data.get("status"))
        provider_job = str(data.get("task_id") or "") or None
        if state is JobState.FAILED:
            code, message = _error(data)
            return JobStatus(
                JobState.REFUSED if code in SENSITIVE else state,
                message=message if code else "the task failed",
                provider_job=provider_job,
            )
        return JobStatus(state, provider_job=provider_job)

    async def result_url(self, job_id: str, expired: bool) -> str:
        """The task's file, and a download link for it (each retrieve signs a fresh one)."""
        file_id = (await self._query(job_id)).get("file_id")
        if not file_id:
            raise JobGone(f"MiniMax task {job_id} succeeded with no file_id")
        data = await self._call("GET", "/v1/files/retrieve", params={"file_id": file_id})
        url = (data.get("file") or {}).get("download_url")
        if not url:
            raise BackendError(f"MiniMax file {file_id} has no download_url")
        return str(url)


def _error(data: dict[str, Any]) -> tuple[int, str]:
    """MiniMax's ``base_resp``: its status code (0: success) and the message naming it."""
    base = data.get("base_resp") or {}
    code = int(base.get("status_code") or 0)
    return code, f"MiniMax error {code}: {base.get('status_msg') or 'no message'}"


class _Unknown(BackendError):
    """MiniMax does not know what was asked about (a task, a file)."""
