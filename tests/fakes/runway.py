"""A fake of Runway's API as the runwayml SDK (5.24) reads it.

- ``Authorization: Bearer`` and ``X-Runway-Version: 2024-11-06`` on every request (else 401 / 400).
- ``POST /v1/image_to_video`` and ``/v1/text_to_video`` → ``{"id"}``; the body is checked per model
  (camelCase fields, ``ratio`` from the model's list, ``duration`` in range, ``promptImage`` a URI or
  ``[{uri, position}]``) with Runway's 400 ``{"error", "issues"}``.
- ``GET /v1/tasks/{id}`` → PENDING → (THROTTLED when ``throttle``) → RUNNING (``progress``) →
  SUCCEEDED (``output``: fresh links on every read; older ones die with ``expire_links``) or FAILED
  (``failure``, ``failureCode`` ``SAFETY.INPUT.TEXT`` for a flagged prompt, ``INTERNAL`` otherwise).
  Every task carries ``estimatedCost`` or, once done, ``cost`` in credits.
- ``DELETE /v1/tasks/{id}`` cancels.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from tests.fakes.hosted import HostedFake, Job, default_video
from tests.fakes.server import Request, Response

GEN4 = ["1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"]
VEO = ["1280:720", "720:1280", "1080:1920", "1920:1080"]
#: model → (modes, ratios, durations, allowed fields, credits per second)
MODELS: dict[str, tuple[set[str], list[str], set[int], set[str], int]] = {
    "gen4_turbo": ({"image"}, GEN4, {5, 10}, {"seed", "contentModeration"}, 5),
    "gen4.5": ({"image", "text"}, GEN4, set(range(2, 11)), {"seed", "contentModeration"}, 12),
    "veo3.1": ({"image", "text"}, VEO, {4, 6, 8}, {"seed", "audio", "negativePrompt"}, 40),
    "veo3.1_fast": ({"image", "text"}, VEO, {4, 6, 8}, {"seed", "audio", "negativePrompt"}, 15),
}
SECRET = "key_fake0123456789abcdef0123456789"
#: How a task ends that does not succeed: its failure code and reason (SAFETY.*: moderation).
FAILURES = {
    "refuse": ("SAFETY.INPUT.TEXT", "Your prompt was flagged by our content moderation system."),
    "fail": ("INTERNAL", "An unexpected error occurred."),
}


class RunwayFake(HostedFake):
    submit_route = ("POST", r"_to_video$")
    poll_route = ("GET", r"^/v1/tasks/")
    unauthorized = {"error": "Invalid API key"}
    not_found = {"error": "Task not found"}

    def __init__(
        self,
        *,
        secret: str = SECRET,
        polls_to_finish: int = 3,
        throttle: bool = False,
        video: Callable[[str, Any], bytes] = default_video,
    ) -> None:
        super().__init__(secret, polls_to_finish=polls_to_finish, video=video)
        self.throttle = throttle
        self.route("POST", r"/v1/(?P<kind>image|text)_to_video", self._create)
        self.route("GET", r"/v1/tasks/(?P<id>[^/]+)", self._get)
        self.route("DELETE", r"/v1/tasks/(?P<id>[^/]+)", self._delete)

    def dispatch(self, req: Request) -> Response:
        if self.authorized(req) and req.headers.get("x-runway-version") != "2024-11-06":
            self.log.append(req)
            return Response(400, {"error": "The X-Runway-Version header is required and must be 2024-11-06"})
        return super().dispatch(req)

    def _create(self, req: Request, m: re.Match[str]) -> Response:
        body = req.json() or {}
        model = body.get("model")
        if model not in MODELS:
            return Response(
                400,
                {
                    "error": "Validation of body failed",
                    "issues": [{"path": ["model"], "message": "Invalid model"}],
                },
            )
        kinds, ratios, durations, extra, _ = MODELS[model]
        issues: list[dict[str, Any]] = []
        if m["kind"] not in kinds:
            issues.append({"path": ["model"], "message": f"{model} does not support {m['kind']}_to_video"})
        allowed = (
            {"model", "promptText", "ratio", "duration"}
            | extra
            | ({"promptImage"} if m["kind"] == "image" else set())
        )
        issues += [{"path": [k], "message": "Unrecognized key"} for k in body if k not in allowed]
        if not isinstance(body.get("promptText"), str) or len(body.get("promptText", "")) > 1000:
            issues.append({"path": ["promptText"], "message": "Required, at most 1000 characters"})
        if body.get("ratio") not in ratios:
            issues.append(
                {"path": ["ratio"], "message": f"Invalid enum value. Expected {' | '.join(ratios)}"}
            )
        if body.get("duration") not in durations:
            issues.append({"path": ["duration"], "message": f"Expected one of {sorted(durations)}"})
        if m["kind"] == "image":
            image = body.get("promptImage")
            images = image if isinstance(image, list) else [{"uri": image, "position": "first"}]
            for i, item in enumerate(images):
                if not (
                    isinstance(item, dict)
                    and str(item.get("uri", "")).startswith(("data:image/", "https://"))
                    and item.get("position") in ("first", "last")
                ):
                    issues.append({"path": ["promptImage", i], "message": "Invalid prompt image"})
            if isinstance(image, list) and model.startswith("gen4") and len(image) > 1:
                issues.append({"path": ["promptImage"], "message": f"{model} takes only a first frame"})
        if issues:
            return Response(400, {"error": "Validation of body failed", "issues": issues})
        job = self.new_job(model, body, str(body.get("promptText", "")), prefix="")
        job.extra["uuid"] = str(uuid.uuid4())
        self.jobs[job.extra["uuid"]] = self.jobs.pop(job.id)
        job.id = job.extra["uuid"]
        return Response(200, {"id": job.id})

    def _task(self, job: Job) -> dict[str, Any]:
        credits = MODELS[job.kind][4] * int(job.body.get("duration", 5))
        task: dict[str, Any] = {"id": job.id, "createdAt": "2026-11-23T12:00:00.000Z"}
        if job.cancelled:
            return {**task, "status": "CANCELLED", "cost": {"credits": 0}}
        if not job.done:
            if job.polls <= 1:
                status = "THROTTLED" if self.throttle and job.polls == 1 else "PENDING"
                return {**task, "status": status, "estimatedCost": {"credits": credits}}
            return {
                **task,
                "status": "RUNNING",
                "progress": round(job.polls / (job.polls + job.polls_left), 2),
                "estimatedCost": {"credits": credits},
            }
        if job.outcome in FAILURES:
            code, failure = FAILURES[job.outcome]
            return {
                **task,
                "status": "FAILED",
                "cost": {"credits": 0},
                "failureCode": code,
                "failure": failure,
            }
        return {**task, "status": "SUCCEEDED", "cost": {"credits": credits}, "output": [self.issue_file(job)]}

    def _get(self, req: Request, m: re.Match[str]) -> Response:
        return self.read(m["id"], self._task)

    def _delete(self, req: Request, m: re.Match[str]) -> Response:
        return self.cancel(m["id"], lambda job: Response(204, b""))
