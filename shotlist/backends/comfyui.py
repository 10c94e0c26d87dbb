"""ComfyUI servers as one pool: inject the shot into an API-format workflow, queue it, follow it, download.

The workflow for a mode is API-format JSON (ComfyUI's "Save (API)"): the project's own
``templates/comfyui/<name>.json`` if it has one, else the built-in one shipped with shotlist. Nodes
whose ``_meta.title`` names a shotlist role receive the shot's values; a title may name several roles
separated by spaces (``"shotlist.size shotlist.frames"``):

=====================  ==========================================================================
``shotlist.prompt``     ``text`` / ``prompt`` / ``value``: the rendered prompt (required)
``shotlist.negative``   the negative prompt, when the shot has one (else the workflow's own stays)
``shotlist.image``      ``image`` of a LoadImage: the first frame, uploaded with ``/upload/image``
``shotlist.end_image``  the last frame, likewise
``shotlist.seed``       ``seed`` / ``noise_seed``: the shot's seed, else one derived from the take
``shotlist.frames``     ``length`` / ``amount`` / ``num_frames`` / ``batch_size``: duration × fps
``shotlist.fps``        ``fps`` / ``frame_rate``
``shotlist.size``       ``width`` and ``height``
``shotlist.output``     ``filename_prefix`` (every node with a ``filename_prefix`` gets one anyway)
=====================  ==========================================================================

ComfyUI skips work it has cached and, for an identical prompt, names the earlier run's file, which
may be gone. Every submission therefore gets its own ``filename_prefix`` (the save node runs again,
cheaply, on cached frames) and takes without a seed get one derived from the take key, so take 2 is
a new clip and not take 1 again.

Server facts this relies on (observed on ComfyUI 0.3.64 run with --cpu): ``/history/{id}`` is
``{}`` both while a prompt waits and for an unknown id (``/queue`` tells them apart); HTTP 200 with
non-empty ``node_errors`` is a failure; history is in memory only.

The frame size asked for is the one the model's catalog entry allows (multiples of 32) with the
output's aspect, so the clip is never rejected for its shape after the GPU time was spent. The
servers are one pool for every ComfyUI model of a build. A server that stops answering is left out
of the pool; its prompts that were still waiting in its queue are sent to a live server (they never
ran; the job moves, see ``JobStatus.moved_to``), and a prompt it was running is given up after
``DOWN_FOR_S`` with a message that says so (``JobGone``: the next build makes it again, free).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from shotlist.backends.base import BackendError, JobGone, JobState, JobStatus, SubmitUnknown
from shotlist.backends.http import (
    ExpiredURL,
    HttpLayer,
    RetryPolicy,
    input_image,
    job_parts,
    redact,
    redacted_logger,
    register_secret,
)
from shotlist.catalog import ModelEntry, get_model
from shotlist.spec import ShotSpec

log = logging.getLogger("shotlist.comfyui")

DEFAULT_URL = "http://127.0.0.1:8188"
DOWN_FOR_S = (
    30.0  # a server that did not answer is left out of the pool this long; its running prompt is given up
)
MOVE_AFTER_S = 5.0  # a server silent this long has its waiting prompts moved to a live one
POLL_TIMEOUT = httpx.Timeout(10.0, connect=2.0)  # a local server answers a poll at once, or is in trouble
WS_OPEN_WAIT_S = 2.0  # how long a submit waits for the progress socket before queueing anyway
BUSY = 1_000_000  # the queue length assumed for a server that answered /queue with an error
INPUTS: dict[str, tuple[str, ...]] = {
    "prompt": ("text", "prompt", "value", "positive"),
    "negative": ("text", "prompt", "value", "negative"),
    "image": ("image",),
    "end_image": ("image",),
    "seed": ("seed", "noise_seed"),
    "frames": ("length", "amount", "num_frames", "frames", "video_frames", "batch_size"),
    "fps": ("fps", "frame_rate"),
    "output": ("filename_prefix",),
}
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif", ".webp")


async def _none() -> None:
    return None


def server_urls(value: str | None = None) -> list[str]:
    """The ComfyUI servers to spread shots across: ``SHOTLIST_COMFYUI_URLS`` (commas or spaces between
    them), else the default local server."""
    raw = os.environ.get("SHOTLIST_COMFYUI_URLS", "") if value is None else value
    urls = [u.rstrip("/") for u in re.split(r"[,\s]+", raw) if u]
    return urls or [DEFAULT_URL]


class ComfyUIBackend:
    """Generates clips on one or more ComfyUI servers."""

    name = "comfyui"
    poll_interval: float | None = None

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.servers = server_urls()
        self.client_id = uuid.uuid4().hex
        self.sleep: Callable[[float], Awaitable[None]] = (
            asyncio.sleep
        )  # tests replace it; given to each layer
        self.progress: dict[str, float] = {}  # prompt id → 0..1, from the websocket
        self._layers: dict[str, HttpLayer] = {}
        self._outputs: dict[str, dict[str, str]] = {}
        self._graphs: dict[str, dict[str, Any]] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._pick_lock: asyncio.Lock | None = None
        self._sent: dict[str, int] = {}
        self._down: dict[str, float] = {}  # server → when it last failed to answer
        self._silent: dict[str, float] = {}  # server → since when its polls get no answer
        self._specs: dict[
            str, ShotSpec
        ] = {}  # job → its spec, to move it if its server dies before running it
        self._state: dict[str, JobState] = {}  # job → the state its server last reported
        self._opened: dict[str, asyncio.Event] = {}
        token = os.environ.get("SHOTLIST_COMFYUI_TOKEN", "").strip()  # for servers behind an auth proxy
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        if token:
            register_secret(token)

    def http(self, server: str) -> HttpLayer:
        if server not in self._layers:
            # A local server answers at once or is in trouble: short pauses between tries (about 3 s in
            # all), so a dead box is noticed in seconds; the engine paces the polls after that.
            policy = RetryPolicy(base=0.1, cap=2.0, timeout=httpx.Timeout(60.0, connect=2.0))
            layer = HttpLayer("comfyui", server, headers=self._headers, concurrency=4, policy=policy)
            layer.sleep = self.sleep
            self._layers[server] = layer
        return self._layers[server]

    async def aclose(self) -> None:
        for task in self._watchers.values():
            task.cancel()
        for task in self._watchers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watchers.clear()
        for layer in self._layers.values():
            await layer.aclose()
        self._layers.clear()

    # -- submit --------------------------------------------------------------------------------
    async def submit(self, spec: ShotSpec) -> str:
        entry = get_model(spec.model)
        graph = load_workflow(entry.endpoint.get(spec.mode, spec.mode), project_root(self.workdir))
        if self._pick_lock is None:
            self._pick_lock = asyncio.Lock()
        async with self._pick_lock:  # one at a time, so each choice sees the queue the last one made
            server = await self.pick_server()
            layer = self.http(server)
            uploads = {
                role: await self._upload(layer, spec, role, entry)
                for role in ("image", "end_image")
                if spec.input(role) is not None
            }
            graph = inject(graph, spec, entry, uploads, nonce=uuid.uuid4().hex[:8])
            prompt_id = str(uuid.uuid4())
            await self._watch(server)
            await self._queue(layer, server, prompt_id, graph)
        self._graphs[prompt_id] = graph
        job = f"{server}::{prompt_id}"
        self._specs[job] = spec
        return job

    async def pick_server(self) -> str:
        """The answering server with the shortest queue (ties: the one this build has sent fewest shots)."""

        async def load(server: str) -> int | None:
            # one quick try, no retries: a dead box in the pool must not hold up every shot
            try:
                response = await self.http(server).client.get(
                    "/queue", timeout=httpx.Timeout(10.0, connect=2.0)
                )
                if response.status_code >= 400:
                    return BUSY  # it answers, just not now: last choice, and the submit retries as usual
                q = response.json()
            except (httpx.TransportError, ValueError) as exc:
                log.info(
                    "comfyui: %s does not answer (%s); skipping it for %d s",
                    server,
                    redact(str(exc)) or type(exc).__name__,
                    DOWN_FOR_S,
                )
                self._down[server] = time.monotonic()
                return None
            self._down.pop(server, None)
            return len(q.get("queue_running", [])) + len(q.get("queue_pending", []))

        now = time.monotonic()
        candidates = [
            s for s in self.servers if now - self._down.get(s, -DOWN_FOR_S) >= DOWN_FOR_S
        ] or self.servers
        loads = await asyncio.gather(*(load(s) if s in candidates else _none() for s in self.servers))
        answering = [
            (n, self._sent.get(s, 0), i)
            for i, (s, n) in enumerate(zip(self.servers, loads, strict=True))
            if n is not None
        ]
        if not answering:
            raise BackendError(
                f"comfyui: no server answers ({', '.join(self.servers)}); start ComfyUI or set "
                "SHOTLIST_COMFYUI_URLS",
                retryable=True,
            )
        server = self.servers[min(answering)[2]]
        self._sent[server] = self._sent.get(server, 0) + 1
        return server

    async def _upload(self, layer: HttpLayer, spec: ShotSpec, role: str, entry: ModelEntry) -> str:
        media = spec.input(role)
        assert media is not None
        data, mime = input_image(media, entry.image)
        name = f"{media.sha256[:20]}.{mime.split('/')[1]}"  # content-addressed: a re-upload is the same file
        body = await layer.object(
            "POST",
            "/upload/image",
            files={"image": (name, data, mime)},
            data={"type": "input", "subfolder": "shotlist"},
        )
        # without overwrite a clash is renamed "x (1).png": use the name the server gives
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else str(body["name"])

    async def _queue(self, layer: HttpLayer, server: str, prompt_id: str, graph: dict[str, Any]) -> None:
        payload = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id}
        try:
            response = await layer.request("POST", "/prompt", submit=True, json=payload, ok=(400,))
            body = layer.object_of(response, submit=True)
        except SubmitUnknown:
            # the id is ours, so a lost answer can be checked rather than guessed at
            try:
                if await self._known(layer, prompt_id):
                    return
            except BackendError:
                pass  # the server cannot say either: the outcome stays unknown
            raise
        if response.status_code == 400 or body.get("node_errors"):
            if response.status_code != 400:  # ComfyUI runs what is still valid: stop it
                await layer.request("POST", "/queue", json={"delete": [prompt_id]})
            raise BackendError(f"comfyui: {server} rejected the workflow: {graph_errors(body, graph)}")

    async def _known(self, layer: HttpLayer, prompt_id: str) -> bool:
        history = await layer.json("GET", f"/history/{prompt_id}")
        queue = await layer.json("GET", "/queue")
        return prompt_id in history or prompt_id in queued_ids(queue, "queue_running") | queued_ids(
            queue, "queue_pending"
        )

    # -- poll and fetch ------------------------------------------------------------------------
    async def poll(self, job_id: str) -> JobStatus:
        server, prompt_id = job_parts(job_id, 2, "comfyui")
        try:
            status = await self._poll(job_id, server, prompt_id)
        except BackendError as exc:
            if exc.gone or not exc.retryable or exc.status is not None:
                raise  # an answer, even a 5xx, means the server is there
            return await self._no_answer(job_id, server, prompt_id, exc)
        self._silent.pop(server, None)
        self._state[job_id] = status.state
        return status

    async def _no_answer(self, job_id: str, server: str, prompt_id: str, exc: BackendError) -> JobStatus:
        """A server that does not answer: move its waiting prompt to a live server, give up its running one."""
        now = time.monotonic()
        silent = now - self._silent.setdefault(server, now)
        self._down[server] = now  # new shots go elsewhere
        spec = self._specs.get(job_id)
        if (
            spec is not None
            and self._state.get(job_id, JobState.QUEUED) is JobState.QUEUED
            and silent >= MOVE_AFTER_S
        ):
            moved = await self.submit(spec)  # it never ran there: sending it elsewhere pays nothing twice
            log.info("comfyui: %s does not answer; prompt %s moved to %s", server, prompt_id, moved)
            return JobStatus(
                JobState.QUEUED, moved_to=moved, message=f"moved off {server}, which does not answer"
            )
        if silent >= DOWN_FOR_S:
            raise JobGone(
                f"comfyui: {server} stopped answering while it had prompt {prompt_id} "
                f"(no answer for {silent:.0f} s)"
            )
        raise BackendError(f"comfyui: {server} does not answer ({exc})", retryable=True)

    async def _poll(self, job_id: str, server: str, prompt_id: str) -> JobStatus:
        layer = self.http(server)
        for second_look in (False, True):
            history = _object(await layer.json("GET", f"/history/{prompt_id}", timeout=POLL_TIMEOUT), server)
            if prompt_id in history:
                return self._finished(job_id, prompt_id, history[prompt_id])
            if second_look:
                break
            queue = _object(
                await layer.json("GET", "/queue", timeout=POLL_TIMEOUT),
                server,
                "queue_running",
                "queue_pending",
            )
            if prompt_id in queued_ids(queue, "queue_running"):
                return JobStatus(
                    JobState.RUNNING, progress=self.progress.get(prompt_id), provider_job=prompt_id
                )
            pending = {
                str(i[1]): i[0] for i in queue.get("queue_pending", []) if isinstance(i, list) and len(i) > 1
            }
            if prompt_id in pending:
                ahead = sum(1 for n in pending.values() if n < pending[prompt_id])
                return JobStatus(
                    JobState.QUEUED,
                    message=f"{ahead} ahead on {server}",
                    provider_job=prompt_id,
                    position=ahead + 1,
                )
            # neither waiting nor running: it may have just finished, so look at the history once more
        raise JobGone(
            f"comfyui: {server} does not know prompt {prompt_id} (ComfyUI keeps history in memory only: "
            "was the server restarted?)"
        )

    def _finished(self, job_id: str, prompt_id: str, entry: dict[str, Any]) -> JobStatus:
        status = entry.get("status") or {}
        graph = self._graphs.get(prompt_id) or _graph_of(entry)
        if status.get("status_str") == "error":
            return JobStatus(
                JobState.FAILED, message=f"comfyui: {execution_error(status, graph)}", provider_job=prompt_id
            )
        video = find_video(entry.get("outputs") or {})
        if video is None:
            return JobStatus(
                JobState.FAILED,
                provider_job=prompt_id,
                message="comfyui: the workflow finished without a video output (a save node such as "
                "SaveVideo must be reached)",
            )
        self._outputs[job_id] = video
        return JobStatus(JobState.SUCCEEDED, progress=1.0, provider_job=prompt_id)

    async def fetch(self, job_id: str, dest: Path) -> None:
        server, prompt_id = job_parts(job_id, 2, "comfyui")
        layer = self.http(server)

        if job_id not in self._outputs:
            status = await self.poll(job_id)
            if status.state is not JobState.SUCCEEDED:
                raise BackendError(status.message or f"comfyui: prompt {prompt_id} has no video")
        out = self._outputs[job_id]
        params = {
            "filename": out["filename"],
            "subfolder": out.get("subfolder", ""),
            "type": out.get("type", "output"),
        }
        try:
            await layer.download(str(layer.client.build_request("GET", "/view", params=params).url), dest)
        except ExpiredURL:
            raise JobGone(
                f"comfyui: {server} no longer has {out['filename']}, the output of prompt {prompt_id} "
                "(deleted from its output folder?)"
            ) from None

    # -- progress over the websocket -----------------------------------------------------------
    async def _watch(self, server: str) -> None:
        """Listen to the server's socket (once per server), waiting briefly for it to open so that the
        prompt about to be queued is heard from its start."""
        task = self._watchers.get(server)
        if task is None or task.done():
            opened = self._opened[server] = asyncio.Event()
            self._watchers[server] = asyncio.get_running_loop().create_task(self._listen(server))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(opened.wait(), WS_OPEN_WAIT_S)

    async def _listen(self, server: str) -> None:
        """Follow ``/ws`` for this client's prompts: progress per prompt. Best effort: polling decides."""
        from websockets.asyncio.client import connect

        url = re.sub(r"^http", "ws", server) + f"/ws?clientId={self.client_id}"
        try:
            async with connect(
                url,
                additional_headers=self._headers,
                compression=None,
                max_size=1 << 24,
                open_timeout=10,
                proxy=None,
                logger=redacted_logger("shotlist.comfyui.ws"),
            ) as ws:
                self._opened[server].set()
                async for message in ws:
                    if isinstance(message, str):
                        self._on_message(json.loads(message))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a server without /ws (or a proxy that blocks it) still works by polling
            log.debug("comfyui: websocket to %s closed: %s", server, exc)

    def _on_message(self, msg: dict[str, Any]) -> None:
        data = msg.get("data") or {}
        prompt_id = data.get("prompt_id")
        if not prompt_id:
            return
        kind = msg.get("type")
        done = self.progress.get(prompt_id, 0.0)
        if kind == "progress_state" and isinstance(data.get("nodes"), dict) and data["nodes"]:
            # every node of the prompt with its state: finished ones count whole, running ones by value/max
            nodes = [n for n in data["nodes"].values() if isinstance(n, dict)]
            share = sum(
                1.0
                if n.get("state") == "finished"
                else float(n.get("value", 0)) / float(n.get("max") or 1)
                if n.get("state") == "running"
                else 0.0
                for n in nodes
            )
            self.progress[prompt_id] = max(done, min(0.99, share / len(nodes)))
        elif kind == "progress" and data.get("max"):  # a sampler's steps: the node that takes the time
            self.progress[prompt_id] = max(done, min(0.99, float(data["value"]) / float(data["max"])))
        elif kind == "execution_start":
            self.progress.setdefault(prompt_id, 0.0)
        elif kind in ("execution_success", "execution_error", "execution_interrupted") or (
            kind == "executing" and data.get("node") is None
        ):
            self.progress[prompt_id] = 1.0


