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
from pathlib import Path
from typing import Any

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.http import (
    HttpLayer,
    LazyHttp,
    env_url,
    input_image,
    job_parts,
    provider_concurrency,
    secret,
    spec_resolution,
)
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

BASE_URL = "https://generativelanguage.googleapis.com"
KEY_NAMES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
_REFUSAL_WORDS = ("responsible ai", "safety", "sensitive", "blocked", "rai ")


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


def _refusal(message: str) -> bool:
    text = message.lower()
    return any(w in text for w in _REFUSAL_WORDS)


class VeoBackend(LazyHttp):
    """Veo models on the Gemini Developer API (an API key; not Vertex AI)."""

    name = "veo"
    poll_interval = 10.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def open_http(self) -> HttpLayer:
        return HttpLayer(
            "veo",
            env_url("SHOTLIST_VEO_URL", default=BASE_URL),
            headers={"x-goog-api-key": secret(*KEY_NAMES)},
            concurrency=provider_concurrency("veo"),
        )

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        body = operation_body(spec, entry)
        model = entry.endpoint.get(spec.mode) or entry.endpoint["*"]
        response = await self.http.request(
            "POST", f"/v1beta/models/{model}:predictLongRunning", json=body, submit=True, ok=(400,)
        )
        data = response.json()
        if response.status_code == 400:
            message = str((data.get("error") or {}).get("message") or response.text[:300])
            raise BackendError(f"{spec.shot}: Veo refused the request: {message}", refused=_refusal(message))
        return "::".join((spec.model, str(data["name"])))

    async def _operation(self, job_id: str) -> dict[str, Any]:
        _, name = job_parts(job_id, 2, self.name)
        data: dict[str, Any] = await self.http.json("GET", f"/v1beta/{name}")
        return data

    async def poll(self, job_id: str) -> JobStatus:
        op = await self._operation(job_id)
        name = str(op.get("name", "")) or None
        if not op.get("done"):
            return JobStatus(JobState.RUNNING, provider_job=name)
        if op.get("error"):
            message = str(op["error"].get("message", op["error"]))
            state = JobState.REFUSED if _refusal(message) else JobState.FAILED
            return JobStatus(state, message=message, provider_job=name)
        result = (op.get("response") or {}).get("generateVideoResponse") or {}
        if result.get("generatedSamples"):
            return JobStatus(JobState.SUCCEEDED, progress=1.0, provider_job=name)
        if result.get("raiMediaFilteredCount"):
            reasons = (
                "; ".join(result.get("raiMediaFilteredReasons") or []) or "filtered by Google's safety checks"
            )
            return JobStatus(JobState.REFUSED, message=reasons, provider_job=name)
        return JobStatus(
            JobState.FAILED, message="the operation finished with no video and no reason", provider_job=name
        )

    async def fetch(self, job_id: str, dest: Path) -> None:
        async def result_url(expired: bool) -> str:
            op = await self._operation(job_id)
            samples = ((op.get("response") or {}).get("generateVideoResponse") or {}).get(
                "generatedSamples"
            ) or []
            uri = (samples[0].get("video") or {}).get("uri") if samples else None
            if not uri:
                raise BackendError(f"Veo operation {op.get('name')} has no video to download")
            return str(uri)

        # The file link is on the API's own host and needs the key, which the layer sends only there.
        await self.http.download_result(result_url, dest)
