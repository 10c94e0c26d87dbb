"""A fake ComfyUI server that behaves like a real one (ComfyUI 0.3.64) as measured.

- ``POST /prompt`` validates the graph like ComfyUI: unknown node → 400 ``invalid_prompt``; a missing
  input or a value under its minimum → ``node_errors`` naming node and input; every output invalid →
  400 ``prompt_outputs_failed_validation``; some invalid → **200** with ``node_errors`` and the valid
  part queued anyway. A client may send its own ``prompt_id``.
- One prompt runs at a time on a worker thread; ``/queue`` lists running and pending;
  ``/history/{id}`` is ``{}`` until the prompt is done (and for unknown ids), then holds ``outputs``
  (SaveVideo's file under ``images`` with ``animated: [true]``) and ``status``.
- A prompt identical to the last one runs nothing and names the earlier file; a save node whose
  inputs changed runs again and writes a new file.
- ``/ws?clientId=`` speaks WebSocket: status, execution_start, execution_cached, progress_state,
  executing, progress (samplers), executed, execution_success / execution_error, executing with
  ``node: null`` (the order a real 0.3.64 server sends).
- ``POST /upload/image`` (multipart) renames a clash to ``name (1).png``; ``GET /view`` serves outputs.
- Runtime errors: an odd frame width fails SaveVideo as the H.264 encoder does; ``[fail]`` anywhere
  in the graph makes the sampler run out of memory. ``restart()`` forgets history, queue and cache.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import itertools
import json
import queue
import re
import select
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import FakeProvider, Request, Response

#: class_type → (required inputs, minimum values, is an output node)
NODES: dict[str, tuple[set[str], dict[str, float], bool]] = {
    "LoadImage": ({"image"}, {}, False),
    "ImageScale": ({"image", "upscale_method", "width", "height", "crop"}, {"width": 0, "height": 0}, False),
    "RepeatImageBatch": ({"image", "amount"}, {"amount": 1}, False),
    "ImageAddNoise": ({"image", "seed", "strength"}, {"seed": 0}, False),
    "EmptyImage": (
        {"width", "height", "batch_size", "color"},
        {"width": 1, "height": 1, "batch_size": 1},
        False,
    ),
    "PrimitiveStringMultiline": ({"value"}, {}, False),
    "CreateVideo": ({"images", "fps"}, {"fps": 1}, False),
    "SaveVideo": ({"video", "filename_prefix", "format", "codec"}, {}, True),
    "UNETLoader": ({"unet_name", "weight_dtype"}, {}, False),
    "CLIPLoader": ({"clip_name", "type"}, {}, False),
    "VAELoader": ({"vae_name"}, {}, False),
    "ModelSamplingSD3": ({"model", "shift"}, {}, False),
    "CLIPTextEncode": ({"text", "clip"}, {}, False),
    "Wan22ImageToVideoLatent": (
        {"vae", "width", "height", "length", "batch_size"},
        {"width": 32, "height": 32, "length": 1, "batch_size": 1},
        False,
    ),
    "KSampler": (
        {
            "model",
            "seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "positive",
            "negative",
            "latent_image",
            "denoise",
        },
        {"seed": 0, "steps": 1},
        False,
    ),
    "VAEDecode": ({"samples", "vae"}, {}, False),
}
PROGRESS_NODES = {"KSampler", "ImageAddNoise"}
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def default_video(prompt_id: str, graph: Any) -> bytes:
    return f"fake-mp4 {prompt_id}".encode()


def _invalid(
    kind: str, message: str, node_errors: dict[str, Any] | None = None, details: str = ""
) -> Response:
    """ComfyUI's answer to a prompt that does not validate."""
    error = {"type": kind, "message": message, "details": details, "extra_info": {}}
    return Response(400, {"error": error, "node_errors": node_errors or {}})


def _execution_error(nid: str, kind: str, exception_type: str, exception_message: str) -> dict[str, Any]:
    """What ComfyUI's ``execution_error`` message says of the node ``nid`` that failed."""
    return {
        "node_id": nid,
        "node_type": kind,
        "executed": [],
        "traceback": [],
        "exception_type": exception_type,
        "exception_message": exception_message,
        "current_inputs": {},
        "current_outputs": {},
    }


