"""Runway's API: ``POST /v1/image_to_video`` or ``/v1/text_to_video`` → a task; ``GET /v1/tasks/{id}``.

Protocol (runwayml SDK 5.24, its ``types/``): ``Authorization: Bearer``, ``X-Runway-Version:
2024-11-06``; camelCase fields (``promptText``, ``promptImage``, ``ratio`` as pixels ``"1280:720"``,
``negativePrompt``); ``promptImage`` is a data URI or ``[{uri, position: first|last}]``. Task states
PENDING, THROTTLED, RUNNING (``progress``), SUCCEEDED (``output``: URLs that expire in 24–48 h —
reading the task again gives fresh ones), FAILED (``failure``, ``failureCode``; ``SAFETY.*`` is a
moderation refusal), CANCELLED. Tasks report ``estimatedCost`` and, when done, ``cost`` in credits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.http import (
    HttpLayer,
    LazyHttp,
    env_url,
    input_data_uri,
    provider_concurrency,
    secret,
    spec_resolution,
)
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

VERSION = "2024-11-06"
#: US dollars per Runway API credit (Runway sells API credits at one cent; not re-read from a price page).
USD_PER_CREDIT = 0.01
STATES = {
    "PENDING": JobState.QUEUED,
    "THROTTLED": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.FAILED,
}


class RunwayBackend(LazyHttp):
    """Generates clips with Runway's models (Gen-4 Turbo, Gen-4.5, and Veo 3.1 through Runway)."""

    name = "runway"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._outputs: dict[str, str] = {}

    def open_http(self) -> HttpLayer:
        base = env_url("RUNWAYML_BASE_URL", default="https://api.dev.runwayml.com")
        return HttpLayer(
            "runway",
            base,
            headers={"Authorization": f"Bearer {secret('RUNWAYML_API_SECRET')}", "X-Runway-Version": VERSION},
            concurrency=provider_concurrency("runway"),
        )

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        path = {"txt2vid": "/v1/text_to_video", "img2vid": "/v1/image_to_video"}.get(spec.mode)
        if path is None or spec.mode not in entry.endpoint:
            raise BackendError(f"{entry.id} does not do {spec.mode} on Runway")
        response = await self.http.request(
            "POST", path, submit=True, json=request_body(entry, spec), ok=(400,)
        )
        body = response.json()
        if response.status_code == 400:
            text = str(body.get("error") or body)
            refused = "moderation" in text.lower() or "safety" in text.lower()
            raise BackendError(f"runway: {text}", refused=refused)
        if not body.get("id"):
            raise BackendError(f"runway: the task was created without an id: {str(body)[:200]}")
        return str(body["id"])

    async def poll(self, job_id: str) -> JobStatus:
        task = await self.http.json("GET", f"/v1/tasks/{job_id}")
        status = str(task.get("status", ""))
        if status not in STATES:
            raise BackendError(f"runway: unknown task status {status!r}", retryable=True)
        state = STATES[status]
        charged = (task.get("cost") or {}).get("credits")
        cost = round(charged * USD_PER_CREDIT, 4) if isinstance(charged, (int, float)) else None
        if state is JobState.SUCCEEDED:
            outputs = task.get("output") or []
            if not outputs:
                return JobStatus(
                    JobState.FAILED,
                    message="runway: the task succeeded with no output",
                    cost=cost,
                    provider_job=job_id,
                )
            self._outputs[job_id] = str(outputs[0])
            return JobStatus(state, progress=1.0, cost=cost, provider_job=job_id)
        if state is JobState.FAILED:
            code = str(task.get("failureCode") or "")
            reason = task.get("failure") or ("the task was cancelled" if status == "CANCELLED" else "failed")
            if code.startswith("SAFETY"):
                state = JobState.REFUSED
            return JobStatus(
                state,
                message=f"runway: {reason}{f' ({code})' if code else ''}",
                cost=cost,
                provider_job=job_id,
            )
        message = (
            "throttled: over the account's concurrency, Runway starts it when a slot frees"
            if status == "THROTTLED"
            else None
        )
        progress = task.get("progress")
        return JobStatus(
            state,
            progress=float(progress) if isinstance(progress, (int, float)) else None,
            message=message,
            provider_job=job_id,
            throttled=status == "THROTTLED",
        )

    async def fetch(self, job_id: str, dest: Path) -> None:
        async def output_url(expired: bool) -> str:
            if expired or job_id not in self._outputs:  # Runway: fetch the task again for fresh URLs
                status = await self.poll(job_id)
                if status.state is not JobState.SUCCEEDED:
                    raise BackendError(
                        status.message or f"runway: task {job_id} has no output",
                        refused=status.state is JobState.REFUSED,
                    )
            return self._outputs[job_id]

        await self.http.download_result(output_url, dest)


def ratio(entry: ModelEntry, spec: ShotSpec) -> str:
    """Runway's pixel ratio for the shot's aspect (and resolution, where the model has more than one)."""
    resolution = spec_resolution(spec, entry)
    table: dict[str, str] = {**entry.extra.get("ratios", {}), **entry.extra.get(f"ratios_{resolution}", {})}
    if spec.aspect not in table:
        raise BackendError(f"{entry.id} makes {', '.join(table)} on Runway, not {spec.aspect}")
    return table[spec.aspect]


def request_body(entry: ModelEntry, spec: ShotSpec) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": entry.endpoint[spec.mode],
        "promptText": spec.prompt,
        "ratio": ratio(entry, spec),
        "duration": int(round(spec.duration)),
    }
    if spec.seed is not None:
        body["seed"] = spec.seed
    if spec.negative:
        body["negativePrompt"] = spec.negative
    if entry.audio is True:
        body["audio"] = bool(spec.audio)
    first, last = spec.input("image"), spec.input("end_image")
    if spec.mode == "img2vid":
        if first is None:
            raise BackendError(f"shot {spec.shot}: img2vid needs an image")
        if last is None:
            body["promptImage"] = input_data_uri(first, entry.image)
        else:
            body["promptImage"] = [
                {"uri": input_data_uri(first, entry.image), "position": "first"},
                {"uri": input_data_uri(last, entry.image), "position": "last"},
            ]
    return body