# -- workflows ------------------------------------------------------------------------------------
def project_root(workdir: Path) -> Path:
    """The project folder of a backend's scratch folder (``<project>/.shotlist/work/comfyui``)."""
    return next((p.parent for p in (workdir, *workdir.parents) if p.name == ".shotlist"), workdir.parent)


def load_workflow(name: str, project: Path) -> dict[str, Any]:
    """The API-format workflow ``name``: the project's ``templates/comfyui/<name>.json``, else the built-in."""
    own = project / "templates" / "comfyui" / f"{name}.json"
    if own.is_file():
        text, where = own.read_text(encoding="utf-8"), str(own)
    else:
        res = resources.files("shotlist.templates").joinpath("comfyui", f"{name}.json")
        if not res.is_file():
            raise BackendError(f"comfyui: no workflow '{name}' (looked for {own} and the built-in ones)")
        text, where = res.read_text(encoding="utf-8"), f"built-in comfyui/{name}.json"
    try:
        graph = json.loads(text)
    except ValueError as exc:
        raise BackendError(f"comfyui: {where} is not JSON: {exc}") from None
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise BackendError(f"comfyui: {where} is a UI workflow; export it with 'Save (API)' (API format)")
    if not isinstance(graph, dict) or not all(
        isinstance(n, dict) and "class_type" in n for n in graph.values()
    ):
        raise BackendError(
            f"comfyui: {where} is not an API-format workflow (node id → {{class_type, inputs}})"
        )
    return graph


