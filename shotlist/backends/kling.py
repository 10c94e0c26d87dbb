"""Kling's own API: JWT auth, text2video / image2video tasks, camera control.

Every request carries ``Authorization: Bearer <JWT>``: HS256 over ``{iss: access key, exp, nbf}``
signed with the secret key, valid at most 30 minutes (written here with hmac; no JWT library).
``POST {base}/videos/text2video`` or ``/videos/image2video`` → ``data.task_id``; ``GET
{base}/videos/{kind}/{task_id}`` → ``data.task_status`` (submitted, processing, succeed, failed) and
``data.task_result.videos[0].url``. Each submit carries ``external_task_id`` = the take key, so a
submit whose answer was lost can be looked up (``recover``) instead of paid for twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from shotlist.backends.base import BackendError, JobGone, JobState, JobStatus
from shotlist.backends.hosted import HostedBackend, state_words
from shotlist.backends.http import input_image, job_parts, register_secret, secret
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

# From Kling's API docs as copied by third parties (api-singapore.klingai.com; another third-party page
# names api.klingai.com): unverified against Kling's own site. SHOTLIST_KLING_URL
# overrides it.
BASE_URL = "https://api-singapore.klingai.com/v1"
TOKEN_TTL = 1800  # Kling accepts tokens valid for at most 30 minutes
CONTENT_POLICY = {1301}  # "Trigger the content security policy of the platform"
NOT_FOUND = {1203}  # "the requested resource does not exist", whatever the HTTP status
_SPEED = {"slow": 3.0, "medium": 5.0, "fast": 8.0}
# Kling's own axes (its API docs): horizontal/vertical translate; "pan" turns about the x axis
# (up/down, a film-maker's tilt) and "tilt" about the y axis (left/right, a film-maker's pan);
# a negative zoom narrows the field of view (zooms in). Moves with no single axis stay in the prompt.
_AXES: dict[str, tuple[str, float]] = {
    "pan-left": ("tilt", -1),
    "pan-right": ("tilt", 1),
    "tilt-up": ("pan", 1),
    "tilt-down": ("pan", -1),
    "truck-left": ("horizontal", -1),
    "truck-right": ("horizontal", 1),
    "pedestal-up": ("vertical", 1),
    "pedestal-down": ("vertical", -1),
    "zoom-in": ("zoom", -1),
    "zoom-out": ("zoom", 1),
    "dolly-in": ("zoom", -1),
    "dolly-out": ("zoom", 1),
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def kling_jwt(access_key: str, secret_key: str, *, now: float | None = None, ttl: int = TOKEN_TTL) -> str:
    """An HS256 JWT for Kling: issued by the access key, valid from 5 s ago for ``ttl`` seconds."""
    t = int(time.time() if now is None else now)
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {"iss": access_key, "exp": t + min(ttl, TOKEN_TTL), "nbf": t - 5}
    signing_input = ".".join(
        _b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, payload)
    )
    signature = hmac.new(secret_key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def camera_control(spec: ShotSpec) -> dict[str, Any] | None:
    """Kling's ``camera_control`` for the shot's camera move, when one axis expresses it."""
    camera = spec.params.get("camera") or {}
    axis = _AXES.get(str(camera.get("move", "")))
    if axis is None:
        return None
    name, sign = axis
    config = dict.fromkeys(("horizontal", "vertical", "pan", "tilt", "roll", "zoom"), 0.0)
    config[name] = sign * _SPEED.get(str(camera.get("speed", "medium")), 5.0)
    return {"type": "simple", "config": config}


def task_request(spec: ShotSpec, entry: ModelEntry) -> tuple[str, dict[str, Any]]:
    """The task kind (text2video or image2video) and its request body for a shot."""
    images = {
        i.role: base64.b64encode(input_image(i, entry.image)[0]).decode("ascii")
        for i in spec.inputs
        if i.role in ("image", "end_image")
    }
    kind = "image2video" if images else "text2video"
    body: dict[str, Any] = {
        "model_name": entry.endpoint.get(spec.mode) or entry.endpoint["*"],
        "prompt": spec.prompt,
        "mode": str(entry.extra.get("mode", "std")),
        "duration": entry.wire_duration(spec.duration),
        "external_task_id": spec.take_key()[:32],
    }
    if spec.negative:
        body["negative_prompt"] = spec.negative
    if "cfg_scale" in entry.extra:  # Kling 2.x takes no cfg_scale
        body["cfg_scale"] = entry.extra["cfg_scale"]
    if kind == "text2video":
        body["aspect_ratio"] = spec.aspect  # image2video follows the image
    else:
        body["image"] = images["image"]  # bare base64: Kling refuses a data: prefix
        if "end_image" in images:
            body["image_tail"] = images["end_image"]
    camera = camera_control(spec) if entry.extra.get("camera_control") else None
    if camera and "image_tail" not in body:  # Kling takes a tail frame or camera control, not both
        body["camera_control"] = camera
    return kind, body


class KlingBackend(HostedBackend):
    """Kling models on Kling's own API (access key + secret key)."""

    name = "kling"
    poll_interval: float | None = 5.0
    api_url = BASE_URL
    api_url_env = ("SHOTLIST_KLING_URL",)
    key_env = ()  # no fixed key header: each request carries a fresh JWT (``_auth``)
    states = state_words(queued="submitted", running="processing", succeeded="succeed", failed="failed")
    refusal_markers = ("risk", "security", "sensitive", "policy", "moderation")

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self._token: tuple[str, float] = ("", 0.0)

    def _auth(self) -> dict[str, str]:
        """A fresh enough JWT: a new one when less than 5 minutes of the current one is left."""
        token, expires = self._token
        if time.time() > expires - 300:
            token = kling_jwt(secret("KLING_ACCESS_KEY"), secret("KLING_SECRET_KEY"))
            register_secret(token)
            self._token = (token, time.time() + TOKEN_TTL)
        return {"Authorization": f"Bearer {token}"}

    async def _call(self, method: str, url: str, *, submit: bool = False, **kwargs: Any) -> dict[str, Any]:
        response = await self.http.request(
            method, url, submit=submit, headers=self._auth(), ok=(400, 404), **kwargs
        )
        data = self.http.object_of(response, submit=submit)
        code = int(data.get("code") or 0)
        if code or response.status_code >= 400:
            message = f"Kling error {code}: {data.get('message', '')}"
            if response.status_code == 404 or code in NOT_FOUND:
                raise _NotFound(message)
            raise BackendError(message, refused=code in CONTENT_POLICY)
        return data

    async def submit(self, spec: ShotSpec) -> str:
        kind, body = task_request(spec, get_model(spec.model))
        data = await self._call("POST", f"/videos/{kind}", json=body, submit=True)
        return "::".join((spec.model, kind, self.created(data, "data", "task_id")))

    async def recover(self, spec: ShotSpec) -> str | None:
        """The job of a submit whose answer was lost, found by its external_task_id; None if none was made."""
        kind, body = task_request(spec, get_model(spec.model))
        try:
            data = await self._call("GET", f"/videos/{kind}/{body['external_task_id']}")
        except _NotFound:
            return None
        return "::".join((spec.model, kind, self.created(data, "data", "task_id")))

    async def poll(self, job_id: str) -> JobStatus:
        _, kind, task_id = job_parts(job_id, 3, self.name)
        task = (await self._call("GET", f"/videos/{kind}/{task_id}"))["data"]
        state = self.state(task.get("task_status"))
        provider_job = str(task.get("task_id") or "") or None
        if state is JobState.SUCCEEDED:
            videos = (task.get("task_result") or {}).get("videos") or []
            url = videos[0].get("url") if videos and isinstance(videos[0], dict) else None
            if not url:
                return self.without_video(
                    job_id, "kling: the task succeeded with no video", provider_job=provider_job
                )
            # a CDN link: the layer sends it no token
            return self.succeeded(job_id, str(url), provider_job=provider_job)
        if state is JobState.FAILED:
            return self.failed(
                str(task.get("task_status_msg") or "the task failed"), provider_job=provider_job
            )
        return JobStatus(state, provider_job=provider_job)


class _NotFound(JobGone):
    """Kling knows no such task (HTTP 404, code 1203): for a job it had made, the job is lost."""
