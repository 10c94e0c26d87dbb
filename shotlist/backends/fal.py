"""fal's queue API: submit to a model endpoint, poll the request's status, fetch ``video.url``.

Every model on fal names its fields its own way (Kling takes ``image_url``, Veo 3.1's first/last
endpoint ``first_frame_url``): the catalog entry maps shotlist's fields to the endpoint's names in
``extra.fields`` (``extra.fields_<endpoint key>`` overrides them for one endpoint), so this module
holds the protocol and the catalog holds the models.

Protocol (docs.fal.ai/model-endpoints/queue, fal-client): ``POST {queue}/{endpoint}`` → ``request_id``;
status and result live under the app's owner/alias only (``fal-ai/kling-video/requests/{id}``), not
under the endpoint's sub-path.
"""

from __future__ import annotations

import json
from typing import Any

from shotlist.backends.base import BackendError, JobGone, JobState, JobStatus
from shotlist.backends.hosted import HostedBackend, state_words
from shotlist.backends.http import env_url, input_data_uri, job_parts, mapped_input
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

#: fal keeps outputs per request as asked (docs: data retention); a week covers a build left overnight.
LIFECYCLE = json.dumps({"expiration_duration_seconds": 7 * 24 * 3600})


class FalBackend(HostedBackend):
    """Generates clips with models hosted on fal's queue."""

    name = "fal"
    api_url = "https://queue.fal.run"
    api_url_env = ("SHOTLIST_FAL_URL",)
    key_env = ("FAL_KEY",)
    auth_scheme = "Key"
    states = state_words(queued="IN_QUEUE", running="IN_PROGRESS", succeeded="COMPLETED")
    refusal_markers = ("content_policy_violation",)  # fal's error type for a content checker's refusal

    def api_root(self) -> str:
        host = env_url("FAL_QUEUE_RUN_HOST", default="")  # the queue host fal-client reads
        return env_url(*self.api_url_env, default=f"https://{host}" if host else self.api_url)

    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        key = endpoint_key(entry, spec)
        endpoint = entry.endpoint[key]
        data = await self.create(
            f"/{endpoint}",
            mapped_input(entry, spec, key, image=lambda m: input_data_uri(m, entry.image)),
            headers={"X-Fal-Object-Lifecycle-Preference": LIFECYCLE},
        )
        return f"{endpoint}::{self.created(data, 'request_id')}"

    def reason(self, body: Any) -> str | None:
        kinds, text = error_detail(body, "")
        return f"{text} ({', '.join(sorted(kinds))})" if text and kinds else text or None

    async def poll(self, job_id: str) -> JobStatus:
        endpoint, request_id = job_parts(job_id, 2, self.name)
        data = await self.http.json(
            "GET", f"/{app_path(endpoint)}/requests/{request_id}/status", params={"logs": "0"}
        )
        state = self.state(data.get("status"))
        if state is JobState.QUEUED:
            position = data.get("queue_position")
            return JobStatus(
                state,
                message=f"queue position {position if position is not None else '?'}",
                provider_job=request_id,
                position=position if isinstance(position, int) else None,
            )
        if state is JobState.RUNNING:
            return JobStatus(state, provider_job=request_id)
        if data.get("error"):
            evidence = str(data.get("error_type") or "")
            return self.failed(f"fal: {data['error']}", evidence=evidence, provider_job=request_id)
        return await self._outcome(job_id, endpoint, request_id)

    async def _outcome(self, job_id: str, endpoint: str, request_id: str) -> JobStatus:
        """Read a completed request's result: a video, a refusal or a failure."""
        response = await self.http.request(
            "GET", f"/{app_path(endpoint)}/requests/{request_id}", ok=(400, 404, 409, 422)
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            kinds, text = error_detail(body, response.text)
            if response.status_code == 404:  # completed (and billed), and its result is gone
                raise JobGone(
                    f"fal: request {request_id} completed but fal no longer has its result ({text})"
                )
            return self.failed(f"fal: {text}", evidence=" ".join(kinds), provider_job=request_id)
        nsfw = body.get("has_nsfw_concepts")
        if nsfw is True or (isinstance(nsfw, list) and any(nsfw)):
            return JobStatus(
                JobState.REFUSED,
                message="fal: the model's safety checker flagged the output (has_nsfw_concepts)",
                provider_job=request_id,
            )
        video = body.get("video")
        if not isinstance(video, dict) or not video.get("url"):
            return self.without_video(
                job_id, f"fal: the result has no video: {str(body)[:200]}", provider_job=request_id
            )
        return self.succeeded(job_id, str(video["url"]), provider_job=request_id)


def app_path(endpoint: str) -> str:
    """The owner/alias an endpoint's requests live under (``fal-ai/veo3.1/image-to-video`` → ``fal-ai/veo3.1``)."""
    parts = endpoint.strip("/").split("/")
    keep = 3 if parts[0] in ("workflows", "comfy") else 2
    return "/".join(parts[:keep])


def endpoint_key(entry: ModelEntry, spec: ShotSpec) -> str:
    """Which of the model's endpoints serves this shot: its mode, or ``<mode>_last`` with a last frame."""
    if spec.input("end_image") and f"{spec.mode}_last" in entry.endpoint:
        return f"{spec.mode}_last"
    if spec.mode not in entry.endpoint:
        raise BackendError(f"{entry.id} has no endpoint for {spec.mode}")
    return spec.mode


def error_detail(body: Any, text: str) -> tuple[set[str], str]:
    """fal's error body (``detail``: a list of {loc, msg, type} or a string) as types and one message."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        kinds = {str(d.get("type")) for d in detail if isinstance(d, dict)}
        msgs = [str(d.get("msg")) for d in detail if isinstance(d, dict) and d.get("msg")]
        return kinds, "; ".join(msgs) or text[:300]
    if isinstance(detail, str):
        kind = body.get("error_type") if isinstance(body, dict) else None
        return ({str(kind)} if kind else set()), detail
    return set(), text[:300]
