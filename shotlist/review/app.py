"""``shotlist review``: the local review app, an ASGI app (Starlette) served by uvicorn on 127.0.0.1.

Every request must carry the session's random token (``?token=`` or the ``X-Shotlist-Token``
header), name this server in its Host header (a DNS-rebinding page cannot) and, when it says where
it comes from (Origin, Sec-Fetch-Site), come from this page. Everything the page loads is served
from the package and the project: no CDN, no remote asset.

Actions run the same code as the commands: pick is ``shotlist pick``, new takes are ``shotlist build
--only ID --regenerate ID --takes N`` within the cost the person confirmed. One job runs at a time, in
a thread; its progress and the project's changes (storyboard, lock, store, cut) reach every open page
as server-sent events.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import re
import threading
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shotlist.catalog.registry import Models
from shotlist.cut import output_path
from shotlist.errors import ShotlistError
from shotlist.generate import ShotEvent
from shotlist.load import load_project
from shotlist.media import MediaError
from shotlist.review.page import current_cut, money, review_page
from shotlist.review.render import page_html, poster
from shotlist.store import Store

T = TypeVar("T")
_SHA = re.compile(r"^[0-9a-f]{64}$")
STATIC = ("review.js", "review.css")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Guard:
    """Refuse any request without the token, for another Host, or from another origin; add safety headers."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str]) -> None:
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        why = self.refusal(scope)
        if why is not None:
            await PlainTextResponse(f"refused: {why}\n", status_code=403)(scope, receive, send)
            return

        async def send_safely(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_safely)

    def refusal(self, scope: Scope) -> str | None:
        headers = Headers(scope=scope)
        if headers.get("host", "") not in self.hosts:
            return "this server answers only to " + " or ".join(sorted(self.hosts))
        origin = headers.get("origin")
        if origin is not None and origin not in {f"http://{h}" for h in self.hosts}:
            return "a request from another site"
        if headers.get("sec-fetch-site") == "cross-site":
            return "a request from another site"
        query = dict(p.split("=", 1) for p in scope.get("query_string", b"").decode().split("&") if "=" in p)
        given = headers.get("x-shotlist-token") or query.get("token", "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return "no valid token (open the URL that `shotlist review` printed)"
        return None


class Hub:
    """Server-sent events to every open page; ``publish`` may be called from any thread."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[tuple[str, dict[str, Any]] | None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def publish(self, event: str, data: dict[str, Any]) -> None:
        self._put((event, data))

    def close(self) -> None:
        """End every stream now (the server is stopping: it would otherwise wait for them, then cancel them)."""
        self.closed = True
        self._put(None)

    def _put(self, item: tuple[str, dict[str, Any]] | None) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        for q in list(self.queues):
            loop.call_soon_threadsafe(q.put_nowait, item)

    async def stream(self) -> AsyncIterator[bytes]:
        q: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self.queues.add(q)
        try:
            yield b": connected\n\n"
            while not self.closed:
                try:
                    item = await asyncio.wait_for(q.get(), timeout=15)
                except TimeoutError:
                    yield b": keep-alive\n\n"  # also how a closed page is noticed
                    continue
                if item is None:
                    return
                yield f"event: {item[0]}\ndata: {json.dumps(item[1])}\n\n".encode()
        finally:
            self.queues.discard(q)


class Jobs:
    """One background job at a time (a render, or new takes), reported to the pages."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.running: str | None = None
        self.deferred = False  # the project changed during the job: pages reload when it ends
        self._lock = threading.Lock()

    def start(self, name: str, work: Callable[[], str]) -> None:
        with self._lock:
            if self.running is not None:
                raise ShotlistError(f"{self.running} is running; try again when it has finished")
            self.running = name
        threading.Thread(target=self._run, args=(name, work), daemon=True).start()

    def _run(self, name: str, work: Callable[[], str]) -> None:
        self.hub.publish("job", {"state": "running", "message": f"{name}…"})
        try:
            message = work()
            self.hub.publish("job", {"state": "done", "message": message})
        except ShotlistError as exc:
            self.hub.publish("job", {"state": "failed", "message": str(exc)})
        finally:
            with self._lock:
                self.running, deferred, self.deferred = None, self.deferred, False
            self.hub.publish("page" if deferred else "cut", {"why": f"{name} ended"})


class Review:
    """The app's state: the project folder, the models, the token, the event hub and the job runner."""

    def __init__(self, project: Path, token: str, models: Models | None) -> None:
        self.path, self.token, self.models = project, token, models
        loaded = load_project(project)
        self.root = loaded.root
        self.out_dir = output_path(loaded).parent  # where the cuts are (the storyboard may move it)
        self.hub = Hub()
        self.jobs = Jobs(self.hub)
        self.stop = asyncio.Event()
        self._cached: tuple[tuple[tuple[str, int], ...], str] | None = None

    # --- pages and media ------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        try:
            page = await asyncio.to_thread(self._page)
        except (
            ShotlistError
        ) as exc:  # a storyboard being edited: say what is wrong; the page reloads when fixed
            page = _problem_page(str(exc), self.token)
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    def _page(self) -> str:
        """The page's HTML, built again only when something it shows has changed (see ``signature``)."""
        mark = self.signature()
        if self._cached is None or self._cached[0] != mark:
            project = load_project(self.path)
            self.out_dir = output_path(project).parent
            self._cached = (mark, page_html(review_page(project, self.models), live=True, token=self.token))
        return self._cached[1]

    def signature(self) -> tuple[tuple[str, int], ...]:
        """When each thing the page shows last changed: storyboard, templates, lock, rejections, cuts, the index."""
        store = self.root / ".shotlist"
        paths = [self.root / "shotlist.lock", store / "rejected.json", store / "index", store / "qc"]
        paths += [p for p in self.root.iterdir() if p.suffix in (".yaml", ".yml")]
        for folder in (store / "index", store / "qc", self.root / "templates"):
            paths += sorted(folder.iterdir()) if folder.is_dir() else []
        out = self.out_dir
        paths += sorted(out.glob("*.mp4")) + sorted(out.glob("*.vtt")) if out.is_dir() else []
        marks = []
        for p in paths:
            try:
                marks.append((str(p), p.stat().st_mtime_ns))
            except FileNotFoundError:
                marks.append((str(p), 0))
        return tuple(marks)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found\n", status_code=404)
        text = resources.files("shotlist.review").joinpath("static", name).read_text(encoding="utf-8")
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(text, media_type=kind, headers={"cache-control": "no-cache"})

    async def clip(self, request: Request) -> Response:
        sha = request.path_params["sha"]
        path = Store(self.root).object_path(sha)
        if not _SHA.match(sha) or not path.is_file():
            return PlainTextResponse("no such clip\n", status_code=404)
        return FileResponse(
            path, media_type="video/mp4", headers={"cache-control": "private, max-age=31536000, immutable"}
        )

    async def poster(self, request: Request) -> Response:
        sha = request.path_params["sha"]
        store = Store(self.root)
        if not _SHA.match(sha) or not store.has_object(sha):
            return PlainTextResponse("no such clip\n", status_code=404)
        try:
            path = await asyncio.to_thread(poster, store, sha)
        except MediaError as exc:  # a damaged clip: the player shows no poster, the terminal no traceback
            return PlainTextResponse(f"{exc}\n", status_code=404)
        return FileResponse(
            path, media_type="image/jpeg", headers={"cache-control": "private, max-age=31536000, immutable"}
        )

    async def cut(self, request: Request) -> Response:
        name = request.path_params["name"]
        cut = current_cut(load_project(self.path)) if name in ("cut.mp4", "cut.vtt") else None
        path = None if cut is None else cut.captions if name == "cut.vtt" else cut.path
        if path is None or not path.is_file():
            return PlainTextResponse("no cut yet\n", status_code=404)
        kind = "text/vtt" if path.suffix == ".vtt" else "video/mp4"
        return FileResponse(path, media_type=kind, headers={"cache-control": "no-cache"})

    async def sheet(self, request: Request) -> Response:
        """The contact sheet of the pinned takes (made on first view; its strips are kept by clip hash)."""
        from shotlist.sheet import contact_sheet, project_rows

        def make() -> Path | None:
            project = load_project(self.path)
            rows = project_rows(project)
            dest = Store(project.root).dir / "sheets" / "review-sheet.png"
            return contact_sheet(Store(project.root), rows, dest, project.board.title) if rows else None

        try:
            path = await asyncio.to_thread(make)
        except ShotlistError as exc:  # a damaged pinned clip (set aside, or undecodable): say which
            return PlainTextResponse(f"no contact sheet: {exc}\n", status_code=404)
        if path is None:
            return PlainTextResponse("no takes yet\n", status_code=404)
        return FileResponse(path, media_type="image/png", headers={"cache-control": "no-cache"})

    async def events(self, request: Request) -> Response:
        return StreamingResponse(
            self.hub.stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    # --- actions --------------------------------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        """POST /api/<action> with a JSON body; a user's mistake is a 400 with its message."""
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return JSONResponse({"error": "send JSON"}, status_code=415)
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
            handler = {
                "pick": self.pick,
                "reject": self.reject,
                "estimate": self.estimate,
                "generate": self.generate,
            }
            action = handler.get(request.path_params["action"])
            if action is None:
                return JSONResponse({"error": "no such action"}, status_code=404)
            return JSONResponse(await asyncio.to_thread(action, body))
        except ShotlistError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"a malformed request ({exc})"}, status_code=400)

    def pick(self, body: dict[str, Any]) -> dict[str, Any]:
        from shotlist.takes import pick

        if self.jobs.running is not None:
            raise ShotlistError(f"{self.jobs.running} is running; pick when it has finished")
        picked = pick(self.path, str(body["shot"]), _sha(body["clip"]), models=self.models)
        self.jobs.start("rendering the cut", self._render)
        return {"message": f"{picked.entry.shot}: pinned take {picked.entry.take}; rendering the cut…"}

    def _render(self) -> str:
        from shotlist.clip import pinned_clips
        from shotlist.edit import render_cut

        project = load_project(self.path)
        clips, missing = pinned_clips(project)
        if missing:
            return f"no cut: no clip yet for {', '.join(missing)}"
        cut = current_cut(project)
        result = render_cut(project, clips, preview=cut is None or cut.kind == "preview")
        return f"the cut is rendered ({result.duration:.1f} s, {len(result.rendered)} pieces encoded)"

    def reject(self, body: dict[str, Any]) -> dict[str, Any]:
        from shotlist.takes import set_rejected

        shot, clip, rejected = str(body["shot"]), _sha(body["clip"]), _typed(body, "rejected", bool)
        set_rejected(Store(self.root), shot, clip, rejected)
        return {
            "message": f"{shot}: take {clip[:12]} {'rejected (hidden, kept)' if rejected else 'restored'}"
        }

    def estimate(self, body: dict[str, Any]) -> dict[str, Any]:
        from shotlist.catalog.registry import CatalogModels
        from shotlist.lock import read_lock
        from shotlist.plan import make_plan

        shot, takes = str(body["shot"]), _typed(body, "takes", int)
        if not 1 <= takes <= 20:
            raise ShotlistError("ask for 1 to 20 takes")
        project = load_project(self.path)
        store = Store(project.root)
        plan = make_plan(
            project,
            store,
            read_lock(project.root, lenient=True),
            self.models or CatalogModels(),
            only=[shot],
            regenerate=[shot],
            takes=takes,
        )
        sp = next(s for s in plan.shots if s.shot == shot)
        what = f"{takes} new take{'s' if takes > 1 else ''} of {shot} with {sp.model}"
        return {"shot": shot, "takes": takes, "cost": plan.cost, "text": f"{what}: {money(plan.cost)}"}

    def generate(self, body: dict[str, Any]) -> dict[str, Any]:
        from shotlist.pipeline import BuildOptions, build

        quote = self.estimate(body)
        confirmed = body.get("cost")
        if quote["cost"] != (None if confirmed is None else float(confirmed)):
            raise ShotlistError(f"the cost changed to {money(quote['cost'])}; ask again")
        shot, takes, cost = quote["shot"], quote["takes"], quote["cost"]
        cut = current_cut(load_project(self.path))

        def work() -> str:
            options = BuildOptions(
                only=[shot],
                regenerate=[shot],
                takes=takes,
                yes=True,
                budget=cost,
                models=self.models,
                progress=self.progress,
                preview=cut is None or cut.kind == "preview",
            )
            result = build(self.path, options)
            made = len(result.made.get(shot, []))
            failed = f"; failed: {result.failures[shot]}" if shot in result.failures else ""
            return f"{shot}: {made} new take{'s' if made != 1 else ''}, spent {money(result.spent)}{failed}"

        self.jobs.start(f"generating {quote['text']}", work)
        return {"message": f"generating {quote['text']}…"}

    def progress(self, event: ShotEvent) -> None:
        self.hub.publish(
            "progress",
            {
                "shot": event.shot,
                "state": str(event.state),
                "fraction": event.fraction,
                "message": event.message,
            },
        )

    # --- the project's changes ------------------------------------------------------------------------

    async def watch(self) -> None:
        """Tell the pages when the storyboard, lock, store or cut change (a job's changes: once it ends)."""
        from watchfiles import awatch

        async for changes in awatch(
            self.root, watch_filter=self.relevant, stop_event=self.stop, debounce=200
        ):
            kinds = {self.kind(Path(p)) for _, p in changes}
            if self.jobs.running is not None:
                self.jobs.deferred = self.jobs.deferred or "page" in kinds
            elif "page" in kinds:
                self.hub.publish("page", {"why": "the project changed"})
            elif "cut" in kinds:
                self.hub.publish("cut", {"why": "the cut changed"})

    def kind(self, path: Path) -> str:
        return "cut" if path.suffix in (".mp4", ".vtt") and ".shotlist" not in path.parts else "page"

    def relevant(self, change: object, path: str) -> bool:
        """The storyboard, lock, templates, the store's index and rejections, the cuts; not scratch files."""
        try:
            rel = Path(path).relative_to(self.root)
        except ValueError:
            return False
        parts = rel.parts
        if parts[:1] == (".shotlist",):
            return parts[1:2] == ("index",) or rel.as_posix() == ".shotlist/rejected.json"
        if any(part.startswith(".") for part in parts):
            return False  # git, and the edit's temporary folders
        return rel.suffix in (".yaml", ".yml", ".j2", ".lock", ".mp4", ".vtt")


