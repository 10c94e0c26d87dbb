"""Seedance on BytePlus ModelArk and Volcengine Ark: content-generation tasks.

One protocol, two regions (base URL, key and model ids differ; the catalog entry says which):
``POST {base}/contents/generations/tasks`` with the prompt and images as ``content`` items →
``{id}``; ``GET {base}/contents/generations/tasks/{id}`` → ``status`` (queued, running, succeeded,
failed, cancelled), ``content.video_url`` and ``usage.completion_tokens``. Ark bills by tokens, so a
take's cost is its tokens times the catalog's token price. A video refused by output moderation has
been fully rendered and is charged: the refusal carries what the usage says it cost.
"""

from __future__ import annotations

from typing import Any

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.hosted import HostedBackend, state_words
from shotlist.backends.http import HttpLayer, env_url, input_data_uri, job_parts, spec_resolution
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

TASKS = "/contents/generations/tasks"


def task_body(spec: ShotSpec, entry: ModelEntry) -> dict[str, Any]:
    """The create-task request for a shot; BackendError for what Ark would refuse with a 400."""
    images = {
        role: [input_data_uri(i, entry.image) for i in spec.inputs if i.role == role]
        for role in ("image", "end_image", "ref")
    }
    if images["ref"] and (images["image"] or images["end_image"]):
        raise BackendError(
            f"{spec.shot}: Seedance cannot mix first/last frames with reference images "
            "(Ark answers 400); use either image:/end_image: or refs:"
        )
    if images["end_image"] and not images["image"]:
        raise BackendError(f"{spec.shot}: Seedance needs a first frame to pin a last frame")
    content: list[dict[str, Any]] = [{"type": "text", "text": spec.prompt}]
    for role, wire in (("image", "first_frame"), ("end_image", "last_frame"), ("ref", "reference_image")):
        content += [{"type": "image_url", "image_url": {"url": url}, "role": wire} for url in images[role]]
    body: dict[str, Any] = {
        "model": entry.endpoint.get(spec.mode) or entry.endpoint["*"],
        "content": content,
        "ratio": spec.aspect,
        "duration": entry.wire_duration(spec.duration),
        "resolution": spec_resolution(spec, entry),
        "watermark": False,
        "return_last_frame": True,
    }
    if spec.seed is not None:
        body["seed"] = spec.seed
    camera = spec.params.get("camera") or {}
    if camera.get("move") == "static":
        body["camera_fixed"] = True  # other moves are in the prompt; Ark only knows "fixed or not"
    if entry.audio:
        body["generate_audio"] = bool(spec.audio)
    return body


def token_cost(entry: ModelEntry, tokens: int | None, audio: bool) -> float | None:
    """US dollars for ``tokens`` at the catalog's token price (None when either is unknown)."""
    rate = entry.extra.get("usd_per_million_tokens_audio" if audio else "usd_per_million_tokens")
    if rate is None and audio:
        rate = entry.extra.get("usd_per_million_tokens")
    if tokens is None or rate is None:
        return None
    return round(tokens * float(rate) / 1e6, 4)


class ArkBackend(HostedBackend):
    """Seedance through Ark's task API, in whichever region the model's catalog entry names."""

    name = "ark"
    poll_interval: float | None = 5.0
    api_url_env = ("SHOTLIST_ARK_URL",)  # the API root and key are the region's (the model's catalog entry)
    states = state_words(
        queued="queued", running="running", succeeded="succeeded", failed=("failed", "cancelled")
    )
    #: Ark's content-policy error codes (InputTextSensitiveContentDetected, OutputVideoSensitive…).
    refusal_markers = ("SensitiveContent", "Moderation")

    def region(self, entry: ModelEntry) -> HttpLayer:
        """The HTTP layer of the model's region: its base URL and its own key (one per region)."""
        url = env_url(*self.api_url_env, default=str(entry.extra["base_url"]))
        return self.layer(url, entry.env, entry.concurrency)

    def http_for(self, job_id: str) -> HttpLayer:
        return self.region(get_model(job_parts(job_id, 3, self.name)[0]))

    def reason(self, body: Any) -> str | None:
        err = body.get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict):
            return None
        return f"{err.get('code', '')}: {err.get('message', '')}"

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        body = task_body(spec, entry)
        data = await self.create(TASKS, body, http=self.region(entry))
        audio = "audio" if body.get("generate_audio") else "silent"
        return "::".join((spec.model, self.created(data, "id"), audio))

    async def poll(self, job_id: str) -> JobStatus:
        model, task, audio = job_parts(job_id, 3, self.name)
        entry = get_model(model)
        data = await self.region(entry).json("GET", f"{TASKS}/{task}")
        status = str(data.get("status", ""))
        state = self.state(status)
        cost = token_cost(entry, (data.get("usage") or {}).get("completion_tokens"), audio == "audio")
        provider_job = str(data.get("id", "")) or None
        url = (data.get("content") or {}).get("video_url")
        if state is JobState.SUCCEEDED:
            if not url:
                return self.without_video(
                    job_id, "ark: the task succeeded with no video_url", cost=cost, provider_job=provider_job
                )
            # a presigned object-store link on another host: the layer sends it no key
            return self.succeeded(job_id, str(url), cost=cost, provider_job=provider_job)
        err = data.get("error") or {}
        code = str(err.get("code") or "")
        if state is JobState.FAILED:
            message = f"{code}: {err.get('message', '')}" if code else status
            return self.failed(message, evidence=code, cost=cost, provider_job=provider_job)
        return JobStatus(state, cost=cost, provider_job=provider_job)
