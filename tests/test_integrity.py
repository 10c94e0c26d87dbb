"""The same lock gives the same cut, and nothing unverified reaches it.

A piece's bytes depend on its key alone; a stored clip, a piece or a kept sound whose bytes changed is
never used; a damaged pinned clip is set aside, pulled again or named with its shot and the fix; what a
killed render leaves is swept; a render of many shots runs in processes that each hold a few clips.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shotlist import hashing
from shotlist.cli import app
from shotlist.clip import DamagedClip, pinned_clips
from shotlist.edit import clear_pieces, render_cut
from shotlist.load import Project, load_project
from shotlist.lock import Lock, LockEntry, read_lock, write_lock
from shotlist.media import frame_counts
from shotlist.store import Store
from tests.media_factory import clip_of, ffmpeg, make_clip, make_tone
from tests.tiny_project import edit_storyboard, make_project

runner = CliRunner()


def write_project(root: Path, shots: list[dict[str, Any]], **board: Any) -> Project:
    """The edit tests' storyboard of ``shots`` (and storyboard keys) written at ``root``, loaded."""
    return load_project(make_project(root, edit_storyboard(shots, **board)))


def _flip(path: Path, at: int = -100) -> None:
    """Change one byte of a file in place (objects are read-only: a disk or a hand does this)."""
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _built(root: Path, **board: Any) -> Path:
    make_project(root)
    if board.get("remote"):
        with (root / "storyboard.yaml").open("a") as f:
            f.write(f"remote: {board['remote']}\n")
    result = runner.invoke(app, ["build", str(root)])
    assert result.exit_code == 0, result.output
    return root


def _object_of(root: Path, shot: str) -> Path:
    entry = read_lock(root).get(shot)
    assert entry is not None
    return Store(root).object_path(entry.clip)


# --- a piece's bytes depend only on its key ------------------------------------------------------------------


@pytest.mark.slow
def test_a_cut_is_byte_identical_whatever_was_rendered_before(tmp_path: Path) -> None:
    colours = ["red", "green", "blue", "yellow"]
    board = {"soundtrack": {"music": {"file": "bed.m4a", "gain_db": -12}}}
    make_tone(tmp_path / "bed.m4a", seconds=3)
    shots: list[dict[str, Any]] = [
        {"id": "red", "transition": {"type": "wipeleft", "duration": 0.5}},
        {"id": "green", "transition": {"type": "dissolve", "duration": 0.5}},
        {"id": "blue", "transition": {"type": "dip-to-black", "duration": 0.5}},
        {"id": "yellow"},
    ]
    project = write_project(tmp_path, shots, **board)
    clips = {
        c: clip_of(c, make_clip(tmp_path / "clips" / f"{c}.mp4", c, tone=300 + 100 * k))
        for k, c in enumerate(colours)
    }
    other = clip_of("green", make_clip(tmp_path / "clips" / "magenta.mp4", "magenta", tone=900))

    fresh = render_cut(project, clips).path.read_bytes()

    # A change and back: the cut is joined again from pieces made in two different runs.
    render_cut(project, {**clips, "green": other})
    back = render_cut(project, clips)
    assert back.rendered == [] and back.path.read_bytes() == fresh

    # Pieces left over from another storyboard (other order, other transitions) in the same store.
    reordered: list[dict[str, Any]] = [
        {"id": "blue", "transition": {"type": "slideup", "duration": 0.25}},
        {"id": "red"},
        {"id": "green"},
    ]
    render_cut(write_project(tmp_path, reordered), clips)
    project = write_project(tmp_path, shots, **board)
    assert render_cut(project, clips).path.read_bytes() == fresh

    # And a render from an empty store.
    clear_pieces(project)
    again = render_cut(project, clips)
    assert len(again.rendered) == 7 and again.path.read_bytes() == fresh


# --- a long film, in bounded memory --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_film_of_seventy_shots_renders_with_no_process_holding_more_than_two_clips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One ffmpeg for every missing piece held every clip's decoder at once and, past ~60 pieces, its
    # keyframe expression outgrew ffmpeg; now each shot's pieces are a process of their own.
    n = 70
    base = make_clip(tmp_path / "base.mp4", "blue", size="64x36", fps=8, seconds=1)
    shots = []
    for k in range(n):
        # Distinct bytes per shot (so distinct keys), the same picture: a stream copy with a tag.
        ffmpeg("-i", str(base), "-c", "copy", "-metadata", f"comment=shot {k}", str(tmp_path / f"c{k}.mp4"))
        shots.append(
            {"id": f"s{k}", "duration": 1, **({"transition": "dissolve"} if k % 2 and k < n - 1 else {})}
        )
    output = {"resolution": "64x36", "fps": 8, "file": "out/long.mp4", "preset": "ultrafast"}
    project = write_project(tmp_path, shots, output=output)
    clips = {f"s{k}": clip_of(f"s{k}", tmp_path / f"c{k}.mp4") for k in range(n)}
    calls: list[list[str]] = []
    import shotlist.edit
    from shotlist import media

    real = media.run_ffmpeg

    def spy(args: Any, **kw: Any) -> str:
        calls.append(list(args))
        return str(real(args, **kw))

    monkeypatch.setattr(shotlist.edit, "run_ffmpeg", spy)
    result = render_cut(project, clips)
    dissolves = sum(1 for s in shots if "transition" in s)
    assert result.frames == 8 * n - 4 * dissolves  # 0.5 s each
    renders = [c for c in calls if "-filter_complex" in c]
    assert len(renders) == n and max(c.count("-i") for c in renders) <= 2