def _problem_page(message: str, token: str) -> str:
    """A page that shows why the project does not load (escaped) and reloads when it is fixed."""
    t = html.escape(token, quote=True)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>shotlist review</title>'
        f'<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/review.css?token={t}"></head>'
        f'<body data-token="{t}" data-live="yes"><header class="top"><h1>The storyboard does not load</h1></header>'
        f'<pre class="prompt problem">{html.escape(message)}</pre>'
        f'<p class="note">Fix it and save: this page reloads by itself.</p><script src="/static/review.js?token={t}"></script>'
        "</body></html>"
    )


def _typed(body: dict[str, Any], name: str, kind: type[T]) -> T:
    """``body[name]`` when it is a ``kind`` (JSON true is no number; "false" is no boolean), else a 400."""
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{name} must be {'a whole number' if kind is int else 'true or false'}")
    return value


def _sha(value: Any) -> str:
    text = str(value).lower()
    if not _SHA.match(text):
        raise ValueError("clip must be a sha256")
    return text


def make_app(
    project: Path, *, token: str, hosts: set[str], models: Models | None = None
) -> tuple[ASGIApp, Review]:
    """The review app for one project (routes behind the Guard), and its state."""
    review = Review(project, token, models)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        review.hub.loop = asyncio.get_running_loop()
        watcher = asyncio.create_task(review.watch())
        try:
            yield
        finally:
            review.stop.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    app = Starlette(
        routes=[
            Route("/", review.index),
            Route("/static/{name}", review.static),
            Route("/clip/{sha}.mp4", review.clip),
            Route("/poster/{sha}.jpg", review.poster),
            Route("/cut/{name}", review.cut),
            Route("/sheet/sheet.png", review.sheet),
            Route("/events", review.events),
            Route("/api/{action}", review.act, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    return Guard(app, token, hosts), review
