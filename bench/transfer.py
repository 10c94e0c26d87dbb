"""Push and pull of many clips to an S3 server across a network's latency; and a no-op `status --remote`.

    python bench/transfer.py [--clips 200] [--mb 5] [--latency-ms 50] [--jobs 8]

moto's S3 server on 127.0.0.1 has no latency; a real bucket across a network has tens of
milliseconds per request, and that is where many small objects hurt. So every request goes through
a small TCP proxy that holds each request (each turn of the conversation from the client) for
``--latency-ms`` before passing it on. moto and the proxy run in processes of their own. A project of ``--clips`` shots is pinned to random clips of
``--mb`` each (random, so nothing compresses); then, on the same data and latency:

- push with one transfer at a time, then with ``--jobs`` at once (two fresh prefixes);
- pull into a fresh clone, one at a time, then ``--jobs`` at once (every clip verified by its sha256);
- `shotlist status --remote` with everything pushed, as a user types it (a fresh process).

Prints the figures and the round trips each step made; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from multiprocessing.sharedctypes import Synchronized
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
    """Forwards TCP to ``upstream``, holding the first bytes of each request for ``delay`` seconds.

    Runs in a process of its own (as moto does), so neither competes with the client for one GIL.
    """

    def __init__(
        self, upstream: int, delay: float, trips: Synchronized[int], port: Synchronized[int]
    ) -> None:
        self.upstream, self.delay, self.trips, self.port = upstream, delay, trips, port

    def serve(self) -> None:
        async def run() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port.value = server.sockets[0].getsockname()[1]
            async with server:
                await server.serve_forever()

        asyncio.run(run())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        turn = {"server": True}  # the client's next bytes start a request

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_client: bool) -> None:
            try:
                while data := await src.read(1 << 20):
                    if from_client and turn["server"]:
                        turn["server"] = False
                        with self.trips.get_lock():
                            self.trips.value += 1
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


def start_proxy(
    upstream: int, delay: float
) -> tuple[multiprocessing.process.BaseProcess, int, Synchronized[int]]:
    ctx = multiprocessing.get_context("spawn")
    trips, port = ctx.Value("i", 0), ctx.Value("i", 0)
    process = ctx.Process(target=LatencyProxy(upstream, delay, trips, port).serve, daemon=True)
    process.start()
    while not port.value:
        time.sleep(0.05)
    return process, port.value, trips


def start_moto(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.05)
    raise SystemExit("moto's server did not start")


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


def timed(what: str, trips: Synchronized[int], run: Callable[[], object]) -> float:
    before = trips.value
    t0 = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - t0
    moved = getattr(result, "bytes", 0) / 1e6
    print(f"  {what:<34} {seconds:7.2f} s  {trips.value - before:5d} round trips  {moved:7.0f} MB")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--mb", type=float, default=5.0)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    moto_port = free_port()
    server = start_moto(moto_port)
    proxy, port, trips = start_proxy(moto_port, args.latency_ms / 1000)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        SHOTLIST_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
    )
    import boto3

    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1").create_bucket(
        Bucket="bench"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), args, trips)
    finally:
        proxy.terminate()
        server.terminate()
        server.wait()


def run(tmp: Path, args: argparse.Namespace, trips: Synchronized[int]) -> None:
    root = tmp / "project"
    store, pins = make_project(root, args.clips, args.mb)
    print(
        f"{args.clips} clips of {args.mb:g} MB, {args.latency_ms:g} ms per request, "
        f"{args.jobs} transfers at once vs one at a time:"
    )
    for verb, move in (("push", push_to), ("pull", pull_from)):
        one = timed(f"{verb}, one at a time", trips, partial(move, store, tmp, pins, "one", 1))
        many = timed(
            f"{verb}, {args.jobs} at once", trips, partial(move, store, tmp, pins, "many", args.jobs)
        )
        print(f"  {verb}: {one / many:.1f}x faster")
    timed("push again (nothing to send)", trips, lambda: push(store, Remote("s3://bench/many"), pins))
    env = {**os.environ, "SHOTLIST_REMOTE": "s3://bench/many"}
    command = [sys.executable, "-m", "shotlist", "status", "--remote", "--exit-code", str(root)]
    before, cpu = trips.value, resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert out.returncode == 0 and "not pushed" not in out.stdout, out.stdout + out.stderr
    used = after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime
    print(
        f"  `shotlist status --remote` (no-op)  {seconds:7.2f} s  {trips.value - before:5d} round trips  "
        f"(a fresh process: start-up and the plan of every shot included; {used:.2f} s of CPU)"
    )


def push_to(store: Store, tmp: Path, pins: dict[str, str], prefix: str, workers: int) -> object:
    return push(store, Remote(f"s3://bench/{prefix}"), pins, workers=workers)


def pull_from(store: Store, tmp: Path, pins: dict[str, str], prefix: str, workers: int) -> object:
    return pull(Store(tmp / f"clone-{prefix}"), Remote(f"s3://bench/{prefix}"), pins, workers=workers)


if __name__ == "__main__":
    main()
