"""Google Veo through the Gemini API: a long-running operation.

``POST /v1beta/models/{model}:predictLongRunning`` with ``{instances:[{prompt, image, lastFrame,
referenceImages}], parameters:{…}}`` → an operation ``{name}``; ``GET /v1beta/{name}`` until
``done``; the clip is ``response.generateVideoResponse.generatedSamples[0].video.uri``, downloaded
with the key. An operation that is done with no sample and ``raiMediaFilteredCount`` set was
filtered by Google's responsible-AI checks: a refusal, never retried. The Gemini API takes no seed,
fps or audio switch (the SDK refuses them outside Vertex), so the catalog says so.
"""

from __future__ import annotations

import base64
from typing import Any

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.hosted import HostedBackend
from shotlist.backends.http import input_image, job_parts, spec_resolution
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec


def _image(data: tuple[bytes, str]) -> dict[str, str]:
    return {"bytesBase64Encoded": base64.b64encode(data[0]).decode("ascii"), "mimeType": data[1]}


def operation_body(spec: ShotSpec, entry: ModelEntry) -> dict[str, Any]:
    """The predictLongRunning request for a shot; BackendError for what the API would refuse."""
    images = {
        role: [input_image(i, entry.image) for i in spec.inputs if i.role == role]
        for role in ("image", "end_image", "ref")
    }
    if images["ref"] and (images["image"] or images["end_image"]):
        raise BackendError(f"{spec.shot}: Veo takes reference images or first/last frames, not both")
    instance: dict[str, Any] = {"prompt": spec.prompt}
    if images["image"]:
        instance["image"] = _image(images["image"][0])
    if images["end_image"]:
        instance["lastFrame"] = _image(images["end_image"][0])
    if images["ref"]:
        instance["referenceImages"] = [{"image": _image(i), "referenceType": "asset"} for i in images["ref"]]
    parameters: dict[str, Any] = {
        "sampleCount": 1,
        "durationSeconds": entry.wire_duration(spec.duration),
        "aspectRatio": spec.aspect,
    }
    if len(entry.resolutions) > 1:  # a model with one size takes no resolution parameter
        parameters["resolution"] = spec_resolution(spec, entry)
    if spec.negative:
        parameters["negativePrompt"] = spec.negative
    person = (entry.extra.get("person_generation") or {}).get(spec.mode)
    if person:
        parameters["personGeneration"] = person
    return {"instances": [instance], "parameters": parameters}


class VeoBackend(HostedBackend):
    """Veo models on the Gemini Developer API (an API key; not Vertex AI)."""

    name = "veo"
    poll_interval: float | None = 10.0
    api_url = "https://generativelanguage.googleapis.com"
    api_url_env = ("SHOTLIST_VEO_URL",)
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    auth_header, auth_scheme = "x-goog-api-key", ""
    refusal_markers = ("responsible ai", "safety", "sensitive", "blocked", "rai ")

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        model = entry.endpoint.get(spec.mode) or entry.endpoint["*"]
        data = await self.create(f"/v1beta/models/{model}:predictLongRunning", operation_body(spec, entry))
        return "::".join((spec.model, self.created(data, "name")))

    def reason(self, body: Any) -> str | None:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return str(message) if message else None

    async def poll(self, job_id: str) -> JobStatus:
        _, name = job_parts(job_id, 2, self.name)
        op = await self.http.json("GET", f"/v1beta/{name}")
        provider_job = str(op.get("name", "")) or None
        done = op.get("done", False)
        if not isinstance(done, bool):  # a word this adapter does not know: retried, never a guess
            raise BackendError(f"veo: unknown operation state done={done!r}", retryable=True)
        if not done:
            return JobStatus(JobState.RUNNING, provider_job=provider_job)
        if op.get("error"):
            return self.failed(str(op["error"].get("message", op["error"])), provider_job=provider_job)
        result = (op.get("response") or {}).get("generateVideoResponse") or {}
        samples = result.get("generatedSamples") or []
        uri = (samples[0].get("video") or {}).get("uri") if samples else None
        if uri:
            # the file lives on the API's own host and needs the key, which the layer sends only there
            return self.succeeded(job_id, str(uri), provider_job=provider_job)
        if result.get("raiMediaFilteredCount"):
            reasons = (
                "; ".join(result.get("raiMediaFilteredReasons") or []) or "filtered by Google's safety checks"
            )
            return JobStatus(JobState.REFUSED, message=reasons, provider_job=provider_job)
        return self.without_video(
            job_id, "veo: the operation finished with no video and no reason", provider_job=provider_job
        )
