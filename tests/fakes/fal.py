"""A fake of fal's queue API (queue.fal.run), shaped like the real one and like fal-client expects.

- ``POST /{endpoint}`` with ``Authorization: Key …`` → ``{request_id, response_url, status_url,
  cancel_url, queue_position}``; the input is checked against the endpoint's fields (422 with fal's
  ``detail: [{loc, msg, type}]`` for an unknown or missing field, or a duration out of its enum).
- ``GET /{owner}/{alias}/requests/{id}/status`` → ``IN_QUEUE`` (``queue_position``), ``IN_PROGRESS``,
  ``COMPLETED`` (with ``logs``, ``metrics``; ``error``/``error_type`` when it failed). Requests live under
  the app's owner/alias, not the endpoint's sub-path, as in fal-client's ``from_request_id``.
- ``GET /{owner}/{alias}/requests/{id}`` → ``{video: {url, content_type, file_name, file_size}, seed}``
  or 422 ``content_policy_violation``; 400 while the request is still running.
- ``PUT …/cancel``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.hosted import HostedFake, Job, default_video
from tests.fakes.server import Request, Response

VEO = {
    "prompt",
    "aspect_ratio",
    "duration",
    "negative_prompt",
    "resolution",
    "generate_audio",
    "seed",
    "enhance_prompt",
    "auto_fix",
}
SEEDANCE = {
    "prompt",
    "aspect_ratio",
    "resolution",
    "duration",
    "camera_fixed",
    "seed",
    "enable_safety_checker",
}
KLING = {"prompt", "duration", "negative_prompt", "cfg_scale"}
HAILUO = {"prompt", "duration", "prompt_optimizer", "resolution"}

#: endpoint → (allowed fields, required fields, allowed durations or None)
SCHEMAS: dict[str, tuple[set[str], set[str], set[str] | None]] = {
    "fal-ai/veo3": (VEO, {"prompt"}, {"4s", "6s", "8s"}),
    "fal-ai/veo3/image-to-video": (VEO | {"image_url"}, {"prompt", "image_url"}, {"4s", "6s", "8s"}),
    "fal-ai/veo3/fast": (VEO, {"prompt"}, {"4s", "6s", "8s"}),
    "fal-ai/veo3/fast/image-to-video": (VEO | {"image_url"}, {"prompt", "image_url"}, {"4s", "6s", "8s"}),
    "fal-ai/veo3.1": (VEO, {"prompt"}, {"4s", "6s", "8s"}),
    "fal-ai/veo3.1/image-to-video": (VEO | {"image_url"}, {"prompt", "image_url"}, {"4s", "6s", "8s"}),
    "fal-ai/veo3.1/first-last-frame-to-video": (
        VEO | {"first_frame_url", "last_frame_url"},
        {"prompt", "first_frame_url", "last_frame_url"},
        {"4s", "6s", "8s"},
    ),
    "fal-ai/veo3.1/fast": (VEO, {"prompt"}, {"4s", "6s", "8s"}),
    "fal-ai/veo3.1/fast/image-to-video": (VEO | {"image_url"}, {"prompt", "image_url"}, {"4s", "6s", "8s"}),
    "fal-ai/veo3.1/fast/first-last-frame-to-video": (
        VEO | {"first_frame_url", "last_frame_url"},
        {"prompt", "first_frame_url", "last_frame_url"},
        {"4s", "6s", "8s"},
    ),
    "fal-ai/kling-video/v2.1/standard/image-to-video": (
        KLING | {"image_url"},
        {"prompt", "image_url"},
        {"5", "10"},
    ),
    "fal-ai/kling-video/v2.5-turbo/pro/text-to-video": (KLING | {"aspect_ratio"}, {"prompt"}, {"5", "10"}),
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": (
        KLING | {"image_url"},
        {"prompt", "image_url"},
        {"5", "10"},
    ),
    "fal-ai/bytedance/seedance/v1/lite/text-to-video": (SEEDANCE, {"prompt"}, {str(n) for n in range(2, 13)}),
    "fal-ai/bytedance/seedance/v1/lite/image-to-video": (
        SEEDANCE | {"image_url", "end_image_url"},
        {"prompt", "image_url"},
        {str(n) for n in range(2, 13)},
    ),
    "fal-ai/bytedance/seedance/v1/lite/reference-to-video": (
        SEEDANCE | {"reference_image_urls"},
        {"prompt", "reference_image_urls"},
        {str(n) for n in range(2, 13)},
    ),
    "fal-ai/bytedance/seedance/v1/pro/text-to-video": (SEEDANCE, {"prompt"}, {str(n) for n in range(2, 13)}),
    "fal-ai/bytedance/seedance/v1/pro/image-to-video": (
        SEEDANCE | {"image_url"},
        {"prompt", "image_url"},
        {str(n) for n in range(2, 13)},
    ),
    "fal-ai/wan/v2.2-a14b/image-to-video/turbo": (
        {"prompt", "image_url", "seed", "resolution", "aspect_ratio", "enable_safety_checker"},
        {"prompt", "image_url"},
        None,
    ),
    "fal-ai/ltx-2/image-to-video": (
        {"prompt", "image_url", "duration", "resolution", "fps", "generate_audio"},
        {"prompt", "image_url"},
        None,
    ),
    "fal-ai/minimax/hailuo-02/standard/text-to-video": (HAILUO, {"prompt"}, {"6", "10"}),
    "fal-ai/minimax/hailuo-02/standard/image-to-video": (
        HAILUO | {"image_url", "end_image_url"},
        {"prompt", "image_url"},
        {"6", "10"},
    ),
}

KEY = "fal-test-key:0123456789abcdef"


def app_of(endpoint: str) -> str:
    return "/".join(endpoint.split("/")[:2])


class FalFake(HostedFake):
    """fal's queue on 127.0.0.1 (HTTPS after ``enable_tls``)."""

    submit_route = ("POST", r"^/")  # every POST is a submit to an endpoint
    poll_route = ("GET", r"/requests/")
    auth_scheme = "Key"
    unauthorized = {"detail": "No user found for Key ID and Secret"}

    def __init__(
        self,
        *,
        key: str = KEY,
        polls_to_finish: int = 2,
        video: Callable[[str, Any], bytes] = default_video,
        nsfw_output: bool = False,
    ) -> None:
        super().__init__(key, polls_to_finish=polls_to_finish, video=video)
        self.nsfw_output = nsfw_output  # the model's output checker flags the video (has_nsfw_concepts)
        app = r"(?P<app>[^/]+/[^/]+)/requests/(?P<rid>[^/]+)"
        self.route("GET", f"/{app}/status", self._status)
        self.route("GET", f"/{app}", self._result)
        self.route("PUT", f"/{app}/cancel", self._cancel)
        self.route("POST", r"/(?P<endpoint>.+)", self._submit)

    def _urls(self, app: str, rid: str) -> dict[str, str]:
        base = f"{self.url}/{app}/requests/{rid}"
        return {"response_url": base, "status_url": base + "/status", "cancel_url": base + "/cancel"}

    def _submit(self, req: Request, m: re.Match[str]) -> Response:
        endpoint = m["endpoint"]
        if endpoint not in SCHEMAS:
            return Response(404, {"detail": f"Application '{endpoint}' not found"})
        body = req.json()
        allowed, required, durations = SCHEMAS[endpoint]
        errors = [
            {"loc": ["body", k], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
            for k in body
            if k not in allowed
        ]
        errors += [
            {"loc": ["body", k], "msg": "Field required", "type": "missing"} for k in required - set(body)
        ]
        if durations is not None and "duration" in body and body["duration"] not in durations:
            errors.append(
                {"loc": ["body", "duration"], "msg": f"Input should be {sorted(durations)}", "type": "enum"}
            )
        for k, v in body.items():
            if k.endswith("_url") and not str(v).startswith(("data:image/", "https://")):
                errors.append({"loc": ["body", k], "msg": "Invalid image URL", "type": "value_error"})
        if errors:
            return Response(422, {"detail": errors})
        job = self.new_job(endpoint, body, str(body.get("prompt", "")))
        job.extra["lifecycle"] = req.headers.get("x-fal-object-lifecycle-preference")
        return Response(
            200, {"request_id": job.id, **self._urls(app_of(endpoint), job.id), "queue_position": 0}
        )

    def _job(self, m: re.Match[str]) -> Job | None:
        job = self.jobs.get(m["rid"])
        return job if job is not None and app_of(job.kind) == m["app"] else None

    def _status(self, req: Request, m: re.Match[str]) -> Response:
        job = self._job(m)
        if job is None:
            return Response(404, {"detail": "Request not found"})
        job.tick()
        urls = self._urls(m["app"], job.id)
        if job.polls_left >= 2:
            return Response(202, {"status": "IN_QUEUE", "queue_position": job.polls_left - 2, **urls})
        if job.polls_left == 1:
            return Response(202, {"status": "IN_PROGRESS", "logs": None, **urls})
        out: dict[str, Any] = {
            "status": "COMPLETED",
            "logs": None,
            "metrics": {"inference_time": 1.5},
            **urls,
        }
        if job.outcome == "fail":
            out.update(error="Internal error while generating", error_type="runner_error")
        return Response(200, out)

    def _result(self, req: Request, m: re.Match[str]) -> Response:
        job = self._job(m)
        if job is None:
            return Response(404, {"detail": "Request not found"})
        if not job.done:
            return Response(400, {"detail": "Request is still in progress"})
        if job.outcome == "refuse":
            return Response(
                422,
                {
                    "detail": [
                        {
                            "loc": ["body", "prompt"],
                            "type": "content_policy_violation",
                            "msg": "The content could not be processed because it contained "
                            "material flagged by a content checker.",
                        }
                    ]
                },
                {"X-Fal-Retryable": "false"},
            )
        if job.outcome == "fail":
            return Response(500, {"detail": "Internal error while generating"}, {"X-Fal-Retryable": "false"})
        video = {
            "url": self.issue_file(job),
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": len(self.video(job.id, job.body)),
        }
        out: dict[str, Any] = {"video": video, "seed": job.body.get("seed", 42)}
        if self.nsfw_output:
            out["has_nsfw_concepts"] = [True]
        return Response(200, out)

    def _cancel(self, req: Request, m: re.Match[str]) -> Response:
        job = self._job(m)
        if job is None:
            return Response(404, {"detail": "Request not found"})
        if job.done:
            return Response(400, {"status": "ALREADY_COMPLETED"})
        job.cancelled = True
        return Response(202, {"status": "CANCELLATION_REQUESTED"})
