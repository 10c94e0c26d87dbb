"""A fake of Replicate's predictions API for official models, shaped as the ``replicate`` SDK reads it.

- ``POST /v1/models/{owner}/{name}/predictions`` (``Authorization: Bearer``) with ``{"input": …}`` →
  201 and a prediction: ``id, model, version, input, logs, output, error, status, created_at, urls``.
  Inputs are checked against the model's schema (422 with ``detail`` and ``invalid_fields``).
  ``Prefer: wait`` holds the request and answers with the finished prediction.
- ``GET /v1/predictions/{id}`` → ``starting`` → ``processing`` → ``succeeded`` (``output``: one URL
  string) or ``failed`` (``error``; a flagged prompt fails with E005 "flagged as sensitive").
- ``POST /v1/predictions/{id}/cancel``. Output files stay at one URL (Replicate removes them after an
  hour: ``expire_links`` makes them 404, and reading the prediction again gives the same URL).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.hosted import HostedFake, Job, default_video
from tests.fakes.server import Request, Response

SEEDANCE = {
    "prompt",
    "image",
    "last_frame_image",
    "duration",
    "resolution",
    "aspect_ratio",
    "fps",
    "camera_fixed",
    "seed",
}
SCHEMAS: dict[str, tuple[set[str], dict[str, set[Any]]]] = {
    "bytedance/seedance-1-pro": (
        SEEDANCE,
        {"duration": set(range(2, 13)), "resolution": {"480p", "720p", "1080p"}},
    ),
    "bytedance/seedance-1.5-pro": (
        SEEDANCE | {"generate_audio"},
        {"duration": set(range(2, 13)), "resolution": {"480p", "720p", "1080p"}},
    ),
    "minimax/hailuo-02": (
        {"prompt", "first_frame_image", "last_frame_image", "duration", "resolution", "prompt_optimizer"},
        {"duration": {6, 10}, "resolution": {"512p", "768p", "1080p"}},
    ),
}
TOKEN = "r8_fakeTokenForTests0123456789"


class ReplicateFake(HostedFake):
    submit_route = ("POST", r"/predictions$")
    poll_route = ("GET", r"^/v1/predictions/")
    not_found = {"title": "Not found", "detail": "Prediction not found", "status": 404}
    unauthorized = {
        "title": "Unauthenticated",
        "detail": "You did not pass a valid authentication token",
        "status": 401,
    }

    def __init__(
        self,
        *,
        token: str = TOKEN,
        polls_to_finish: int = 2,
        video: Callable[[str, Any], bytes] = default_video,
    ) -> None:
        super().__init__(token, polls_to_finish=polls_to_finish, video=video)
        self.route("POST", r"/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/predictions", self._create)
        self.route("GET", r"/v1/predictions/(?P<id>[^/]+)", self._get)
        self.route("POST", r"/v1/predictions/(?P<id>[^/]+)/cancel", self._cancel)

    def expire_links(self) -> None:
        super().expire_links()
        for job in self.jobs.values():  # Replicate removes the files; the prediction keeps naming them
            job.extra["data_removed"] = True

    def _create(self, req: Request, m: re.Match[str]) -> Response:
        model = f"{m['owner']}/{m['name']}"
        if model not in SCHEMAS:
            return Response(
                404,
                {"title": "Not found", "detail": "The requested resource could not be found.", "status": 404},
            )
        body = req.json() or {}
        inputs = body.get("input") or {}
        allowed, enums = SCHEMAS[model]
        invalid = [
            {"field": k, "description": f"Additional property {k} is not allowed"}
            for k in inputs
            if k not in allowed
        ]
        invalid += [
            {"field": k, "description": f"{k} must be one of {sorted(v, key=str)}"}
            for k, v in enums.items()
            if k in inputs and inputs[k] not in v
        ]
        if "prompt" not in inputs:
            invalid.append({"field": "prompt", "description": "prompt is required"})
        for k, v in inputs.items():
            if k.endswith("image") and not str(v).startswith(("data:image/", "https://")):
                invalid.append({"field": k, "description": "Does not match format 'uri'"})
        if invalid:
            return Response(
                422,
                {
                    "title": "Input validation failed",
                    "status": 422,
                    "detail": "- " + "\n- ".join(i["description"] for i in invalid),
                    "invalid_fields": [{"type": "invalid", **i} for i in invalid],
                },
            )
        job = self.new_job(model, inputs, str(inputs.get("prompt", "")))
        if "wait" in req.headers.get("prefer", ""):
            job.polls_left = 0  # held until done, as Prefer: wait does for a quick model
        return Response(201, self._prediction(job))

    def _prediction(self, job: Job) -> dict[str, Any]:
        done = job.done
        status = "starting" if job.polls == 0 and not done else "processing"
        output = error = None
        if job.cancelled:
            status = "canceled"
        elif done and job.outcome == "refuse":
            status, error = (
                "failed",
                "The input or output was flagged as sensitive. Please try again with "
                "different inputs. (E005)",
            )
        elif done and job.outcome == "fail":
            status, error = "failed", "CUDA error: an illegal memory access was encountered"
        elif done:
            status = "succeeded"
            output = job.extra.get("url") or job.extra.setdefault("url", self.issue_file(job))
        base = f"{self.url}/v1/predictions/{job.id}"
        return {
            "id": job.id,
            "model": job.kind,
            "version": "hidden",
            "input": job.body,
            "logs": "",
            "output": output,
            "error": error,
            "status": status,
            "data_removed": job.extra.get("data_removed", False),
            "created_at": "2026-11-23T12:00:00.000Z",
            "metrics": {"predict_time": 1.2} if done else {},
            "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"https://replicate.com/p/{job.id}"},
        }

    def _get(self, req: Request, m: re.Match[str]) -> Response:
        return self.read(m["id"], self._prediction)

    def _cancel(self, req: Request, m: re.Match[str]) -> Response:
        return self.cancel(m["id"], lambda job: Response(200, self._prediction(job)))
