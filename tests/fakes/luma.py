"""A fake of Luma's Dream Machine API (base ``/dream-machine/v1``) as the lumaai SDK reads it.

- ``POST /generations/video`` (``Authorization: Bearer``) with ``{model, prompt, aspect_ratio, duration,
  resolution, keyframes}`` → 201 and a Generation (``id, state, failure_reason, created_at, assets,
  generation_type, model, request``). Checked: model, duration "5s"|"9s", resolution, aspect ratio,
  keyframes ``{type: image, url}`` or ``{type: generation, id}`` naming a completed generation (400 else).
- ``GET /generations/{id}``: queued → dreaming → completed (``assets.video``) or failed
  (``failure_reason``; a flagged prompt: "400: prompt not allowed because advanced moderation failed").
- ``DELETE /generations/{id}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.hosted import HostedFake, Job, default_video
from tests.fakes.server import Request, Response

BASE = "/dream-machine/v1"
KEY = "luma-fake-key-0123456789abcdef"
ASPECTS = {"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}


class LumaFake(HostedFake):
    submit_route = ("POST", r"/generations/video$")
    poll_route = ("GET", r"/generations/")
    not_found = {"detail": "Generation not found"}

    def __init__(
        self, *, key: str = KEY, polls_to_finish: int = 2, video: Callable[[str, Any], bytes] = default_video
    ) -> None:
        super().__init__(key, polls_to_finish=polls_to_finish, video=video)
        self.route("POST", f"{BASE}/generations/video", self._create)
        self.route("GET", f"{BASE}/generations/(?P<id>[^/]+)", self._get)
        self.route("DELETE", f"{BASE}/generations/(?P<id>[^/]+)", self._delete)

    @property
    def api(self) -> str:
        return self.url + BASE

    def _create(self, req: Request, m: re.Match[str]) -> Response:
        body = req.json() or {}
        problems = []
        if body.get("model") not in ("ray-2", "ray-flash-2"):
            problems.append("model must be ray-2 or ray-flash-2")
        if body.get("duration", "5s") not in ("5s", "9s"):
            problems.append("duration must be 5s or 9s")
        if body.get("resolution", "720p") not in ("540p", "720p", "1080p", "4k"):
            problems.append("invalid resolution")
        if body.get("aspect_ratio", "16:9") not in ASPECTS:
            problems.append("invalid aspect_ratio")
        unknown = set(body) - {
            "model",
            "prompt",
            "aspect_ratio",
            "duration",
            "resolution",
            "keyframes",
            "loop",
            "concepts",
            "callback_url",
            "generation_type",
        }
        problems += [f"unknown field {k}" for k in sorted(unknown)]
        for slot, frame in (body.get("keyframes") or {}).items():
            if slot not in ("frame0", "frame1"):
                problems.append(f"unknown keyframe {slot}")
            elif frame.get("type") == "image":
                if not str(frame.get("url", "")).startswith(("https://", "data:image/")):
                    problems.append(f"{slot}: invalid image url")
            elif frame.get("type") == "generation":
                ref = self.jobs.get(str(frame.get("id")))
                if ref is None or not ref.done or ref.outcome != "ok":
                    problems.append(f"{slot}: generation {frame.get('id')} is not a completed generation")
            else:
                problems.append(f"{slot}: type must be image or generation")
        if problems:
            return Response(400, {"detail": "; ".join(problems)})
        job = self.new_job(str(body["model"]), body, str(body.get("prompt", "")))
        return Response(201, self._generation(job))

    def _generation(self, job: Job) -> dict[str, Any]:
        state, reason, assets = "dreaming" if job.polls else "queued", None, None
        if job.done and job.outcome == "refuse":
            state, reason = "failed", "400: prompt not allowed because advanced moderation failed"
        elif job.done and job.outcome == "fail":
            state, reason = "failed", "Job failed"
        elif job.done:
            state = "completed"
            assets = {"video": job.extra.get("url") or job.extra.setdefault("url", self.issue_file(job))}
        return {
            "id": job.id,
            "generation_type": "video",
            "state": state,
            "failure_reason": reason,
            "created_at": "2026-11-23T12:00:00.000Z",
            "assets": assets,
            "model": job.kind,
            "request": {"generation_type": "video", **job.body},
        }

    def _get(self, req: Request, m: re.Match[str]) -> Response:
        return self.read(m["id"], self._generation)

    def _delete(self, req: Request, m: re.Match[str]) -> Response:
        if self.jobs.pop(m["id"], None) is None:
            return Response(404, self.not_found)
        return Response(204, b"")
