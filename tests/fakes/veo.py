"""A fake Gemini API for Veo (long-running video operations) on 127.0.0.1.

Speaks the Gemini Developer API's protocol as google-genai's mldev converters write and read it:
``POST /v1beta/models/{model}:predictLongRunning`` (``x-goog-api-key``) → ``{name}``;
``GET /v1beta/{name}`` → ``{name, done, response:{generateVideoResponse:{generatedSamples:[{video:
{uri}}], raiMediaFilteredCount, raiMediaFilteredReasons}}}`` or ``{done, error}``; the video at
``GET /v1beta/files/{id}:download?alt=media`` with the key. Errors are Google's ``{error:{code,
message, status}}``. Parameters the Gemini API does not take (seed, fps, generateAudio) are a 400.

Prompts steer the fake: ``BLOCKED_INPUT`` → 400 at creation; ``REFUSE_OUTPUT`` → the operation is
done with the video filtered out (``raiMediaFilteredCount: 1``) and no sample.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from tests.fakes.server import Request, Response, mp4
from tests.fakes.tasks import BLOCKED_INPUT, REFUSE_OUTPUT, Task, TaskFake

NOT_ON_GEMINI_API = ("seed", "fps", "generateAudio", "storageUri", "compressionQuality")
RAI_REASON = (
    "Your current safety settings for person generation prevented the video from being generated. "
    "Support codes: 17301594"
)


def error(code: int, status: str, message: str) -> Response:
    return Response(code, {"error": {"code": code, "message": message, "status": status}})


class FakeVeo(TaskFake):
    """The Gemini API's Veo operations. ``polls`` is how many reads an operation takes to be done."""

    submit_route = ("POST", r":predictLongRunning$")
    poll_route = ("GET", r"/operations/")
    download_route = ("GET", r":download$")  # the Files API's download of a generated video

    def __init__(
        self, key: str = "gemini-test-key-0123456789", *, polls: int = 2, video: bytes = b""
    ) -> None:
        super().__init__(key, polls=polls, video=video)
        self.operations = self.tasks  # the Gemini API's name for them
        self.route("POST", r"/v1beta/models/(?P<model>[\w.-]+):predictLongRunning", self.create)
        self.route("GET", r"/v1beta/(?P<name>models/[\w.-]+/operations/\w+)", self.get)
        self.route("GET", r"/v1beta/files/(?P<file>\w+):download", self.download)

    def _authorised(self, req: Request) -> bool:
        return req.headers.get("x-goog-api-key") == self.key

    def _unauthorised(self) -> Response:
        return error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")

    def create(self, req: Request, m: re.Match[str]) -> Response:
        if not self._authorised(req):
            return self._unauthorised()
        body = req.json()
        instances, params = body.get("instances"), body.get("parameters") or {}
        if not isinstance(instances, list) or len(instances) != 1 or not instances[0].get("prompt"):
            return error(400, "INVALID_ARGUMENT", "instances must hold one instance with a prompt")
        inst = instances[0]
        for name in NOT_ON_GEMINI_API:
            if name in params:
                return error(400, "INVALID_ARGUMENT", f"`{name}` isn't supported by this model.")
        for key in ("image", "lastFrame"):
            if key in inst and not _is_image(inst[key]):
                return error(400, "INVALID_ARGUMENT", f"{key} must be {{bytesBase64Encoded, mimeType}}")
        refs = inst.get("referenceImages") or []
        if refs and ("image" in inst or "lastFrame" in inst):
            return error(
                400, "INVALID_ARGUMENT", "referenceImages cannot be combined with image or lastFrame"
            )
        if len(refs) > 3 or any(
            not _is_image(r.get("image")) or str(r.get("referenceType", "")).lower() not in ("asset", "style")
            for r in refs
        ):
            return error(400, "INVALID_ARGUMENT", "up to 3 referenceImages of {image, referenceType}")
        if "lastFrame" in inst and "image" not in inst:
            return error(400, "INVALID_ARGUMENT", "lastFrame requires image")
        if params.get("durationSeconds", 8) not in (4, 5, 6, 7, 8) or params.get(
            "aspectRatio", "16:9"
        ) not in ("16:9", "9:16"):  # both optional: 8 s and 16:9 by default
            return error(400, "INVALID_ARGUMENT", "durationSeconds must be 4-8 and aspectRatio 16:9 or 9:16")
        if params.get("resolution", "720p") not in ("720p", "1080p") or params.get("sampleCount", 1) != 1:
            return error(400, "INVALID_ARGUMENT", "resolution must be 720p or 1080p")
        if BLOCKED_INPUT in inst["prompt"]:
            return error(
                400,
                "INVALID_ARGUMENT",
                "The prompt could not be submitted. This prompt contains sensitive "
                "words that violate Google's Responsible AI practices.",
            )
        with self._tlock:
            name = f"models/{m['model']}/operations/{secrets.token_hex(6)}{next(self._ids)}"
            self.operations[name] = Task(name, body, self.polls, "running", kind=m["model"])
        return Response(200, {"name": name})

    def get(self, req: Request, m: re.Match[str]) -> Response:
        if not self._authorised(req):
            return self._unauthorised()
        with self._tlock:
            op = self.operations.get(m["name"])
            if op is None:
                return error(404, "NOT_FOUND", f"Operation {m['name']} not found")
            op.polls_left -= 1
            if op.polls_left > 0:
                return Response(200, {"name": op.id})
            prompt = op.body["instances"][0]["prompt"]
            if REFUSE_OUTPUT in prompt:
                result: dict[str, Any] = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
            else:
                op.file = self.sign(op.body, op.file)  # the same file until it is gone
                # on the API's own origin, as the client reached it (through a proxy, the proxy's)
                origin = f"http://{req.headers['host']}" if "host" in req.headers else self.url
                uri = f"{origin}/v1beta/files/{op.file}:download?alt=media"
                result = {"generatedSamples": [{"video": {"uri": uri}}]}
        return Response(
            200,
            {
                "name": op.id,
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                    "generateVideoResponse": result,
                },
            },
        )

    def download(self, req: Request, m: re.Match[str]) -> Response:
        if not self._authorised(req):
            return Response(
                403, {"error": {"code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED"}}
            )
        if req.query.get("alt") != ["media"]:
            return error(400, "INVALID_ARGUMENT", "downloads need alt=media")
        clip = self.result(m["file"])
        return (
            error(404, "NOT_FOUND", f"File {m['file']} not found or has expired")
            if clip is None
            else mp4(clip)
        )


def _is_image(value: Any) -> bool:
    if not isinstance(value, dict) or value.get("mimeType") not in ("image/png", "image/jpeg"):
        return False
    try:
        return bool(base64.b64decode(value.get("bytesBase64Encoded", ""), validate=True))
    except ValueError:
        return False
