"""The store: clips by content, takes newest first, one writer at a time, verify and gc that keep what is pinned."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.hashing import HashCache
from shotlist.lock import read_lock
from shotlist.store import Store, StoreBusy
from tests.tiny_project import Built, edit, run, take


def test_objects_are_named_by_their_bytes_and_stored_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for _ in range(2):
        src = store.tmp_path("clip.mp4")
        src.write_bytes(b"same bytes")
        sha = store.add_file(src)
    assert [name for name, _ in store.objects()] == [sha]
    assert store.object_path(sha).read_bytes() == b"same bytes"
    assert not os.access(store.object_path(sha), os.W_OK) or os.geteuid() == 0  # read-only (root ignores it)


def test_a_recipe_keeps_every_take_newest_first(tmp_path: Path) -> None:
    store = Store(tmp_path)
    shas = []
    for n in (1, 2, 3):
        src = store.tmp_path(f"{n}.mp4")
        src.write_bytes(bytes([n]))
        shas.append(store.add_file(src))
        store.add_take("k" * 64, {"prompt": "x"}, take(n, shas[-1]))
    assert [t.take for t in store.takes("k" * 64)] == [3, 2, 1]
    assert store.next_take("k" * 64) == 4
    store.remove_object(shas[2])
    assert [t.take for t in store.takes("k" * 64)] == [2, 1]  # a take whose clip is gone is not offered


def test_input_hashes_are_not_reread_while_size_mtime_and_inode_are_unchanged(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"A" * 1000)
    cache = HashCache(tmp_path / "hashes.json")
    first = cache.digest(image)
    cache.save()
    st = image.stat()
    with open(image, "r+b") as f:  # same size, same inode, mtime put back: only a reread could notice
        f.write(b"B")
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert HashCache(tmp_path / "hashes.json").digest(image) == first
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert HashCache(tmp_path / "hashes.json").digest(image) != first


def test_a_second_process_is_told_who_holds_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.locked("build"):
        with pytest.raises(
            StoreBusy, match=rf"another shotlist \(build, pid {os.getpid()}, since .*\) is using"
        ):
            with Store(tmp_path).locked("cache gc", timeout=0):
                pass
    with Store(tmp_path).locked("cache gc", timeout=0):  # free again once the build is done
        pass


def test_a_process_that_finds_the_lock_just_taken_still_names_its_holder(tmp_path: Path) -> None:
    # The holder writes its note just after taking the lock; a second process can look in between
    # (two builds started at once said only "another shotlist process").
    store = Store(tmp_path)
    with store.locked("build"):
        note = store.dir / "store.holder"
        text = note.read_text()
        note.unlink()
        threading.Timer(0.1, note.write_text, [text]).start()
        with pytest.raises(StoreBusy, match=r"another shotlist \(build, pid"):
            with Store(tmp_path).locked("render", timeout=0):
                pass


def test_cache_verify_finds_a_corrupt_object(built_project: Built) -> None:
    root, _ = built_project
    runner = CliRunner()
    ok = runner.invoke(app, ["cache", "verify", str(root)])
    assert ok.exit_code == 0 and "all intact" in ok.output
    victim = Store(root).object_path(read_lock(root).entries["door"].clip)
    os.chmod(victim, 0o644)
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    bad = runner.invoke(app, ["cache", "verify", str(root)])
    assert bad.exit_code == 1 and f"corrupt: .shotlist/objects/{victim.name[:2]}/{victim.name}" in bad.output


@pytest.mark.slow
def test_cache_gc_removes_only_unpinned_takes_and_says_what_they_cost(built_project: Built) -> None:
    root, models = built_project
    old = read_lock(root).entries["kite"].clip
    edit(root, "A red kite", "A silver kite")
    assert run(root, models).ok
    runner = CliRunner()
    listing = runner.invoke(app, ["cache", "ls", str(root)])
    assert listing.output.count("kite") == 2
    refused = runner.invoke(app, ["cache", "gc", str(root)])  # no terminal, no --yes: nothing deleted
    assert refused.exit_code == 1 and Store(root).has_object(old)
    out = runner.invoke(app, ["cache", "gc", "--yes", str(root)])
    assert out.exit_code == 0, out.output
    assert (
        "would remove 1 unpinned take and 1 object" in out.output and "those takes cost $0.10" in out.output
    )
    assert not Store(root).has_object(old)
    assert all(Store(root).has_object(e.clip) for e in read_lock(root).entries.values())
    street = read_lock(root).entries["street"].clip
    assert (root / ".shotlist" / "frames" / f"{street}.last").is_file()  # the frame a pinned chain uses stays
    assert runner.invoke(app, ["cache", "verify", str(root)]).exit_code == 0
