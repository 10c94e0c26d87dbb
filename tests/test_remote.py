"""The shared clip store: objects by content, verified on the way in, resumable, never overwritten."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from shotlist.media import ClipFacts
from shotlist.remote import Remote, pull, push
from shotlist.store import Store, Take


def _remote(tmp_path: Path, url: str | None = None) -> Remote:
    (tmp_path / "remote").mkdir(exist_ok=True)
    return Remote(url or str(tmp_path / "remote"))


def _take(store: Store, key: str, data: bytes, n: int = 1) -> Take:
    src = store.tmp_path(f"clip-{n}")
    src.write_bytes(data)
    sha = store.add_file(src)
    take = Take(
        take=n,
        sha256=sha,
        shot="s1",
        backend="fake",
        model="fake",
        job=f"job-{n}",
        cost=0.5,
        cost_is_estimate=False,
        time=f"2026-11-23T10:00:0{n}Z",
        facts=ClipFacts(duration=1.0),
    )
    store.add_take(key, {"prompt": "x"}, take)
    return take


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
