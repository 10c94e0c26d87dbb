"""A TCP proxy on 127.0.0.1 that a test can cut and restore: a network outage between shotlist and a fake.

``cut()`` drops every open connection and refuses new ones (the port stays reserved, so ``restore()``
listens on the same address again); the fake behind it stays up and goes on with its jobs.
``freeze()`` keeps every connection open and forwards nothing more: a server that stops reading.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Self


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to ``target`` (host, port) until cut."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.links: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.cuts = 0
        self.flowing = threading.Event()
        self.flowing.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._listen()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.links |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while self.flowing.wait() and (data := src.recv(65536)):
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self.lock:
                self.links -= {src, dst}

    def cut(self) -> None:
        """The network goes down: open connections break, new ones are refused."""
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept loop
            self.listener.close()
            self.listener = None
            self.cuts += 1
        with self.lock:
            links, self.links = set(self.links), set()
        for s in links:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def freeze(self) -> None:
        """The far end stops reading and answering; connections stay open (no error, no reset)."""
        self.flowing.clear()

    def restore(self) -> None:
        """The network is back, on the same address."""
        self.flowing.set()
        if self.listener is None:
            self._listen()
