"""Luma Dream Machine: ``POST /generations/video`` → a generation; ``GET /generations/{id}``.

Protocol (lumaai SDK: ``types/generation*.py``): ``Authorization: Bearer``, base
``https://api.lumalabs.ai/dream-machine/v1`` (``LUMAAI_BASE_URL``), body ``{model, prompt,
aspect_ratio, duration: "5s"|"9s", resolution, keyframes: {frame0, frame1}}`` where a keyframe is
``{type: "image", url}`` or ``{type: "generation", id}``; states queued → dreaming → completed
(``assets.video``) or failed (``failure_reason``).

Continuity: a shot that starts on the last frame of a shot Luma made (``image: {shot: x, frame:
last}``) continues that generation (``frame0: {type: generation, id}``) rather than re-uploading a
still, and one that ends on the first frame of a Luma shot leads into it (``frame1``). For that,
``fetch`` remembers which clip (by content hash) each generation made, in ``<workdir>/luma.json``.
"""

from __future__ import annotations

import json
import os
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
from shotlist.spec import MediaInput, ShotSpec

STATES = {
    "queued": JobState.QUEUED,
    "dreaming": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
}
REFUSAL_MARKERS = ("moderation", "not allowed", "policy", "nsfw")


class LumaBackend(LazyHttp):
    """Generates clips with Luma's Ray models."""

    name = "luma"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._videos: dict[str, str] = {}

    def open_http(self) -> HttpLayer:
        base = env_url("LUMAAI_BASE_URL", default="https://api.lumalabs.ai/dream-machine/v1")
        return HttpLayer(
            "luma",
            base,
            headers={"Authorization": f"Bearer {secret('LUMAAI_API_KEY')}"},
            concurrency=provider_concurrency("luma"),
        )

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        if spec.mode not in entry.endpoint:
            raise BackendError(f"{entry.id} does not do {spec.mode}")
        body: dict[str, Any] = {
            "model": entry.endpoint[spec.mode],
            "prompt": spec.prompt,
            "aspect_ratio": spec.aspect,
            "duration": entry.wire_duration(spec.duration),
            "resolution": spec_resolution(spec, entry),
        }
        keyframes = {}
        for role, slot, continues in (("image", "frame0", "last"), ("end_image", "frame1", "first")):
            media = spec.input(role)
            if media is not None:
                keyframes[slot] = self.keyframe(media, entry, continues)
        if spec.mode == "img2vid" and "frame0" not in keyframes:
            raise BackendError(f"shot {spec.shot}: img2vid needs an image")
        if keyframes:
            body["keyframes"] = keyframes
        generation = await self.http.json("POST", "/generations/video", submit=True, json=body)
        if not isinstance(generation, dict) or not generation.get("id"):
            raise BackendError(f"luma: the generation was created without an id: {str(generation)[:200]}")
        return str(generation["id"])

    def keyframe(self, media: MediaInput, entry: ModelEntry, continues: str) -> dict[str, str]:
        """A generation reference when the frame is the joining end of a Luma clip, else the image itself."""
        if media.frame == continues:
            made = self._made().get(media.sha256)
            if made:
                return {"type": "generation", "id": made}
        return {"type": "image", "url": input_data_uri(media, entry.image)}

    async def poll(self, job_id: str) -> JobStatus:
        generation = await self.http.json("GET", f"/generations/{job_id}")
        state = STATES.get(str(generation.get("state")))
        if state is None:
            raise BackendError(f"luma: unknown generation state {generation.get('state')!r}", retryable=True)
        if state is JobState.SUCCEEDED:
            video = (generation.get("assets") or {}).get("video")
            if not video:
                return JobStatus(
                    JobState.FAILED, message="luma: completed without a video", provider_job=job_id
                )
            self._videos[job_id] = str(video)
            return JobStatus(state, progress=1.0, provider_job=job_id)
        if state is JobState.FAILED:
            reason = str(generation.get("failure_reason") or "the generation failed")
            if any(m in reason.lower() for m in REFUSAL_MARKERS):
                state = JobState.REFUSED
            return JobStatus(state, message=f"luma: {reason}", provider_job=job_id)
        return JobStatus(state, provider_job=job_id)

    async def fetch(self, job_id: str, dest: Path) -> None:
        async def video_url(expired: bool) -> str:
            if expired or job_id not in self._videos:
                status = await self.poll(job_id)
                if status.state is not JobState.SUCCEEDED:
                    raise BackendError(
                        status.message or f"luma: generation {job_id} has no video",
                        refused=status.state is JobState.REFUSED,
                    )
            return self._videos[job_id]

        digest = await self.http.download_result(video_url, dest)
        self._remember(digest, job_id)

    # -- which clip each generation made (for continuing it in a later shot) ---------------------
    @property
    def _ledger(self) -> Path:
        return self.workdir / "luma.json"

    def _made(self) -> dict[str, str]:
        try:
            data = json.loads(self._ledger.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _remember(self, clip_sha256: str, generation_id: str) -> None:
        made = self._made()
        made[clip_sha256] = generation_id
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self._ledger.with_name(f".luma.json.{os.getpid()}")
        tmp.write_text(json.dumps(made, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self._ledger)
