"""A fake Kling API on 127.0.0.1: JWT auth, text2video / image2video tasks, camera control.

Every request must carry ``Authorization: Bearer <JWT>``, which the fake decodes and verifies as
Kling does: HS256 signature with the secret key, ``iss`` = the access key, ``nbf`` passed, ``exp``
not passed and at most 30 minutes ahead. Tasks: ``POST /v1/videos/{kind}`` → ``{code, message,
request_id, data:{task_id, task_status}}``; ``GET /v1/videos/{kind}/{task_id or external_task_id}``
→ ``data.task_status`` (submitted, processing, succeed, failed), ``task_status_msg``,
``task_result.videos[{id, url, duration}]``. Video links live on another host and expire.

Prompts steer the fake: ``BLOCKED_INPUT`` → HTTP 400, code 1301 (content security policy) at
creation; ``REFUSE_OUTPUT`` → the task fails with a risk-control message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from tests.fakes.server import Request, Response, mp4
from tests.fakes.tasks import BLOCKED_INPUT, REFUSE_OUTPUT, Task, TaskFake

MODELS = {
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
}
AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(token: str, access_key: str, secret_key: str, *, now: float | None = None) -> str | None:
    """Why Kling would reject this token, or None when it is valid."""
    parts = token.split(".")
    if len(parts) != 3:
        return "token is not a JWT"
    try:
        header, payload = json.loads(_unb64(parts[0])), json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error):
        return "token is not decodable"
    if header.get("alg") != "HS256" or header.get("typ") != "JWT":
        return f"unsupported header {header}"
    expected = hmac.new(secret_key.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return "signature invalid"
    t = time.time() if now is None else now
    if payload.get("iss") != access_key:
        return "issuer is not an access key of this account"
    if not isinstance(payload.get("nbf"), int) or payload["nbf"] > t:
        return "token not yet valid"
    if not isinstance(payload.get("exp"), int) or payload["exp"] <= t:
        return "token expired"
    if payload["exp"] - t > 1800 + 5:
        return "token valid for more than 30 minutes"
    return None


def reply(status: int, code: int, message: str, data: Any = None) -> Response:
    return Response(
        status, {"code": code, "message": message, "request_id": secrets.token_hex(8), "data": data}
    )


class FakeKling(TaskFake):
    """Kling's task API. ``polls`` is how many reads a task takes to finish."""

    submit_route = ("POST", r"^/v1/videos/")
    poll_route = ("GET", r"^/v1/videos/")
    download_route = ("GET", r"^/kcdn/")  # results are links on Kling's CDN

    def __init__(
        self,
        access_key: str = "kling-ak-0123456789",
        secret_key: str = "kling-sk-abcdefghijklmnop",
        *,
        polls: int = 2,
        video: bytes = b"",
    ) -> None:
        super().__init__(access_key, polls=polls, video=video)
        self.access_key, self.secret_key = access_key, secret_key
        self.external: dict[str, str] = {}
        self.jwt_errors: list[str] = []
        self.slow_answer_s = 0.0  # make the next create answer late (after the task exists): a lost answer
        self.route("POST", r"/v1/videos/(?P<kind>text2video|image2video)", self.create)
        self.route("GET", r"/v1/videos/(?P<kind>text2video|image2video)/(?P<id>[\w-]+)", self.get)
        self.route("GET", r"/kcdn/(?P<sig>\w+)/output\.mp4", self.download)  # the signed result links

    @property
    def base(self) -> str:
        return f"{self.url}/v1"

    def _auth(self, req: Request) -> Response | None:
        header = req.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return reply(401, 1001, "Authorization is empty")
        why = verify_jwt(header[7:], self.access_key, self.secret_key)
        if why:
            self.jwt_errors.append(why)
            return reply(401, 1002, f"Authorization is invalid: {why}")
        return None

    def create(self, req: Request, m: re.Match[str]) -> Response:
        if (denied := self._auth(req)) is not None:
            return denied
        body, kind = req.json(), m["kind"]
        if body.get("model_name", "kling-v1") not in MODELS:
            return reply(400, 1201, f"model_name {body.get('model_name')} is invalid")
        if body.get("mode", "std") not in ("std", "pro") or body.get("duration", "5") not in ("5", "10"):
            return reply(400, 1201, 'mode must be std|pro and duration "5"|"10" (strings)')
        if len(body.get("prompt", "")) > 2500 or len(body.get("negative_prompt", "")) > 2500:
            return reply(400, 1201, "prompt and negative_prompt are at most 2500 characters")
        if kind == "text2video" and body.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"):
            return reply(400, 1201, "aspect_ratio must be 16:9, 9:16 or 1:1")
        if kind == "image2video":
            for key in ("image", "image_tail"):
                value = body.get(key)
                if value is None:
                    continue
                if value.startswith("data:") or not _is_base64_image(value):
                    return reply(
                        400, 1201, f"{key} must be bare base64 of a JPG/PNG (no data: prefix) or a URL"
                    )
            if not body.get("image") and not body.get("image_tail"):
                return reply(400, 1201, "image or image_tail is required")
            if body.get("image_tail") and body.get("camera_control"):
                return reply(400, 1201, "image_tail and camera_control cannot be used together")
        camera = body.get("camera_control")
        if camera is not None:
            config = camera.get("config") or {}
            moving = [a for a in AXES if config.get(a, 0) != 0]
            if (
                camera.get("type") != "simple"
                or len(moving) != 1
                or any(abs(config.get(a, 0)) > 10 for a in AXES)
            ):
                return reply(400, 1201, "camera_control simple needs exactly one non-zero axis in [-10, 10]")
        external = body.get("external_task_id")
        if external and external in self.external:
            return reply(400, 1201, f"external_task_id {external} already exists")
        if BLOCKED_INPUT in body.get("prompt", ""):
            return reply(400, 1301, "Trigger the content security policy of the platform")
        with self._tlock:
            task_id = f"CjhS{next(self._ids):04d}{secrets.token_hex(4)}"
            self.tasks[task_id] = Task(task_id, body, self.polls, "submitted", kind=kind)
            if external:
                self.external[external] = task_id
            delay, self.slow_answer_s = self.slow_answer_s, 0.0
        time.sleep(delay)
        return reply(
            200,
            0,
            "SUCCEED",
            {
                "task_id": task_id,
                "task_status": "submitted",
                "created_at": 1763856000000,
                "updated_at": 1763856000000,
            },
        )

    def get(self, req: Request, m: re.Match[str]) -> Response:
        if (denied := self._auth(req)) is not None:
            return denied
        with self._tlock:
            task = self.tasks.get(self.external.get(m["id"], m["id"]))
            if task is None or task.kind != m["kind"]:
                return reply(404, 1203, f"task {m['id']} not found")
            if task.status in ("submitted", "processing"):
                task.polls_left -= 1
                if task.polls_left > 0:
                    task.status = "processing"
                elif REFUSE_OUTPUT in task.body["prompt"]:
                    task.status, task.message = "failed", "Failure to pass the risk control system"
                else:
                    task.status = "succeed"
            data: dict[str, Any] = {
                "task_id": task.id,
                "task_status": task.status,
                "task_status_msg": task.message,
                "task_info": {"external_task_id": task.body.get("external_task_id")},
                "created_at": 1763856000000,
                "updated_at": 1763856090000,
            }
            if task.status == "succeed":
                task.file = self.sign(task.body, task.file)  # the same link until it dies
                data["task_result"] = {
                    "videos": [
                        {
                            "id": task.file,
                            "url": f"{self.cdn}/kcdn/{task.file}/output.mp4",
                            "duration": task.body.get("duration", "5"),
                        }
                    ]
                }
        return reply(200, 0, "SUCCEED", data)

    def download(self, req: Request, m: re.Match[str]) -> Response:
        clip = self.result(m["sig"])
        return Response(404, b"Not Found", {"Content-Type": "text/plain"}) if clip is None else mp4(clip)


def _is_base64_image(value: str) -> bool:
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return False
    return raw.startswith(b"\x89PNG") or raw.startswith(b"\xff\xd8")
