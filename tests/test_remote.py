"""The shared clip store: objects by content, verified on the way in, resumable, never overwritten."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from shotlist.remote import Remote, RemoteError, pull, push
from shotlist.store import Store, Take
from tests.tiny_project import take


def _remote(tmp_path: Path, url: str | None = None) -> Remote:
    (tmp_path / "remote").mkdir(exist_ok=True)
    return Remote(url or str(tmp_path / "remote"))


def _take(store: Store, key: str, data: bytes, n: int = 1) -> Take:
    """Store ``data`` as take ``n`` of the recipe ``key``."""
    src = store.tmp_path(f"clip-{n}")
    src.write_bytes(data)
    record = take(n, store.add_file(src), shot="s1")
    store.add_take(key, {"prompt": "x"}, record)
    return record


KEY = "ab" * 32


def test_a_pushed_take_is_pulled_into_another_clone_with_its_record(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    remote = _remote(tmp_path)
    take = _take(a, KEY, b"clip bytes one")
    sent = push(a, remote, {KEY: take.sha256})
    assert sent.sent == [take.sha256]
    got = pull(b, remote, {KEY: take.sha256})
    assert got.sent == [take.sha256] and not got.missing
    assert b.object_path(take.sha256).read_bytes() == b"clip bytes one"
    assert [t.job for t in b.takes(KEY)] == ["job-1"]


def test_pushing_again_sends_nothing_and_never_overwrites(tmp_path: Path) -> None:
    a = Store(tmp_path / "a")
    remote = _remote(tmp_path, f"file://{tmp_path / 'remote'}")
    take = _take(a, KEY, b"the approved take")
    push(a, remote, {KEY: take.sha256})
    obj = tmp_path / "remote" / "objects" / take.sha256[:2] / take.sha256
    before = obj.stat().st_mtime_ns
    again = push(a, remote, {KEY: take.sha256})
    assert again.sent == [] and again.skipped == [take.sha256]
    assert obj.stat().st_mtime_ns == before
    assert not list((tmp_path / "remote" / "tmp").iterdir())  # no leftovers of the atomic upload


def test_only_pinned_takes_are_pushed_unless_all_takes(tmp_path: Path) -> None:
    a = Store(tmp_path / "a")
    remote = _remote(tmp_path)
    first = _take(a, KEY, b"take one", 1)
    second = _take(a, KEY, b"take two", 2)
    assert push(a, remote, {KEY: second.sha256}).sent == [second.sha256]
    assert not remote.has(first.sha256)
    push(a, remote, {KEY: second.sha256}, all_takes=True)
    assert remote.has(first.sha256)
    assert {t.take for t in remote.takes(KEY)} == {1, 2}


def test_a_corrupt_object_in_the_remote_is_detected_and_not_used(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    remote = _remote(tmp_path)
    take = _take(a, KEY, b"good bytes")
    push(a, remote, {KEY: take.sha256})
    obj = tmp_path / "remote" / "objects" / take.sha256[:2] / take.sha256
    obj.write_bytes(b"evil bytes")
    got = pull(b, remote, {KEY: take.sha256})
    assert got.corrupt == [take.sha256]
    assert not b.has_object(take.sha256)


def test_an_interrupted_pull_resumes_from_its_partial_file(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    remote = _remote(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 17)
    take = _take(a, KEY, data)
    push(a, remote, {KEY: take.sha256})
    part = b.dir / "tmp" / f"{take.sha256}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: 1024 * 1024])  # what a killed pull left behind
    got = pull(b, remote, {KEY: take.sha256})
    assert got.bytes == len(data) - 1024 * 1024  # only the rest travelled
    assert hashlib.sha256(b.object_path(take.sha256).read_bytes()).hexdigest() == take.sha256


def test_an_interrupted_push_sends_only_what_is_missing_when_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Store(tmp_path / "a")
    remote = _remote(tmp_path)
    takes = [_take(a, f"{n:02d}" * 32, f"clip {n}".encode() * 1000) for n in range(4)]
    pins = {f"{n:02d}" * 32: t.sha256 for n, t in enumerate(takes)}
    real = Remote.put_object
    calls: list[str] = []

    def flaky(self: Remote, sha: str, src: Path, stale: Iterable[str] = ()) -> None:
        calls.append(sha)
        if len(calls) == 3:
            raise ConnectionError("network dropped")
        real(self, sha, src, stale)

    monkeypatch.setattr(Remote, "put_object", flaky)
    with pytest.raises(ConnectionError):
        push(a, remote, pins)
    monkeypatch.setattr(Remote, "put_object", real)
    again = push(a, remote, pins)
    assert len(again.sent) + len(again.skipped) == 4 and 1 <= len(again.sent) <= 2
    assert all(remote.has(t.sha256) for t in takes)
    assert not list((tmp_path / "remote" / "tmp").iterdir())


def test_a_clip_in_neither_store_is_reported_missing(tmp_path: Path) -> None:
    b = Store(tmp_path / "b")
    remote = _remote(tmp_path)
    got = pull(b, remote, {KEY: "cd" * 32})
    assert got.missing == ["cd" * 32]


# --- s3:// against moto's server on 127.0.0.1 ----------------------------------------------------


@pytest.mark.slow
def test_s3_remote_round_trip_with_corruption_detected(tmp_path: Path, s3: str) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    remote = Remote(s3)
    take = _take(a, KEY, os.urandom(200_000))
    assert push(a, remote, {KEY: take.sha256}).sent == [take.sha256]
    assert push(a, Remote(s3), {KEY: take.sha256}).sent == []
    got = pull(b, Remote(s3), {KEY: take.sha256})
    assert got.sent == [take.sha256] and b.has_object(take.sha256)
    assert [t.job for t in b.takes(KEY)] == ["job-1"]
    remote.fs.pipe(f"clips/team-project/objects/{take.sha256[:2]}/{take.sha256}", b"tampered")
    c = Store(tmp_path / "c")
    assert pull(c, Remote(s3), {KEY: take.sha256}).corrupt == [take.sha256]


# --- failures: one clear RemoteError, nothing created implicitly, no hang ---------------------------


def test_a_push_to_a_folder_that_does_not_exist_creates_nothing_and_says_so(tmp_path: Path) -> None:
    a = Store(tmp_path / "a")
    take = _take(a, KEY, b"clip")
    remote = Remote(str(tmp_path / "unmounted" / "clips"))
    with pytest.raises(
        RemoteError, match=r"unmounted/clips does not exist; create the folder, or fix `remote:`"
    ):
        push(a, remote, {KEY: take.sha256})
    with pytest.raises(RemoteError, match="does not exist"):
        pull(Store(tmp_path / "b"), remote, {KEY: take.sha256})
    assert not (tmp_path / "unmounted").exists()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


@pytest.mark.slow
def test_every_remote_operation_with_the_endpoint_down_is_one_clear_error(
    tmp_path: Path, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Store(tmp_path / "a")
    take = _take(a, KEY, b"clip")
    monkeypatch.setenv("SHOTLIST_S3_ENDPOINT_URL", f"http://127.0.0.1:{_dead_port()}")
    remote = Remote(s3)
    calls: list[Callable[[], object]] = [
        lambda: push(a, remote, {KEY: take.sha256}),
        lambda: pull(Store(tmp_path / "b"), remote, {KEY: take.sha256}),
        remote.inventory,
        remote.take_index,
        lambda: remote.takes(KEY),
        lambda: remote.has(take.sha256),
        remote.parts,
    ]
    for call in calls:
        with pytest.raises(
            RemoteError, match=rf"^cannot reach the remote store {s3} \(.+\): .*check that the server"
        ):
            call()


@pytest.mark.slow
def test_a_push_to_a_misspelled_bucket_creates_no_bucket(tmp_path: Path, s3: str) -> None:
    import boto3

    a = Store(tmp_path / "a")
    take = _take(a, KEY, b"clip")
    with pytest.raises(
        RemoteError,
        match=r"the remote store s3://no-such-bucket/team does not exist; create the bucket no-such-bucket, or fix",
    ):
        push(a, Remote("s3://no-such-bucket/team"), {KEY: take.sha256})
    client = boto3.client("s3", endpoint_url=os.environ["SHOTLIST_S3_ENDPOINT_URL"], region_name="us-east-1")
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["clips"]
    # a new prefix inside an existing bucket is fine
    assert push(a, Remote(f"{s3}/fresh"), {KEY: take.sha256}).sent == [take.sha256]


def fake_endpoint(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> socket.socket | None:
    """Point s3:// at ``endpoint`` ("listen": a socket of its own, returned) with test credentials."""
    pytest.importorskip("s3fs")
    server = None
    if endpoint == "listen":
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setenv("SHOTLIST_S3_ENDPOINT_URL", endpoint)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return server


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 endpoint that accepts connections and never answers."""
    server = fake_endpoint(monkeypatch, "listen")
    assert server is not None
    monkeypatch.setenv("SHOTLIST_REMOTE_TIMEOUT", "1")
    try:
        yield "s3://clips/frozen"
    finally:
        server.close()


@pytest.mark.slow
def test_a_frozen_server_times_out_and_says_what_it_waits_for(tmp_path: Path, frozen: str) -> None:
    heard: list[str] = []
    started = time.monotonic()
    with pytest.raises(
        RemoteError, match=rf"the remote store {frozen} did not answer within 1 s \(listing objects/\)"
    ):
        pull(Store(tmp_path / "b"), Remote(frozen, on_wait=heard.append), {KEY: "cd" * 32})
    assert time.monotonic() - started < 20
    assert heard and heard[0].startswith(
        f"waiting for the remote store {frozen} (listing objects/): no answer for"
    )


# --- stale upload parts ------------------------------------------------------------------------

KILLED_PUSH = """
import sys, time
from pathlib import Path
from shotlist.remote import Remote, push
from shotlist.store import Store

