"""Replicate predictions on official models: create, poll (or hold with ``Prefer: wait``), download.

``POST /v1/models/{owner}/{name}/predictions`` with ``{"input": …}`` → a prediction; ``GET
/v1/predictions/{id}`` until ``succeeded`` (``output``: the video's URL), ``failed`` (``error``) or
``canceled``/``aborted``. Replicate deletes an API prediction's files after an hour, so the clip is
downloaded as soon as the engine fetches it. Input images travel as data URIs (Replicate recommends
them under 1 MB; the catalog's limit re-encodes larger ones).
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
    mapped_input,
    provider_concurrency,
    secret,
)
from shotlist.catalog import get_model
from shotlist.spec import ShotSpec

#: How a flagged input or output reads in a failed prediction (Replicate error code E005, "flagged as sensitive").
REFUSAL_MARKERS = ("E005", "flagged as sensitive", "nsfw", "content policy", "safety")
STATES = {
    "starting": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "canceled": JobState.FAILED,
    "aborted": JobState.FAILED,
}


class ReplicateBackend(LazyHttp):
    """Generates clips with Replicate's official video models."""

    name = "replicate"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._outputs: dict[str, str] = {}

    def open_http(self) -> HttpLayer:
        base = env_url("REPLICATE_API_BASE_URL", "REPLICATE_BASE_URL", default="https://api.replicate.com")
        return HttpLayer(
            "replicate",
            base,
            headers={"Authorization": f"Bearer {secret('REPLICATE_API_TOKEN')}"},
            concurrency=provider_concurrency("replicate"),
        )

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        model = entry.endpoint.get(spec.mode)
        if model is None:
            raise BackendError(f"{entry.id} has no endpoint for {spec.mode}")
        body = {"input": mapped_input(entry, spec, spec.mode, image=lambda m: input_data_uri(m, entry.image))}
        wait = int(entry.extra.get("prefer_wait", 0))
        headers = {"Prefer": f"wait={wait}"} if wait else {}
        prediction = await self.http.json(
            "POST", f"/v1/models/{model}/predictions", submit=True, json=body, headers=headers
        )
        if not isinstance(prediction, dict) or not prediction.get("id"):
            raise BackendError(
                f"replicate: {model} answered without a prediction id: {str(prediction)[:200]}"
            )
        self._remember(prediction)
        return str(prediction["id"])

    async def poll(self, job_id: str) -> JobStatus:
        prediction = await self.http.json("GET", f"/v1/predictions/{job_id}")
        return self._remember(prediction)

    async def fetch(self, job_id: str, dest: Path) -> None:
        async def output_url(expired: bool) -> str:
            if expired or job_id not in self._outputs:
                status = await self.poll(job_id)
                if status.state is not JobState.SUCCEEDED:
                    raise BackendError(
                        status.message or f"replicate: prediction {job_id} has no output",
                        refused=status.state is JobState.REFUSED,
                    )
            return self._outputs[job_id]

        await self.http.download_result(output_url, dest)

    def _remember(self, prediction: dict[str, Any]) -> JobStatus:
        """A prediction as a JobStatus; keeps a finished one's output URL for ``fetch``."""
        pid = str(prediction.get("id", ""))
        status = str(prediction.get("status", ""))
        if status not in STATES:
            raise BackendError(f"replicate: unknown prediction status {status!r}", retryable=True)
        state = STATES[status]
        error = prediction.get("error")
        if state is JobState.SUCCEEDED:
            url = video_url(prediction.get("output"))
            if url is None:
                return JobStatus(
                    JobState.FAILED,
                    message=f"replicate: prediction {pid} succeeded with no video "
                    f"output: {str(prediction.get('output'))[:200]}",
                    provider_job=pid,
                )
            self._outputs[pid] = url
            return JobStatus(state, progress=1.0, provider_job=pid)
        if state is JobState.FAILED:
            text = str(error or f"the prediction was {status}")
            if any(marker.lower() in text.lower() for marker in REFUSAL_MARKERS):
                state = JobState.REFUSED
            return JobStatus(state, message=f"replicate: {text}", provider_job=pid)
        return JobStatus(state, provider_job=pid)


def video_url(output: Any) -> str | None:
    """The video in a prediction's output: one URL string (Seedance, Hailuo) or the first of a list."""
    if isinstance(output, str) and output.startswith(("http://", "https://", "data:")):
        return output
    if isinstance(output, list) and output:
        return video_url(output[0])
    if isinstance(output, dict):
        return video_url(output.get("video") or output.get("url"))
    return None
