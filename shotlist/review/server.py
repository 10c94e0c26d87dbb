"""Serving the review app on 127.0.0.1 with uvicorn: a free port (or the one asked), a fresh token."""

from __future__ import annotations

import secrets
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from shotlist.catalog.registry import Models
from shotlist.errors import ShotlistError


@dataclass
class Served:
    """A review server bound to its socket: ``run()`` blocks (Ctrl-C stops it), ``start()``/``stop()`` for tests."""

    url: str
    port: int
    token: str
    server: object  # uvicorn.Server
    sock: socket.socket
    thread: threading.Thread | None = field(default=None)

    def run(self) -> None:
        import uvicorn

        assert isinstance(self.server, uvicorn.Server)
        self.server.run(sockets=[self.sock])  # uvicorn turns SIGINT/SIGTERM into a clean shutdown

    def start(self) -> None:
        import time

        import uvicorn

        assert isinstance(self.server, uvicorn.Server)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        import uvicorn

        assert isinstance(self.server, uvicorn.Server)
        self.server.handle_exit(signal.SIGTERM, None)
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()


def serve(project: Path, *, port: int = 0, models: Models | None = None) -> Served:
    """Bind 127.0.0.1:``port`` (0: a free one) and build the app; nothing runs until ``run`` or ``start``."""
    import uvicorn

    from shotlist.review.app import make_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))  # loopback only, never another interface
    except OSError as exc:
        sock.close()
        raise ShotlistError(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another --port"
        ) from None
    port = int(sock.getsockname()[1])
    token = secrets.token_urlsafe(24)
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    app, review = make_app(project, token=token, hosts=hosts, models=models)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    url = f"http://127.0.0.1:{port}/?token={token}"
    return Served(url=url, port=port, token=token, server=_server(config, review.hub.close), sock=sock)


def _server(config: object, closing: Callable[[], None]) -> object:
    """A uvicorn server that ends the pages' event streams as it starts to stop: an open page holds one
    forever, and uvicorn would wait for it, then cancel it with an error and a traceback."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            closing()
            super().handle_exit(sig, frame)

    assert isinstance(config, uvicorn.Config)
    return Server(config)
