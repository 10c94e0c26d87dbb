"""Seedance on BytePlus ModelArk and Volcengine Ark: content-generation tasks.

One protocol, two regions (base URL, key and model ids differ; the catalog entry says which):
``POST {base}/contents/generations/tasks`` with the prompt and images as ``content`` items →
``{id}``; ``GET {base}/contents/generations/tasks/{id}`` → ``status`` (queued, running, succeeded,
failed, cancelled), ``content.video_url`` and ``usage.completion_tokens``. Ark bills by tokens, so a
take's cost is its tokens times the catalog's token price. A video refused by output moderation has
been fully rendered and is charged: the refusal carries what the usage says it cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.http import HttpLayer, env_url, input_data_uri, job_parts, secret, spec_resolution
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

TASKS = "/contents/generations/tasks"
_STATES = {
    "queued": JobState.QUEUED,
    "running": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.FAILED,
}


def is_moderation(code: str) -> bool:
    """Ark's content-policy error codes (InputImageSensitiveContentDetected, OutputVideoSensitive…)."""
    return "SensitiveContent" in code or "Moderation" in code


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


class ArkBackend:
    """Seedance through Ark's task API, in whichever region the model's catalog entry names."""

    name = "ark"
    poll_interval = 5.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._layers: dict[tuple[str, tuple[str, ...]], HttpLayer] = {}

    def http(self, entry: ModelEntry) -> HttpLayer:
        """The HTTP layer of the model's region: its base URL and its own key (one per region)."""
        region = (env_url("SHOTLIST_ARK_URL", default=str(entry.extra["base_url"])), tuple(entry.env))
        if region not in self._layers:
            key = secret(*entry.env)
            self._layers[region] = HttpLayer(
                entry.provider,
                region[0],
                headers={"Authorization": f"Bearer {key}"},
                concurrency=entry.concurrency,
            )
        return self._layers[region]

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        body = task_body(spec, entry)
        response = await self.http(entry).request("POST", TASKS, json=body, submit=True, ok=(400,))
        data = response.json()
        if response.status_code == 400:
            err = data.get("error") or {}
            code, message = str(err.get("code", "")), str(err.get("message", response.text[:300]))
            raise BackendError(
                f"{spec.shot}: Ark refused the request: {code}: {message}", refused=is_moderation(code)
            )
        return "::".join((spec.model, str(data["id"]), "audio" if body.get("generate_audio") else "silent"))

    async def _task(self, job_id: str) -> tuple[ModelEntry, dict[str, Any], bool]:
        model, task, audio = job_parts(job_id, 3, self.name)
        entry = get_model(model)
        data: dict[str, Any] = await self.http(entry).json("GET", f"{TASKS}/{task}")
        return entry, data, audio == "audio"

    async def poll(self, job_id: str) -> JobStatus:
        entry, data, audio = await self._task(job_id)
        status = str(data.get("status", ""))
        if status not in _STATES:
            raise BackendError(f"Ark answered an unknown task status '{status}'")
        state = _STATES[status]
        err = data.get("error") or {}
        code = str(err.get("code") or "")
        if state is JobState.FAILED and is_moderation(code):
            state = JobState.REFUSED
        message = (
            f"{code}: {err.get('message', '')}" if code else ("cancelled" if status == "cancelled" else None)
        )
        cost = token_cost(entry, (data.get("usage") or {}).get("completion_tokens"), audio)
        return JobStatus(state, message=message, cost=cost, provider_job=str(data.get("id", "")) or None)

    async def fetch(self, job_id: str, dest: Path) -> None:
        entry = get_model(job_parts(job_id, 3, self.name)[0])

        async def result_url(expired: bool) -> str:
            _, data, _ = await self._task(job_id)
            url = (data.get("content") or {}).get("video_url")
            if data.get("status") != "succeeded" or not url:
                raise BackendError(f"Ark task {data.get('id')} has no video (status {data.get('status')})")
            return str(url)

        # Result links are presigned object-store URLs on another host: the layer sends them no key.
        await self.http(entry).download_result(result_url, dest)

    async def aclose(self) -> None:
        for layer in self._layers.values():
            await layer.aclose()
        self._layers.clear()
