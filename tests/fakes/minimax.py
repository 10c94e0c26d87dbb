"""A fake MiniMax video API (Hailuo) on 127.0.0.1: task → file id → download URL.

``POST /v1/video_generation`` → ``{task_id, base_resp}``; ``GET /v1/query/video_generation?task_id=``
→ ``{task_id, status, file_id, video_width, video_height, base_resp}``; ``GET /v1/files/retrieve?
file_id=`` → ``{file:{file_id, bytes, created_at, filename, purpose, download_url}, base_resp}``.
Errors come as HTTP 200 with a non-zero ``base_resp.status_code`` (1004 auth, 1002 rate limit, 2013
invalid parameters, 1026 sensitive input), like the real service. Download links live on another
host (``localhost``), expire, and each retrieve signs a fresh one.

Prompts steer the fake: ``BLOCKED_INPUT`` → 1026 at creation; ``REFUSE_OUTPUT`` → the task fails
with 1027 (output moderation). ``rate_limit_next`` answers that many next requests with 1002.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.server import Request, Response, mp4
from tests.fakes.tasks import BLOCKED_INPUT, REFUSE_OUTPUT, Task, TaskFake

MODELS = {
    "MiniMax-Hailuo-02": ({6, 10}, {"512P", "768P", "1080P"}),
    "S2V-01": ({6}, {"720P"}),
    "MiniMax-Hailuo-2.3": ({6, 10}, {"768P", "1080P"}),
}
STEPS = ("Queueing", "Preparing", "Processing")


def ok(**data: Any) -> Response:
    return Response(200, {**data, "base_resp": {"status_code": 0, "status_msg": "success"}})


def fail(code: int, message: str, **data: Any) -> Response:
    return Response(200, {**data, "base_resp": {"status_code": code, "status_msg": message}})


class FakeMiniMax(TaskFake):
    """MiniMax's three-step video flow. ``polls`` is how many queries a task takes to finish."""

    submit_route = ("POST", r"^/v1/video_generation$")
    poll_route = ("GET", r"^/v1/query/")
    download_route = ("GET", r"^/cdn/")  # the download_url that files/retrieve hands out

    def __init__(
        self, key: str = "minimax-test-key-0123456789", *, polls: int = 3, video: bytes = b""
    ) -> None:
        super().__init__(key, polls=polls, video=video)
        self.rate_limit_next = 0
        self.route("POST", r"/v1/video_generation", self.create)
        self.route("GET", r"/v1/query/video_generation", self.query)
        self.route("GET", r"/v1/files/retrieve", self.retrieve)
        self.route("GET", r"/cdn/(?P<sig>\w+)/output\.mp4", self.download)

    def _gate(self, req: Request) -> Response | None:
        if req.headers.get("authorization") != f"Bearer {self.key}":
            return fail(1004, "authorized error, wrong API key")
        with self._tlock:
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return fail(1002, "rate limit exceeded")
        return None

    def create(self, req: Request, _m: re.Match[str]) -> Response:
        if (refused := self._gate(req)) is not None:
            return refused
        body = req.json()
        model = body.get("model")
        if model not in MODELS:
            return fail(2013, f"invalid params, model {model} is not supported")
        durations, sizes = MODELS[model]
        if body.get("duration", 6) not in durations or body.get("resolution", "768P") not in sizes:
            return fail(
                2013, f"invalid params, duration {body.get('duration')} / resolution {body.get('resolution')}"
            )
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str) or len(prompt) > 2000:
            return fail(2013, "invalid params, prompt must be at most 2000 characters")
        if body.get("resolution") == "512P" and "first_frame_image" not in body:
            return fail(2013, "invalid params, 512P needs first_frame_image")
        if "last_frame_image" in body and "first_frame_image" not in body:
            return fail(2013, "invalid params, last_frame_image needs first_frame_image")
        images = [body[k] for k in ("first_frame_image", "last_frame_image") if k in body]
        for ref in body.get("subject_reference") or []:
            if (
                ref.get("type") != "character"
                or not isinstance(ref.get("image"), list)
                or len(ref["image"]) != 1
            ):
                return fail(
                    2013, "invalid params, subject_reference is [{type: character, image: [one image]}]"
                )
            images += ref["image"]
        if model == "S2V-01" and not body.get("subject_reference"):
            return fail(2013, "invalid params, S2V-01 needs subject_reference")
        if any(not re.match(r"(data:image/(png|jpeg|webp);base64,|https://)", i) for i in images):
            return fail(2013, "invalid params, images must be URLs or base64 data URLs")
        if BLOCKED_INPUT in prompt:
            return fail(1026, "video description contains sensitive content")
        with self._tlock:
            task_id = f"{106916112212000 + next(self._ids)}"
            self.tasks[task_id] = Task(task_id, body, self.polls, "Queueing")
        return ok(task_id=task_id)

    def query(self, req: Request, _m: re.Match[str]) -> Response:
        if (refused := self._gate(req)) is not None:
            return refused
        with self._tlock:
            task = self.tasks.get((req.query.get("task_id") or [""])[0])
            if task is None:
                return fail(2013, "invalid params, task not found")
            if task.status in STEPS:
                task.polls_left -= 1
                if task.polls_left > 0:
                    task.status = STEPS[min(len(STEPS) - 1, self.polls - task.polls_left)]
                elif REFUSE_OUTPUT in task.body["prompt"]:
                    task.status = "Fail"
                else:
                    task.status, task.file = "Success", f"{2000000 + int(task.id) % 1000000}"
            if task.status == "Fail":
                return fail(
                    1027,
                    "output video contains sensitive content",
                    task_id=task.id,
                    status="Fail",
                    file_id="",
                )
            return ok(
                task_id=task.id,
                status=task.status,
                file_id=task.file,
                video_width=1366 if task.file else 0,
                video_height=768 if task.file else 0,
            )

    def retrieve(self, req: Request, _m: re.Match[str]) -> Response:
        if (refused := self._gate(req)) is not None:
            return refused
        file_id = (req.query.get("file_id") or [""])[0]
        task = next((t for t in self.tasks.values() if t.file == file_id), None)
        if task is None:
            return fail(1000, "file not found")
        with self._tlock:
            sig = self.sign(task.body)  # each retrieve signs a fresh link
        return ok(
            file={
                "file_id": int(file_id),
                "bytes": len(self.video),
                "created_at": 1763856000,
                "filename": "output.mp4",
                "purpose": "video_generation",
                "download_url": f"{self.cdn}/cdn/{sig}/output.mp4",
            }
        )

    def download(self, req: Request, m: re.Match[str]) -> Response:
        clip = self.result(m["sig"])
        if clip is None:
            return Response(403, b"AccessDenied: Request has expired", {"Content-Type": "text/plain"})
        return mp4(clip)