def roles_of(node: dict[str, Any]) -> list[str]:
    title = str((node.get("_meta") or {}).get("title", ""))
    return [t.removeprefix("shotlist.") for t in title.split() if t.startswith("shotlist.")]


def inject(
    graph: dict[str, Any], spec: ShotSpec, entry: ModelEntry, uploads: dict[str, str], *, nonce: str
) -> dict[str, Any]:
    """A copy of ``graph`` with the shot's values in the nodes titled for them."""
    graph = json.loads(json.dumps(graph))
    fps = entry.fps[0] if entry.fps and entry.fps[0] else spec.fps
    values: dict[str, Any] = {
        "prompt": spec.prompt,
        "negative": spec.negative,
        "seed": spec.seed if spec.seed is not None else int(spec.take_key()[:12], 16) % 2**32,
        "frames": frame_count(spec.duration, fps, str(entry.extra.get("frames_rule", ""))),
        "fps": fps,
        "output": f"shotlist/{re.sub(r'[^A-Za-z0-9_-]', '_', spec.shot)}-{spec.take_key()[:10]}-{nonce}",
        **uploads,
    }
    size = entry.size_for(spec.width, spec.height)
    if size is None:  # validation refuses such a storyboard; a hand-made spec can still get here
        raise BackendError(
            f"comfyui: {entry.id} makes no frame size with the shape of {spec.width}x{spec.height}"
        )
    placed: set[str] = set()
    for node_id, node in graph.items():
        inputs = node.setdefault("inputs", {})
        for role in roles_of(node):
            if role == "size":
                inputs["width"], inputs["height"] = size
                placed.add(role)
                continue
            if role not in INPUTS:
                raise BackendError(f"comfyui: node {node_id} is titled for an unknown role 'shotlist.{role}'")
            if values.get(role) is None:
                continue
            name = next((n for n in INPUTS[role] if n in inputs), None)
            if name is None:
                raise BackendError(
                    f"comfyui: node {node_id} ({node.get('class_type')}) is titled shotlist.{role} "
                    f"but has none of the inputs {', '.join(INPUTS[role])}"
                )
            inputs[name] = values[role]
            placed.add(role)
        if "filename_prefix" in inputs:
            inputs["filename_prefix"] = values["output"]
            placed.add("output")
    needed = {"prompt"} | {r for r in ("image", "end_image") if r in uploads}
    needed |= {"negative"} if spec.negative else set()
    missing = sorted(needed - placed)
    if missing:
        raise BackendError(
            f"comfyui: the workflow has no node titled {', '.join('shotlist.' + m for m in missing)}; "
            "the shot's value would be dropped"
        )
    if "output" not in placed:
        raise BackendError("comfyui: the workflow has no node with a filename_prefix (a SaveVideo node)")
    return graph


