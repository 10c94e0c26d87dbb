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

from pathlib import Path
from typing import Any

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.hosted import HostedBackend, state_words
from shotlist.backends.http import input_data_uri, spec_resolution
from shotlist.catalog import ModelEntry, get_model
from shotlist.durable import read_json, write_json
from shotlist.spec import MediaInput, ShotSpec


class LumaBackend(HostedBackend):
    """Generates clips with Luma's Ray models."""

    name = "luma"
    api_url = "https://api.lumalabs.ai/dream-machine/v1"
    api_url_env = ("LUMAAI_BASE_URL",)
    key_env = ("LUMAAI_API_KEY",)
    states = state_words(queued="queued", running="dreaming", succeeded="completed", failed="failed")
    refusal_markers = ("moderation", "policy", "nsfw")

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
        return self.created(await self.create("/generations/video", body), "id")

    def reason(self, body: Any) -> str | None:
        detail = body.get("detail") if isinstance(body, dict) else None
        return str(detail) if detail else None

    def keyframe(self, media: MediaInput, entry: ModelEntry, continues: str) -> dict[str, str]:
        """A generation reference when the frame is the joining end of a Luma clip, else the image itself."""
        if media.frame == continues:
            made = self._made().get(media.sha256)
            if made:
                return {"type": "generation", "id": made}
        return {"type": "image", "url": input_data_uri(media, entry.image)}

    async def poll(self, job_id: str) -> JobStatus:
        generation = await self.http.json("GET", f"/generations/{job_id}")
        state = self.state(generation.get("state"))
        if state is JobState.SUCCEEDED:
            video = (generation.get("assets") or {}).get("video")
            if not video:
                return self.without_video(job_id, "luma: completed without a video", provider_job=job_id)
            return self.succeeded(job_id, str(video), provider_job=job_id)
        if state is JobState.FAILED:
            reason = str(generation.get("failure_reason") or "the generation failed")
            return self.failed(f"luma: {reason}", evidence=reason, provider_job=job_id)
        return JobStatus(state, provider_job=job_id)

    async def fetch(self, job_id: str, dest: Path) -> None:
        self._remember(await self.download(job_id, dest), job_id)

    # -- which clip each generation made (for continuing it in a later shot) ---------------------
    @property
    def _ledger(self) -> Path:
        return self.workdir / "luma.json"

    def _made(self) -> dict[str, str]:
        try:
            data = read_json(self._ledger)
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _remember(self, clip_sha256: str, generation_id: str) -> None:
        write_json(self._ledger, {**self._made(), clip_sha256: generation_id})