# --- nothing unverified reaches the cut ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_pinned_clip_with_a_flipped_byte_is_set_aside_and_its_own_shot_is_named(tmp_path: Path) -> None:
    root = _built(tmp_path / "film")
    damaged = _object_of(root, "door")
    _flip(damaged)
    result = runner.invoke(app, ["render", str(root)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert "shot 'door'" in result.output and "damaged" in result.output
    assert "shotlist pull" in result.output and "--regenerate-missing" in result.output
    assert lines[-1].startswith("no cut written: shot 'door'")
    assert not damaged.exists() and (root / ".shotlist" / "corrupt" / damaged.name).is_file()
    # Set aside, the clip is missing like one never pulled: the plan says so and what regenerating costs.
    plan = runner.invoke(app, ["plan", str(root)])
    assert "missing" in plan.output and "door" in plan.output


@pytest.mark.slow
def test_a_truncated_clip_is_blamed_on_its_own_shot_not_its_neighbour(tmp_path: Path) -> None:
    root = _built(tmp_path / "film")
    path = _object_of(root, "door")
    os.chmod(path, 0o644)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    built = runner.invoke(app, ["build", str(root)])
    assert built.exit_code == 1
    last = built.output.strip().splitlines()[-1]
    assert last == "no cut written: no clip for door"
    assert "shot 'door'" in built.output and "'end'" not in built.output


@pytest.mark.slow
def test_a_damaged_clip_is_pulled_again_from_the_remote_store(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()  # a folder remote must exist: shotlist never creates one
    root = _built(tmp_path / "film", remote="../shared")
    assert runner.invoke(app, ["push", str(root)]).exit_code == 0
    first = runner.invoke(app, ["render", str(root)])
    cut = (root / "out" / "tiny.mp4").read_bytes()
    assert first.exit_code == 0
    damaged = _object_of(root, "walk")
    _flip(damaged)
    (root / "out" / "tiny.mp4").unlink()
    again = runner.invoke(app, ["render", str(root)])
    assert again.exit_code == 0, again.output
    assert damaged.is_file() and hashing.sha256_file(damaged) == damaged.name
    assert (root / "out" / "tiny.mp4").read_bytes() == cut


def test_an_unchanged_object_is_not_hashed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path)
    blob = tmp_path / "clip.bin"
    blob.write_bytes(b"frames" * 1000)
    sha = store.add_file(blob)
    assert store.damaged([sha]) == set()
    hashed: list[Path] = []
    real = hashing.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(hashing, "sha256_file", counting)
    assert Store(tmp_path).damaged([sha]) == set()  # a later command: the verified-at record says so
    assert hashed == []
    _flip(store.object_path(sha))
    assert Store(tmp_path).damaged([sha]) == {sha} and hashed == [store.object_path(sha)]


@pytest.mark.slow
def test_a_piece_with_a_flipped_byte_is_made_again_never_reused(tmp_path: Path) -> None:
    project = write_project(tmp_path, [{"id": "red", "transition": "dissolve"}, {"id": "blue"}])
    clips = {c: clip_of(c, make_clip(tmp_path / "clips" / f"{c}.mp4", c)) for c in ("red", "blue")}
    first = render_cut(project, clips)
    cut = first.path.read_bytes()
    store = Store(project.root)
    body = next(k for k in store.pieces.keys() if store.pieces.record(k)["label"] == "body blue")  # type: ignore[index]
    _flip(store.pieces.path(body), at=len(store.pieces.path(body).read_bytes()) // 2)
    first.path.unlink()  # so the cut is joined again from its pieces
    again = render_cut(project, clips)
    assert again.rendered == ["body blue"]
    assert again.path.read_bytes() == cut


@pytest.mark.slow
def test_cache_verify_checks_pieces_sounds_and_cut_records(tmp_path: Path) -> None:
    root = _built(tmp_path / "film")
    assert runner.invoke(app, ["cache", "verify", str(root)]).exit_code == 0
    store = Store(root)
    piece = store.pieces.path(store.pieces.keys()[0])
    _flip(piece, at=len(piece.read_bytes()) // 2)
    with (root / "out" / "tiny.mp4").open("ab") as f:
        f.write(b"edited by hand")
    result = runner.invoke(app, ["cache", "verify", str(root)])
    assert result.exit_code == 1
    assert f"pieces/{piece.name}: its bytes no longer match its record's hash" in result.output
    assert "out/tiny.mp4 is not the cut shotlist rendered" in result.output


# --- leftovers are swept ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_what_killed_renders_left_is_removed_by_the_next_command_that_holds_the_store(tmp_path: Path) -> None:
    root = _built(tmp_path / "film")
    dead = _dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    alive = sleeper.pid
    leftovers = [
        root / "out" / f".tiny.mp4.{dead}.tmp.mp4",
        root / "out" / ".tiny.mp4.k3j4h5g6",  # an earlier shotlist's temporary folder
        root / ".shotlist" / "pieces" / ".segments-x8a1",
        root / ".shotlist" / "tmp" / f"{dead}-cut-abc",
        root / ".shotlist" / "pieces" / f".{'0' * 64}.{dead}.tmp.mp4",
    ]
    kept = [root / "out" / f".tiny.mp4.{alive}.tmp.mp4", root / ".shotlist" / "tmp" / "ab12.part"]
    for path in leftovers + kept:
        if path.suffix in (".mp4", ".part"):
            path.write_bytes(b"x" * 1000)
        else:
            path.mkdir()
            (path / "00001.mp4").write_bytes(b"x" * 1000)
    edit = (root / "storyboard.yaml").read_text().replace("duration: 0.25", "duration: 0.5")
    (root / "storyboard.yaml").write_text(edit)
    try:
        assert runner.invoke(app, ["render", str(root)]).exit_code == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    assert [p for p in leftovers if p.exists()] == []
    assert all(p.exists() for p in kept)  # a live process's file, a resumable download


@pytest.mark.slow
def test_cache_gc_removes_the_pieces_no_cut_uses_and_says_how_many_bytes(tmp_path: Path) -> None:
    root = _built(tmp_path / "film")
    listed = runner.invoke(app, ["cache", "ls", str(root)])
    assert "pieces, " in listed.output and "cut out/tiny.mp4:" in listed.output
    assert "used by no cut" not in listed.output
    edit = (root / "storyboard.yaml").read_text().replace("duration: 0.25", "duration: 0.5")
    (root / "storyboard.yaml").write_text(edit)
    assert runner.invoke(app, ["render", str(root)]).exit_code == 0  # a longer dissolve: other pieces
    store = Store(root)
    after = set(store.pieces.keys()) & store.used_by_cuts()
    unused = set(store.pieces.keys()) - after
    assert unused and "used by no cut" in runner.invoke(app, ["cache", "ls", str(root)]).output
    gc = runner.invoke(app, ["cache", "gc", str(root)])  # nothing paid for is removed: no question asked
    assert gc.exit_code == 0, gc.output
    assert re.search(r"\d+ pieces and sounds no current cut uses: \d+\.\d\d MB", gc.output)
    assert set(Store(root).pieces.keys()) == after
    again = runner.invoke(app, ["render", str(root)])
    assert "0 encoded" in again.output


# --- the API's own checks ----------------------------------------------------------------------------------------


def test_pinned_clips_raises_for_a_damaged_clip_naming_the_shot(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
    store = Store(root)
    sha = store.add_file(make_clip(tmp_path / "clip.mp4", "red", size="64x36", fps=8, seconds=1))
    entry = LockEntry(
        shot="kite", key="a" * 64, take=1, clip=sha, backend="animatic", model="animatic", job="j", cost=0.0
    )
    write_lock(root, Lock(entries={"kite": entry}), ["kite"])
    _flip(store.object_path(sha))
    with pytest.raises(DamagedClip, match=r"(?s)shot 'kite'.*moved to \.shotlist/corrupt/.*shotlist pull"):
        pinned_clips(load_project(root))
    assert not store.has_object(sha)


def test_frame_counts_counts_each_file(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", seconds=1, fps=8, size="64x36")
    b = make_clip(tmp_path / "b.mp4", seconds=2, fps=8, size="64x36")
    assert frame_counts([a, b]) == [8, 16]


def test_a_chained_shot_never_starts_from_a_frame_of_a_damaged_clip(tmp_path: Path) -> None:
    from shotlist.store import DamagedObject

    store = Store(tmp_path)
    sha = store.add_file(make_clip(tmp_path / "up.mp4", "red", size="64x36", fps=8, seconds=1))
    _flip(store.object_path(sha))
    with pytest.raises(DamagedObject, match=f"{sha[:12]} is damaged"):
        store.frame(sha, "last")
    assert not store.has_object(sha) and (tmp_path / ".shotlist" / "corrupt" / sha).is_file()