def frame_count(seconds: float, fps: int, rule: str) -> int:
    """Frames for a duration; ``4k+1`` rounds up to a count Wan-style models accept."""
    frames = max(1, math.ceil(seconds * fps - 1e-9))
    if rule == "4k+1":
        return 4 * math.ceil((frames - 1) / 4) + 1
    if rule == "8k+1":
        return 8 * math.ceil((frames - 1) / 8) + 1
    return frames


# -- reading ComfyUI's answers ------------------------------------------------------------------
def queued_ids(queue: dict[str, Any], key: str) -> set[str]:
    return {str(item[1]) for item in queue.get(key, []) if isinstance(item, list) and len(item) > 1}


def _title(graph: dict[str, Any], node_id: str) -> str:
    node = graph.get(str(node_id)) or {}
    title = (node.get("_meta") or {}).get("title")
    return f" “{title}”" if title else ""


def _graph_of(entry: dict[str, Any]) -> dict[str, Any]:
    prompt = entry.get("prompt")
    if isinstance(prompt, list) and len(prompt) > 2 and isinstance(prompt[2], dict):
        return prompt[2]
    return {}


def graph_errors(body: dict[str, Any], graph: dict[str, Any]) -> str:
    """A validation answer (``error`` and ``node_errors``) as one line naming each node and input."""
    parts: list[str] = []
    for node_id, err in (body.get("node_errors") or {}).items():
        for e in err.get("errors", []):
            what = e.get("details") or e.get("message", "")
            name = (e.get("extra_info") or {}).get("input_name")
            parts.append(
                f"node {node_id}{_title(graph, node_id)} ({err.get('class_type', '?')})"
                f"{' input ' + name if name else ''}: {e.get('message', '')}"
                f"{' — ' + what if what and what != e.get('message') else ''}"
            )
    missing_files = any(
        e.get("type") == "value_not_in_list"
        and str((e.get("extra_info") or {}).get("input_name", "")).endswith("_name")
        for err in (body.get("node_errors") or {}).values()
        for e in err.get("errors", [])
    )
    if missing_files:
        parts.append(
            "a model file the workflow names is not in that server's models/ folder "
            "(the built-in workflows list theirs in templates/comfyui/README.md)"
        )
    if not parts:
        error = body.get("error") or {}
        parts.append(f"{error.get('message', 'invalid prompt')}: {error.get('details', '')}".strip(": "))
    return "; ".join(parts)