store, remote = Store(Path(sys.argv[1])), Remote(sys.argv[2])

def stuck(src, dest, **kw):  # half the bytes are written, then the process is killed
    data = Path(src).read_bytes()
    with open(dest, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
    print("writing", flush=True)
    time.sleep(60)

remote.fs.put_file = stuck
push(store, remote, {sys.argv[3]: sys.argv[4]})
"""


def test_a_killed_push_leaves_a_part_that_the_next_push_removes_and_gc_clears_old_ones(
    tmp_path: Path,
) -> None:
    a = Store(tmp_path / "a")
    remote = _remote(tmp_path)
    take = _take(a, KEY, os.urandom(2_000_000))
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_PUSH, str(a.root), remote.url, KEY, take.sha256],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline() == "writing\n"
    child.send_signal(signal.SIGKILL)
    child.wait()
    parts = tmp_path / "remote" / "tmp"
    (left,) = parts.iterdir()
    assert left.stat().st_size == 1_000_000
    someone_elses = parts / "0123456789ab-feedfacefeed.part"
    someone_elses.write_bytes(b"x" * 10)
    assert push(a, remote, {KEY: take.sha256}).sent == [take.sha256]
    assert list(parts.iterdir()) == [someone_elses]  # this clone's leftover is gone, another's is not
    young = parts / "fedcba987654-0123456789ab.part"
    young.write_bytes(b"y")
    day_old = time.time() - 25 * 3600
    os.utime(someone_elses, (day_old, day_old))
    assert [name for name, age, _ in remote.parts() if age > 24 * 3600] == [someone_elses.name]
    for name, age, _ in remote.parts():
        if age > 24 * 3600:
            remote.remove_part(name)
    assert list(parts.iterdir()) == [young]


# --- repair --------------------------------------------------------------------------------------


def test_push_repairs_a_corrupt_remote_copy_of_the_same_size_and_trusts_a_verified_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Store(tmp_path / "a")
    remote = _remote(tmp_path)
    good = os.urandom(100_000)
    take = _take(a, KEY, good)
    push(a, remote, {KEY: take.sha256})
    obj = tmp_path / "remote" / "objects" / take.sha256[:2] / take.sha256
    obj.write_bytes(os.urandom(len(good)))  # bit rot, or a bad copy: same size, wrong bytes
    assert pull(Store(tmp_path / "b"), remote, {KEY: take.sha256}).corrupt == [take.sha256]
    again = push(a, remote, {KEY: take.sha256})
    assert again.repaired == [take.sha256] and obj.read_bytes() == good
    assert pull(Store(tmp_path / "c"), remote, {KEY: take.sha256}).sent == [take.sha256]

    def no_download(self: Remote, sha: str, size: int) -> str:
        raise AssertionError("a verified object is not downloaded again")

    monkeypatch.setattr(Remote, "hash_of", no_download)
    assert push(a, remote, {KEY: take.sha256}).skipped == [take.sha256]


def test_an_object_pushed_without_a_record_is_hashed_once_then_trusted(tmp_path: Path) -> None:
    a = Store(tmp_path / "a")
    remote = _remote(tmp_path)
    take = _take(a, KEY, b"uploaded by an older shotlist")
    obj = tmp_path / "remote" / "objects" / take.sha256[:2] / take.sha256
    obj.parent.mkdir(parents=True)
    obj.write_bytes(b"uploaded by an older shotlist")
    assert not remote.inventory()[take.sha256].verified
    assert push(a, remote, {KEY: take.sha256}).skipped == [take.sha256]
    assert remote.inventory()[take.sha256].verified


def test_a_bad_local_partial_download_is_fetched_again_not_blamed_on_the_remote(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    remote = _remote(tmp_path)
    data = os.urandom(300_000)
    take = _take(a, KEY, data)
    push(a, remote, {KEY: take.sha256})
    part = b.dir / "tmp" / f"{take.sha256}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(os.urandom(100_000))  # a damaged partial file on this disk
    got = pull(b, remote, {KEY: take.sha256})
    assert got.sent == [take.sha256] and not got.corrupt
    assert b.object_path(take.sha256).read_bytes() == data


@pytest.mark.slow
def test_s3_push_repairs_a_tampered_object_and_pull_then_succeeds(tmp_path: Path, s3: str) -> None:
    a = Store(tmp_path / "a")
    data = os.urandom(200_000)
    take = _take(a, KEY, data)
    push(a, Remote(s3), {KEY: take.sha256})
    Remote(s3).fs.pipe(f"clips/team-project/objects/{take.sha256[:2]}/{take.sha256}", os.urandom(len(data)))
    assert pull(Store(tmp_path / "b"), Remote(s3), {KEY: take.sha256}).corrupt == [take.sha256]
    assert push(a, Remote(s3), {KEY: take.sha256}).repaired == [take.sha256]
    c = Store(tmp_path / "c")
    assert pull(c, Remote(s3), {KEY: take.sha256}).sent == [take.sha256]
    assert c.object_path(take.sha256).read_bytes() == data


# --- takes of two clones ------------------------------------------------------------------------


def test_a_teammates_take_with_the_same_number_stands_beside_this_clones_take(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    remote = _remote(tmp_path)
    mine = _take(a, KEY, b"alice's take 1")
    theirs = _take(b, KEY, b"bob's take 1")
    push(b, remote, {}, all_takes=True)
    got = pull(a, remote, [(KEY, theirs.sha256)])
    assert got.sent == [theirs.sha256]
    assert sorted((t.take, t.sha256) for t in a.takes(KEY)) == sorted([(1, mine.sha256), (1, theirs.sha256)])
    assert mine.id != theirs.id and len(mine.id) == 8


def test_transfers_run_several_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = Store(tmp_path / "a")
    remote = _remote(tmp_path)
    pins = {f"{n:02d}" * 32: _take(a, f"{n:02d}" * 32, f"clip {n}".encode()).sha256 for n in range(8)}
    running, peak = 0, 0
    guard = threading.Lock()
    real = Remote.put_object

    def slow(self: Remote, sha: str, src: Path, stale: Iterable[str] = ()) -> None:
        nonlocal running, peak
        with guard:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        real(self, sha, src, stale)
        with guard:
            running -= 1

    monkeypatch.setattr(Remote, "put_object", slow)
    assert len(push(a, remote, pins, workers=4).sent) == 8
    assert peak == 4
