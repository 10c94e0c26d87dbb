"""Runway's API: ``POST /v1/image_to_video`` or ``/v1/text_to_video`` → a task; ``GET /v1/tasks/{id}``.

Protocol (runwayml SDK 5.24, its ``types/``): ``Authorization: Bearer``, ``X-Runway-Version:
2024-11-06``; camelCase fields (``promptText``, ``promptImage``, ``ratio`` as pixels ``"1280:720"``,
``negativePrompt``); ``promptImage`` is a data URI or ``[{uri, position: first|last}]``. Task states
PENDING, THROTTLED, RUNNING (``progress``), SUCCEEDED (``output``: URLs that expire in 24–48 h —
reading the task again gives fresh ones), FAILED (``failure``, ``failureCode``; ``SAFETY.*`` is a
moderation refusal), CANCELLED. Tasks report ``estimatedCost`` and, when done, ``cost`` in credits.
"""

from __future__ import annotations

from typing import Any

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.hosted import HostedBackend, state_words
from shotlist.backends.http import input_data_uri, spec_resolution
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

VERSION = "2024-11-06"
#: US dollars per Runway API credit (Runway sells API credits at one cent; not re-read from a price page).
USD_PER_CREDIT = 0.01


class RunwayBackend(HostedBackend):
    """Generates clips with Runway's models (Gen-4 Turbo, Gen-4.5, and Veo 3.1 through Runway)."""

    name = "runway"
    api_url = "https://api.dev.runwayml.com"
    api_url_env = ("RUNWAYML_BASE_URL",)
    key_env = ("RUNWAYML_API_SECRET",)
    headers = {"X-Runway-Version": VERSION}
    states = state_words(
        queued=("PENDING", "THROTTLED"),
        running="RUNNING",
        succeeded="SUCCEEDED",
        failed=("FAILED", "CANCELLED"),
    )
    #: A failure code SAFETY.* (or INPUT_PREPROCESSING.SAFETY.*) is Runway's moderation.
    refusal_markers = ("safety", "moderation")

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        path = {"txt2vid": "/v1/text_to_video", "img2vid": "/v1/image_to_video"}.get(spec.mode)
        if path is None or spec.mode not in entry.endpoint:
            raise BackendError(f"{entry.id} does not do {spec.mode} on Runway")
        return self.created(await self.create(path, request_body(entry, spec)), "id")

    def reason(self, body: Any) -> str | None:
        """Runway's 400: ``{error, issues: [{path, message}]}``."""
        if not isinstance(body, dict) or not body.get("error"):
            return None
        # the issues' messages only: their paths name fields such as contentModeration, no refusal
        issues = [str(i.get("message")) for i in body.get("issues") or [] if isinstance(i, dict)]
        return "; ".join([str(body["error"]), *issues])

    async def poll(self, job_id: str) -> JobStatus:
        task = await self.http.json("GET", f"/v1/tasks/{job_id}")
        status = str(task.get("status", ""))
        state = self.state(status)
        charged = (task.get("cost") or {}).get("credits")
        cost = round(charged * USD_PER_CREDIT, 4) if isinstance(charged, (int, float)) else None
        if state is JobState.SUCCEEDED:
            outputs = task.get("output") or []
            if not outputs:
                return self.without_video(
                    job_id, "runway: the task succeeded with no output", cost=cost, provider_job=job_id
                )
            return self.succeeded(job_id, str(outputs[0]), cost=cost, provider_job=job_id)
        if state is JobState.FAILED:
            code = str(task.get("failureCode") or "")
            reason = task.get("failure") or ("the task was cancelled" if status == "CANCELLED" else "failed")
            message = f"runway: {reason}{f' ({code})' if code else ''}"
            return self.failed(message, evidence=code, cost=cost, provider_job=job_id)
        progress = task.get("progress")
        return JobStatus(
            state,
            progress=float(progress) if isinstance(progress, (int, float)) else None,
            message="throttled: over the account's concurrency, Runway starts it when a slot frees"
            if status == "THROTTLED"
            else None,
            provider_job=job_id,
            throttled=status == "THROTTLED",
        )


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