def execution_error(status: dict[str, Any], graph: dict[str, Any]) -> str:
    """A runtime failure from history's messages, naming the node."""
    for event, data in status.get("messages", []):
        if event == "execution_error":
            node_id = str(data.get("node_id", "?"))
            return (
                f"node {node_id}{_title(graph, node_id)} ({data.get('node_type', '?')}) failed: "
                f"{data.get('exception_type', 'error')}: {str(data.get('exception_message', '')).strip()}"
            )
        if event == "execution_interrupted":
            return "the prompt was interrupted on the server"
    return "the prompt failed (no error message in history)"


def find_video(outputs: dict[str, Any]) -> dict[str, str] | None:
    """The first video file among a prompt's outputs (SaveVideo lists it under ``images``)."""
    for node_out in outputs.values():
        for key in ("images", "gifs", "videos", "video"):
            for item in node_out.get(key) or []:
                if isinstance(item, dict) and str(item.get("filename", "")).lower().endswith(VIDEO_SUFFIXES):
                    return {k: str(v) for k, v in item.items() if k in ("filename", "subfolder", "type")}
    return None


def _object(answer: Any, server: str, *keys: str) -> dict[str, Any]:
    """A JSON object from ComfyUI with these keys; anything else says nothing about a prompt (never that
    the server does not know it). ``status`` 200: the server is there, so its jobs stay where they are."""
    if not isinstance(answer, dict) or not all(k in answer for k in keys):
        raise BackendError(
            f"comfyui: {server} answered {str(answer)[:80]!r}, not what ComfyUI answers",
            retryable=True,
            status=200,
        )
    return answer
