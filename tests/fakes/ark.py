"""A fake BytePlus ModelArk / Volcengine Ark content-generation API (Seedance) on 127.0.0.1.

Speaks Ark's task protocol: ``POST /api/v3/contents/generations/tasks`` with ``{model, content:[…],
ratio, duration, resolution, seed, camera_fixed, generate_audio, return_last_frame, watermark}`` →
``{id}``; ``GET /api/v3/contents/generations/tasks/{id}`` → ``{id, model, status, content:{video_url,
last_frame_url}, usage:{completion_tokens,total_tokens}, error}``. Results are presigned links on
another host (``localhost`` rather than ``127.0.0.1``) that expire; each task read signs a fresh one.

Prompts steer the fake: ``BLOCKED_INPUT`` → 400 InputTextSensitiveContentDetected at creation (no
task, not billed); ``REFUSE_OUTPUT`` → the task renders, then fails output moderation with its
tokens charged (as vm0-ai/vm0#30959 reports of the real service).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from tests.fakes.server import Request, Response, access_denied, mp4
from tests.fakes.tasks import BLOCKED_INPUT, REFUSE_OUTPUT, Task, TaskFake

SIZES = {"480p": (864, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
RATIOS = {"16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"}
ROLES = {"first_frame", "last_frame", "reference_image"}


def error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message, "param": "", "type": "BadRequest"}})


class FakeArk(TaskFake):
    """Ark's task API. ``polls`` is how many reads a task takes to finish (a slow job: many)."""

    submit_route = ("POST", r"/contents/generations/tasks$")
    poll_route = ("GET", r"/contents/generations/tasks/")
    download_route = ("GET", r"^/tos/")  # results are links into TOS, Volcengine's object storage

    def __init__(
        self,
        key: str = "ark-test-key-0123456789",
        *,
        polls: int = 2,
        video: bytes = b"",
        models: tuple[str, ...] = (),
    ) -> None:
        super().__init__(key, polls=polls, video=video)
        self.models = set(models)  # empty: any model id
        self.route("POST", r"/api/v3/contents/generations/tasks", self.create)
        self.route("GET", r"/api/v3/contents/generations/tasks/(?P<id>[\w-]+)", self.get)
        self.route("GET", r"/tos/(?P<sig>\w+)/video\.mp4", self.download)

    @property
    def base(self) -> str:
        """What the adapter is pointed at (SHOTLIST_ARK_URL): the API's root, as Ark's base URL is."""
        return f"{self.url}/api/v3"

    # -- routes ---------------------------------------------------------------------------------
    def _authorised(self, req: Request) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.key}"

    def create(self, req: Request, _m: re.Match[str]) -> Response:
        if not self._authorised(req):
            return error(401, "AuthenticationError", "the API key in the request is missing or invalid")
        body = req.json()
        model = body.get("model")
        if not isinstance(model, str) or (self.models and model not in self.models):
            return error(404, "InvalidEndpointOrModel.NotFound", f"the model {model} does not exist")
        content = body.get("content")
        if not isinstance(content, list) or not content:
            return error(400, "MissingParameter", "content is required")
        texts = [c for c in content if c.get("type") == "text"]
        images = [c for c in content if c.get("type") == "image_url"]
        if len(texts) + len(images) != len(content) or len(texts) > 1:
            return error(400, "InvalidParameter", "content items must be one text and image_url items")
        roles = [c.get("role") for c in images]
        if any(r not in ROLES for r in roles):
            return error(400, "InvalidParameter", f"unknown image role in {roles}")
        if "reference_image" in roles and ({"first_frame", "last_frame"} & set(roles)):
            return error(
                400, "InvalidParameter", "first_frame/last_frame and reference_image cannot be used together"
            )
        if "last_frame" in roles and "first_frame" not in roles:
            return error(400, "InvalidParameter", "last_frame requires first_frame")
        for c in images:
            url = (c.get("image_url") or {}).get("url", "")
            if not re.match(
                r"data:image/(png|jpeg|webp);base64,[A-Za-z0-9+/=]+$", url
            ) and not url.startswith("https://"):
                return error(
                    400, "InvalidParameter", "image_url.url must be an https URL or a base64 data URI"
                )
        if body.get("resolution") not in SIZES or body.get("ratio") not in RATIOS:
            return error(
                400, "InvalidParameter", f"bad resolution/ratio {body.get('resolution')}/{body.get('ratio')}"
            )
        if not isinstance(body.get("duration"), int) or not 2 <= body["duration"] <= 15:
            return error(
                400, "InvalidParameter", f"duration must be an integer 2–15, not {body.get('duration')!r}"
            )
        prompt = texts[0]["text"] if texts else ""
        if BLOCKED_INPUT in prompt:
            return error(
                400,
                "InputTextSensitiveContentDetected",
                "The request failed because the input text may contain sensitive information.",
            )
        w, h = SIZES[body["resolution"]]
        tokens = w * h * 24 * body["duration"] // 1024
        with self._tlock:
            task_id = f"cgt-20261123{next(self._ids):06d}-{secrets.token_hex(3)}"
            self.tasks[task_id] = Task(task_id, body, self.polls, "queued", kind=model, tokens=tokens)
        return Response(200, {"id": task_id})

    def get(self, req: Request, m: re.Match[str]) -> Response:
        if not self._authorised(req):
            return error(401, "AuthenticationError", "the API key in the request is missing or invalid")
        with self._tlock:
            task = self.tasks.get(m["id"])
            if task is None:
                return error(404, "ResourceNotFound", f"task {m['id']} not found")
            if task.status in ("queued", "running"):
                task.polls_left -= 1
                task.status = "running" if task.polls_left > 0 else self._finish(task)
            out: dict[str, Any] = {
                "id": task.id,
                "model": task.kind,
                "status": task.status,
                "error": task.error,
                "created_at": 1763856000,
                "updated_at": 1763856090,
                "seed": task.body.get("seed", 42),
                "resolution": task.body["resolution"],
                "ratio": task.body["ratio"],
                "duration": task.body["duration"],
                "framespersecond": 24,
            }
            if task.status == "succeeded":
                sig = self.sign(task.body)  # every read signs a fresh link
                out["content"] = {
                    "video_url": f"{self.cdn}/tos/{sig}/video.mp4",
                    "last_frame_url": f"{self.cdn}/tos/{sig}/last.png",
                }
            if task.status == "succeeded" or task.error and "Output" in task.error["code"]:
                out["usage"] = {"completion_tokens": task.tokens, "total_tokens": task.tokens}
        return Response(200, out)

    def _finish(self, task: Task) -> str:
        prompt = next(c["text"] for c in task.body["content"] if c["type"] == "text")
        if REFUSE_OUTPUT in prompt:
            task.error = {
                "code": "OutputVideoSensitiveContentDetected",
                "message": "The request failed because the output video may contain sensitive information.",
            }
            return "failed"
        return "succeeded"

    def download(self, req: Request, m: re.Match[str]) -> Response:
        clip = self.result(m["sig"])
        return access_denied() if clip is None else mp4(clip)