def _ws_answer(h: Any) -> bool:
    """Read the client's frame if one waits and answer a ping; False once the client has closed."""
    readable, _, _ = select.select([h.connection], [], [], 0)
    if not readable:
        return True
    head = h.rfile.read(2)
    if len(head) < 2 or head[0] & 0x0F == 8:  # closed, or a close frame
        h.wfile.write(b"\x88\x00")
        return False
    length = head[1] & 0x7F
    length = int.from_bytes(h.rfile.read({126: 2, 127: 8}[length]), "big") if length > 125 else length
    mask, payload = h.rfile.read(4), h.rfile.read(length)
    if head[0] & 0x0F == 9:  # ping → pong with the same (unmasked) payload
        pong = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        h.wfile.write(bytes([0x8A, len(pong)]) + pong)
    return True


def _ws_frame(text: str) -> bytes:
    """One text frame from the server (a server's frames are not masked)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        return bytes([0x81, n]) + data
    if n < 65536:
        return bytes([0x81, 126]) + n.to_bytes(2, "big") + data
    return bytes([0x81, 127]) + n.to_bytes(8, "big") + data


class ComfyUIFake(FakeProvider):
    """ComfyUI on 127.0.0.1: real HTTP and WebSocket, a worker thread that 'executes' prompts."""

    submit_route = ("POST", r"^/prompt$")
    poll_route = ("GET", r"^/history/")
    download_route = ("GET", r"^/view$")

    def __init__(
        self,
        *,
        step_s: float = 0.002,
        video: Callable[[str, Any], bytes] = default_video,
        token: str | None = None,
    ) -> None:
        super().__init__()
        self.step_s = step_s
        self.video = video
        self.token = token
        self.inputs: dict[str, bytes] = {}  # "subfolder/name" → bytes
        self.outputs: dict[tuple[str, str], bytes] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.pending: list[list[Any]] = []
        self.running: list[Any] | None = None
        self.queued: list[dict[str, Any]] = []  # every accepted /prompt body (what ran or would run)
        self.last_run: dict[str, Any] = {}  # the cache: node id → inputs of the last run, and its outputs
        self.killed: set[str] = set()  # prompts a restart stopped while they ran: they reach no history
        self.ws_clients: dict[str, list[queue.Queue[str | None]]] = {}
        self.ws_sent: list[dict[str, Any]] = []
        self._number = itertools.count()
        self._cv = threading.Condition()
        self._stop = False
        self.route("POST", r"/prompt", self._prompt)
        self.route("GET", r"/history/(?P<pid>[^/]+)", self._history)
        self.route("GET", r"/queue", self._queue)
        self.route("POST", r"/queue", self._queue_edit)
        self.route("POST", r"/upload/image", self._upload)
        self.route("GET", r"/view", self._view)
        self.route(
            "GET",
            r"/system_stats",
            lambda r, m: Response(200, {"system": {"comfyui_version": "0.3.64"}, "devices": []}),
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        super().__enter__()
        assert self.server is not None
        fake = self
        base: Any = self.server.RequestHandlerClass

        class Handler(base):  # type: ignore[misc]
            def do_GET(self) -> None:
                if self.path.startswith("/ws") and self.headers.get("Upgrade", "").lower() == "websocket":
                    fake._websocket(self)
                else:
                    base.do_GET(self)

        self.server.RequestHandlerClass = Handler
        threading.Thread(target=self._worker, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        for clients in self.ws_clients.values():
            for q in clients:
                q.put(None)
        super().__exit__(*exc)

    @property
    def submissions(self) -> int:
        return len(self.queued)

    def expire_links(self) -> None:
        """ComfyUI has no links that expire: its output files are deleted (nothing serves them again)."""
        self.outputs.clear()

    def forget(self) -> None:
        self.restart()

    def restart(self) -> None:
        """What a server restart loses: history, the queue, the cache (files on disk stay)."""
        with self._cv:
            self.history.clear()
            self.pending.clear()
            self.last_run = {}
            if self.running is not None:  # the prompt it was running dies with it
                self.killed.add(str(self.running[1]))

    def dispatch(self, req: Request) -> Response:
        if self.token and req.headers.get("authorization") != f"Bearer {self.token}":
            self.log.append(req)
            return Response(401, b"401: Unauthorized", {"Content-Type": "text/plain"})
        return super().dispatch(req)

    # -- /prompt: validation like ComfyUI's ---------------------------------------------------------
    def _prompt(self, req: Request, m: re.Match[str]) -> Response:
        body = req.json()
        graph: dict[str, Any] = body.get("prompt") or {}
        for node_id, node in graph.items():
            if node.get("class_type") not in NODES:
                message = f"Cannot execute because node {node.get('class_type')} does not exist."
                return _invalid("invalid_prompt", message, details=f"Node ID '#{node_id}'")
        outputs = [nid for nid, n in graph.items() if NODES[n["class_type"]][2]]
        if not outputs:
            return _invalid("prompt_no_outputs", "Prompt has no outputs")
        node_errors: dict[str, Any] = {}
        good: list[str] = []
        for out in outputs:
            errors = self._validate(graph, out, set())
            for nid, errs in errors.items():
                entry = node_errors.setdefault(
                    nid, {"errors": errs, "dependent_outputs": [], "class_type": graph[nid]["class_type"]}
                )
                entry["dependent_outputs"].append(out)
            if not errors:
                good.append(out)
        if not good:
            return _invalid(
                "prompt_outputs_failed_validation", "Prompt outputs failed validation", node_errors
            )
        prompt_id = body.get("prompt_id") or str(uuid.uuid4())
        with self._cv:
            number = next(self._number)
            self.pending.append([number, prompt_id, graph, {"client_id": body.get("client_id")}, good])
            self.queued.append(body)
            self._cv.notify_all()
        return Response(200, {"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    def _validate(
        self, graph: dict[str, Any], node_id: str, seen: set[str]
    ) -> dict[str, list[dict[str, Any]]]:
        if node_id in seen:
            return {}
        seen.add(node_id)
        node = graph[node_id]
        required, minimum, _ = NODES[node["class_type"]]
        inputs = node.get("inputs", {})
        errors: dict[str, list[dict[str, Any]]] = {}
        mine = [
            {
                "type": "required_input_missing",
                "message": "Required input is missing",
                "details": name,
                "extra_info": {"input_name": name},
            }
            for name in sorted(required - set(inputs))
        ]
        for name, low in minimum.items():
            value = inputs.get(name)
            if isinstance(value, (int, float)) and value < low:
                mine.append(
                    {
                        "type": "value_smaller_than_min",
                        "message": f"Value {value} smaller than min of {low}",
                        "details": f"{name}",
                        "extra_info": {"input_name": name},
                    }
                )
        if node["class_type"] == "LoadImage" and inputs.get("image") not in self.inputs:
            mine.append(
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": f"image - Invalid image file: {inputs.get('image')}",
                    "extra_info": {"input_name": "image"},
                }
            )
        for value in inputs.values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in graph:
                errors.update(self._validate(graph, str(value[0]), seen))
        if mine:
            errors[node_id] = mine
        return errors

    # -- the worker: one prompt at a time ------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            with self._cv:
                while not self.pending and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                item = self.pending.pop(0)
                self.running = item
            try:
                self._execute(item)
            finally:
                with self._cv:
                    self.running = None

    def _send(self, client: str | None, kind: str, data: dict[str, Any]) -> None:
        msg = {"type": kind, "data": data}
        self.ws_sent.append({"client": client, **msg})
        for q in self.ws_clients.get(client or "", []):
            q.put(json.dumps(msg))

    def _execute(self, item: list[Any]) -> None:
        number, prompt_id, graph, extra, good = item
        client = extra.get("client_id")
        messages: list[list[Any]] = []

        def event(kind: str, data: dict[str, Any]) -> None:
            data = {**data, "prompt_id": prompt_id, "timestamp": int(time.time() * 1000)}
            messages.append([kind, data])
            self._send(client, kind, data)

        event("execution_start", {})
        order = self._order(graph, good)
        cached = [nid for nid in order if self.last_run.get(nid) == graph[nid].get("inputs")]
        event("execution_cached", {"nodes": cached})
        outputs: dict[str, Any] = {}
        states = {nid: "finished" if nid in cached else "pending" for nid in order}
        slow = 20 if "[slow]" in json.dumps(graph) else 1
        for nid in order:
            if nid in cached and nid not in good:
                continue
            node = graph[nid]
            kind = node["class_type"]
            if nid in cached:  # an identical save node: names the earlier file, writes nothing
                outputs[nid] = self.last_run.get(f"out:{nid}")
                continue
            self._send(client, "executing", {"node": nid, "display_node": nid, "prompt_id": prompt_id})
            states[nid] = "running"
            self._progress_state(client, prompt_id, states)
            time.sleep(self.step_s * slow)
            failure = self._failure(graph, nid)
            if failure:
                event("execution_error", _execution_error(nid, kind, *failure))
                self._finish(prompt_id, item, {}, "error", messages)
                return
            if kind in PROGRESS_NODES:
                for step in (1, 2, 3):
                    self._send(
                        client, "progress", {"value": step, "max": 3, "prompt_id": prompt_id, "node": nid}
                    )
            states[nid] = "finished"
            self._progress_state(client, prompt_id, states)
            if kind == "SaveVideo":
                outputs[nid] = {
                    "images": [self._write(node["inputs"]["filename_prefix"], prompt_id, graph)],
                    "animated": [True],
                }
                self._send(
                    client,
                    "executed",
                    {"node": nid, "display_node": nid, "output": outputs[nid], "prompt_id": prompt_id},
                )
        self.last_run = {nid: graph[nid].get("inputs") for nid in order}
        self.last_run.update({f"out:{nid}": out for nid, out in outputs.items()})
        event("execution_success", {})
        self._finish(prompt_id, item, outputs, "success", messages)

    def _progress_state(self, client: str | None, prompt_id: str, states: dict[str, str]) -> None:
        nodes = {
            nid: {
                "value": 1.0 if st == "finished" else 0.0,
                "max": 1.0,
                "state": st,
                "node_id": nid,
                "prompt_id": prompt_id,
                "display_node_id": nid,
                "parent_node_id": None,
                "real_node_id": nid,
            }
            for nid, st in states.items()
        }
        self._send(client, "progress_state", {"prompt_id": prompt_id, "nodes": nodes})

    def _finish(
        self, prompt_id: str, item: list[Any], outputs: dict[str, Any], status: str, messages: list[list[Any]]
    ) -> None:
        with self._cv:
            if prompt_id in self.killed:
                return
            self.history[prompt_id] = {
                "prompt": item,
                "outputs": outputs,
                "meta": {},
                "status": {"status_str": status, "completed": status == "success", "messages": messages},
            }
        self._send(item[3].get("client_id"), "executing", {"node": None, "prompt_id": prompt_id})

    def _order(self, graph: dict[str, Any], outputs: list[str]) -> list[str]:
        order: list[str] = []

        def visit(nid: str) -> None:
            if nid in order:
                return
            for value in graph[nid].get("inputs", {}).values():
                if isinstance(value, list) and len(value) == 2 and str(value[0]) in graph:
                    visit(str(value[0]))
            order.append(nid)

        for out in outputs:
            visit(out)
        return order

    def _failure(self, graph: dict[str, Any], nid: str) -> tuple[str, str] | None:
        kind = graph[nid]["class_type"]
        if kind in ("KSampler", "ImageAddNoise") and "[fail]" in json.dumps(graph):
            return "torch.OutOfMemoryError", "Allocation on device"
        if kind == "SaveVideo":
            widths = [
                n["inputs"]["width"]
                for n in graph.values()
                if isinstance(n.get("inputs", {}).get("width"), int)
            ]
            if widths and widths[0] % 2:
                return (
                    "ValueError",
                    f"width not divisible by 2 ({widths[0]}): the H.264 encoder needs even sizes",
                )
        return None

    def _write(self, prefix: str, prompt_id: str, graph: Any) -> dict[str, str]:
        subfolder, _, base = prefix.rpartition("/")
        counter = 1 + sum(
            1 for (sub, name) in self.outputs if sub == subfolder and name.startswith(base + "_")
        )
        filename = f"{base}_{counter:05d}_.mp4"
        self.outputs[(subfolder, filename)] = self.video(prompt_id, graph)
        return {"filename": filename, "subfolder": subfolder, "type": "output"}

    # -- the other routes ------------------------------------------------------------------------
    def _history(self, req: Request, m: re.Match[str]) -> Response:
        with self._cv:
            entry = self.history.get(m["pid"])
        return Response(200, {m["pid"]: entry} if entry else {})

    def _queue(self, req: Request, m: re.Match[str]) -> Response:
        with self._cv:
            return Response(
                200,
                {
                    "queue_running": [self.running] if self.running else [],
                    "queue_pending": list(self.pending),
                },
            )

    def _queue_edit(self, req: Request, m: re.Match[str]) -> Response:
        body = req.json()
        with self._cv:
            if body.get("clear"):
                self.pending.clear()
            drop = set(body.get("delete", []))
            self.pending = [p for p in self.pending if p[1] not in drop]
        return Response(200, b"")

    def _upload(self, req: Request, m: re.Match[str]) -> Response:
        msg = email.message_from_bytes(
            b"Content-Type: " + req.headers["content-type"].encode() + b"\r\n\r\n" + req.body,
            policy=email.policy.HTTP,
        )
        fields: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True))
        if "image" not in fields:
            return Response(400, b"")
        filename, data = fields["image"]
        subfolder = (fields.get("subfolder") or (None, b""))[1].decode()
        name, n = filename, 0
        while (
            f"{subfolder}/{name}".lstrip("/") in self.inputs
            and self.inputs[f"{subfolder}/{name}".lstrip("/")] != data
        ):
            n += 1
            stem, dot, ext = filename.rpartition(".")
            name = f"{stem} ({n}).{ext}" if dot else f"{filename} ({n})"
        self.inputs[f"{subfolder}/{name}".lstrip("/")] = data
        return Response(200, {"name": name, "subfolder": subfolder, "type": "input"})

    def _view(self, req: Request, m: re.Match[str]) -> Response:
        q = {k: v[0] for k, v in req.query.items()}
        data = self.outputs.get((q.get("subfolder", ""), q.get("filename", "")))
        if data is None or q.get("type", "output") != "output":
            return Response(404, b"404: Not Found", {"Content-Type": "text/plain"})
        return Response(200, data, {"Content-Type": "video/mp4"})

    # -- WebSocket --------------------------------------------------------------------------------
    def _websocket(self, h: Any) -> None:
        if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            h.send_error(401)
            return
        client = parse_qs(urlsplit(h.path).query).get("clientId", [uuid.uuid4().hex])[0]
        accept = base64.b64encode(
            hashlib.sha1((h.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest()
        ).decode()
        h.send_response(101, "Switching Protocols")
        h.send_header("Upgrade", "websocket")
        h.send_header("Connection", "Upgrade")
        h.send_header("Sec-WebSocket-Accept", accept)
        h.end_headers()
        h.wfile.flush()
        q: queue.Queue[str | None] = queue.Queue()
        self.ws_clients.setdefault(client, []).append(q)
        q.put(
            json.dumps(
                {
                    "type": "status",
                    "data": {"status": {"exec_info": {"queue_remaining": len(self.pending)}}, "sid": client},
                }
            )
        )
        try:
            while _ws_answer(h):
                try:
                    text = q.get(timeout=0.02)
                except queue.Empty:
                    continue
                if text is None:
                    break
                h.wfile.write(_ws_frame(text))
        except OSError:
            pass
        finally:
            self.ws_clients[client].remove(q)
            h.close_connection = True
