"""Push and pull of many clips to an S3 server across a network's latency; and a no-op `status --remote`.

    python bench/transfer.py [--clips 200] [--mb 5] [--latency-ms 50] [--jobs 8]

moto's S3 server on 127.0.0.1 has no latency; a real bucket across a network has tens of
milliseconds per request, and that is where many small objects hurt. So every request goes through
a small TCP proxy that holds each request (each turn of the conversation from the client) for
``--latency-ms`` before passing it on. A project of ``--clips`` shots is pinned to random clips of
``--mb`` each (random, so nothing compresses); then, on the same data and latency:

- push with one transfer at a time, then with ``--jobs`` at once (two fresh prefixes);
- pull into a fresh clone, one at a time, then ``--jobs`` at once (every clip verified by its sha256);
- `shotlist status --remote` with everything pushed, as a user types it (a fresh process).

Prints the figures and the round trips each step made; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shotlist.catalog.registry import CatalogModels  # noqa: E402
from shotlist.load import load_project  # noqa: E402
from shotlist.lock import Lock, LockEntry, read_lock, write_lock  # noqa: E402
from shotlist.media import ClipFacts  # noqa: E402
from shotlist.plan import make_plan  # noqa: E402
from shotlist.remote import Remote, pull, push  # noqa: E402
from shotlist.store import Store, Take  # noqa: E402


class LatencyProxy:
    """Forwards TCP to ``upstream``, holding the first bytes of each request for ``delay`` seconds."""

    def __init__(self, upstream: int, delay: float) -> None:
        self.upstream, self.delay, self.trips = upstream, delay, 0
        self.loop = asyncio.new_event_loop()
        self.port = 0

    def start(self) -> int:
        ready = threading.Event()

        async def serve() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await server.serve_forever()

        threading.Thread(target=self.loop.run_until_complete, args=(serve(),), daemon=True).start()
        ready.wait()
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        turn = {"server": True}  # the client's next bytes start a request

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_client: bool) -> None:
            try:
                while data := await src.read(1 << 20):
                    if from_client and turn["server"]:
                        turn["server"] = False
                        self.trips += 1
                        await asyncio.sleep(self.delay)
                    elif not from_client:
                        turn["server"] = True
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_project(root: Path, clips: int, mb: float) -> tuple[Store, dict[str, str]]:
    """A project of ``clips`` txt2vid shots, each pinned to a random clip of ``mb`` MB in its store."""
    root.mkdir(parents=True)
    shots = "".join(
        f'  - id: s{n:03d}\n    subject: "Lantern number {n}"\n    action: "sways slowly"\n'
        for n in range(clips)
    )
    (root / "storyboard.yaml").write_text(
        "version: 1\ntitle: Transfer bench\noutput: {resolution: 320x180, fps: 12, file: out/cut.mp4}\n"
        "defaults: {model: animatic, duration: 1, lint: [word-count]}\nshots:\n" + shots
    )
    project = load_project(root)
    store = Store(root)
    lock = Lock()
    for sp in make_plan(project, store, read_lock(root), CatalogModels()).shots:
        assert sp.spec is not None
        src = store.tmp_path(sp.shot)
        src.write_bytes(os.urandom(int(mb * 1e6)))
        take = Take(
            1, store.add_file(src), sp.shot, "animatic", "animatic", "", 0.0, False, "", ClipFacts(1.0)
        )
        store.add_take(sp.spec.key, sp.spec.recipe(), take)
        lock.entries[sp.shot] = LockEntry.pinning(sp.shot, sp.spec.key, take)
    write_lock(root, lock, list(lock.entries))
    return store, {e.key: e.clip for e in lock.entries.values()}


def timed(what: str, proxy: LatencyProxy, run: object) -> float:
    trips = proxy.trips
    t0 = time.perf_counter()
    result = run()  # type: ignore[operator]
    seconds = time.perf_counter() - t0
    moved = getattr(result, "bytes", 0) / 1e6
    print(f"  {what:<34} {seconds:7.2f} s  {proxy.trips - trips:5d} round trips  {moved:7.0f} MB")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--mb", type=float, default=5.0)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    moto_port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    proxy = LatencyProxy(moto_port, args.latency_ms / 1000)
    endpoint = f"http://127.0.0.1:{proxy.start()}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        SHOTLIST_S3_ENDPOINT_URL=endpoint,
    )
    import boto3

    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1").create_bucket(
        Bucket="bench"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "project"
            store, pins = make_project(root, args.clips, args.mb)
            print(
                f"{args.clips} clips of {args.mb:g} MB, {args.latency_ms:g} ms per request, "
                f"{args.jobs} transfers at once vs one at a time:"
            )
            one = timed(
                "push, one at a time", proxy, lambda: push(store, Remote("s3://bench/one"), pins, workers=1)
            )
            many = timed(
                f"push, {args.jobs} at once",
                proxy,
                lambda: push(store, Remote("s3://bench/many"), pins, workers=args.jobs),
            )
            print(f"  push: {one / many:.1f}x faster")
            one = timed(
                "pull, one at a time",
                proxy,
                lambda: pull(Store(Path(tmp) / "b1"), Remote("s3://bench/one"), pins, workers=1),
            )
            many = timed(
                f"pull, {args.jobs} at once",
                proxy,
                lambda: pull(Store(Path(tmp) / "b2"), Remote("s3://bench/many"), pins, workers=args.jobs),
            )
            print(f"  pull: {one / many:.1f}x faster")
            timed("push again (nothing to send)", proxy, lambda: push(store, Remote("s3://bench/many"), pins))
            env = {**os.environ, "SHOTLIST_REMOTE": "s3://bench/many"}
            command = [sys.executable, "-m", "shotlist", "status", "--remote", "--exit-code", str(root)]
            trips = proxy.trips
            t0 = time.perf_counter()
            out = subprocess.run(command, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            assert out.returncode == 0 and "not pushed" not in out.stdout, out.stdout + out.stderr
            print(
                f"  `shotlist status --remote` (no-op)  {seconds:7.2f} s  {proxy.trips - trips:5d} round trips  "
                "(a fresh process: start-up and the plan of every shot included)"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
