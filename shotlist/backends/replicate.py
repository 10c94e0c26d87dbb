"""Replicate predictions on official models: create, poll (or hold with ``Prefer: wait``), download.

``POST /v1/models/{owner}/{name}/predictions`` with ``{"input": …}`` → a prediction; ``GET
/v1/predictions/{id}`` until ``succeeded`` (``output``: the video's URL), ``failed`` (``error``) or
``canceled``/``aborted``. Replicate deletes an API prediction's files after an hour, so the clip is
downloaded as soon as the engine fetches it. Input images travel as data URIs (Replicate recommends
them under 1 MB; the catalog's limit re-encodes larger ones).
"""

from __future__ import annotations

from typing import Any

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.hosted import HostedBackend, state_words
from shotlist.backends.http import input_data_uri, mapped_input
from shotlist.catalog import get_model
from shotlist.spec import ShotSpec


class ReplicateBackend(HostedBackend):
    """Generates clips with Replicate's official video models."""

    name = "replicate"
    api_url = "https://api.replicate.com"
    api_url_env = ("REPLICATE_API_BASE_URL", "REPLICATE_BASE_URL")
    key_env = ("REPLICATE_API_TOKEN",)
    states = state_words(
        queued="starting",
        running="processing",
        succeeded="succeeded",
        failed=("failed", "canceled", "aborted"),
    )
    #: How a flagged input or output reads in a failed prediction (error code E005, "flagged as sensitive").
    refusal_markers = ("E005", "flagged as sensitive", "nsfw", "content policy", "safety")

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        model = entry.endpoint.get(spec.mode)
        if model is None:
            raise BackendError(f"{entry.id} has no endpoint for {spec.mode}")
        body = {"input": mapped_input(entry, spec, spec.mode, image=lambda m: input_data_uri(m, entry.image))}
        wait = int(entry.extra.get("prefer_wait", 0))
        prediction = await self.create(
            f"/v1/models/{model}/predictions", body, headers={"Prefer": f"wait={wait}"} if wait else {}
        )
        job = self.created(prediction, "id")
        if prediction.get("status") == "succeeded":  # Prefer: wait held the request until it finished
            self._status(prediction)
        return job

    def reason(self, body: Any) -> str | None:
        detail = body.get("detail") if isinstance(body, dict) else None
        return str(detail).replace("\n", " ") if detail else None

    async def poll(self, job_id: str) -> JobStatus:
        return self._status(await self.http.json("GET", f"/v1/predictions/{job_id}"))

    def _status(self, prediction: dict[str, Any]) -> JobStatus:
        """A prediction as a JobStatus; keeps a finished one's output URL for ``fetch``."""
        pid = str(prediction.get("id", ""))
        status = str(prediction.get("status", ""))
        state = self.state(status)
        if state is JobState.SUCCEEDED:
            url = video_url(prediction.get("output"))
            if url is None:
                return self.without_video(
                    pid,
                    f"replicate: prediction {pid} succeeded with no video "
                    f"output: {str(prediction.get('output'))[:200]}",
                    provider_job=pid,
                )
            return self.succeeded(pid, url, provider_job=pid)
        if state is JobState.FAILED:
            text = str(prediction.get("error") or f"the prediction was {status}")
            return self.failed(f"replicate: {text}", evidence=text, provider_job=pid)
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
