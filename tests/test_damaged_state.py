"""Damaged files under .shotlist/: a cache is dropped and rebuilt with a note; a record is kept aside and named.

Every kind of file a command reads is damaged (bytes flipped, truncated, a folder in its place) and
plan, status, build, render, cache verify and cache gc are run through the CLI: never a traceback, never a
hang, nothing pinned lost.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shotlist import salvage
from shotlist.journal import Journal, JournalEntry, JournalState
from shotlist.lock import read_lock
from shotlist.store import Store
from tests.shotlist_cli import run_shotlist
from tests.tiny_project import (
    fake,
    make_built_project,
    make_project,
    pins_are_kept,
    plan,
    run,
    run_on_damaged_state,
    submits,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_built_project(tmp_path_factory.mktemp("built") / "film")


def copy(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "film"
    shutil.copytree(built, root)
    return root


def state_file(root: Path, pattern: str) -> Path:
    found = sorted((root / ".shotlist").glob(pattern))
    assert found, pattern
    return found[0]


KINDS = {
    "index entry": "index/*/*.json",
    "journal entry": "journal/*.json",
    "input hashes": "hashes.json",
    "render record": "cuts/*.json",
    "frame reference": "frames/*",
    "animatic job spec": "work/animatic/*/spec.json",
    "pushed clips": "pushed.json",
    "holder note": "store.holder",
    "store lock": "store.lock",
    "clip object": "objects/*/*",
    "cut piece": "pieces/*.mp4",
}

DAMAGE = ("flipped", "truncated", "emptied", "not utf-8", "a folder")


def damage(path: Path, how: str) -> None:
    """Damage a file the way a bad disk, a bad copy or a stray tool does."""
    raw = path.read_bytes()
    if how == "a folder":
        path.unlink()
        path.mkdir()
        return
    path.write_bytes(
        {
            "flipped": bytes(b ^ 0xA5 for b in raw[:64]) + raw[64:],
            "truncated": raw[: max(1, len(raw) // 3)],
            "emptied": b"",
            "not utf-8": b"\xff\xfe\x00{" + raw[5:],
        }[how]
    )


@pytest.mark.slow
@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_command_survives_every_kind_of_damaged_state_file(
    built: Path, tmp_path: Path, kind: str, how: str
) -> None:
    root = copy(built, tmp_path)
    pinned = {shot: e.clip for shot, e in read_lock(root).entries.items()}
    damage(state_file(root, KINDS[kind]), how)
    ran = run_on_damaged_state(root)
    for command, code, output in ran:
        assert code in (0, 1), (command, code, output)
        if code == 1:  # only a clip or piece whose bytes changed may stop a command, and it says so
            assert kind in ("clip object", "cut piece"), (command, output)
    pins_are_kept(root, pinned)


def test_a_damaged_index_entry_is_kept_aside_named_and_its_pins_still_build(
    built: Path, tmp_path: Path
) -> None:
    root = copy(built, tmp_path)
    entry = state_file(root, "index/*/*.json")
    entry.write_bytes(entry.read_bytes()[:-40])  # cut off near its end
    code, out, err = run_shotlist("plan", str(root))
    assert code == 0
    kept = root / ".shotlist" / "damaged" / entry.relative_to(root / ".shotlist")
    assert kept.is_file() and not entry.exists()
    assert err.count("note: ") == 1
    assert (
        f"note: .shotlist/index/{entry.parent.name}/{entry.name}, a record of takes that were paid for, "
        in err
    )
    assert "was unreadable (it held: shot " in err
    assert "moved to .shotlist/damaged/index/" in err and "shotlist.lock's pins are unaffected" in err
    assert "5 pinned: nothing to generate" in out
    code, out, err = run_shotlist("build", str(root), "--yes")
    assert (code, err) == (0, "") and "5/5 shots pinned" in out


def test_a_damaged_journal_entry_of_a_paid_job_is_named_and_that_take_is_not_paid_for_twice(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "film")
    models = fake(root, can_recover=False)  # a provider that cannot look a submit up
    door = plan(root, models).shots[3]
    assert door.spec is not None
    journal = Journal(root / ".shotlist")
    journal.write(
        JournalEntry(
            door.spec.take_key(1),
            "door",
            door.spec.key,
            1,
            "kling",
            "kling-v2-1",
            JournalState.SUBMITTED,
            "j-77",
        )
    )
    path = journal.dir / f"{door.spec.take_key(1)}.json"
    path.write_bytes(path.read_bytes()[:-60])  # cut off in the middle: the job id can still be read
    notes: list[str] = []
    with salvage.notes_to(notes.append):
        result = run(root, models)
    assert notes == [
        "a paid job's record was unreadable; check kling for job j-77: it may have run and been billed. "
        f".shotlist/journal/{path.name} (shot door, take 1, model kling-v2-1) was moved to "
        ".shotlist/damaged/journal/; a build asks before submitting that take again "
        "(`shotlist build --regenerate SHOT` does)"
    ]
    held = {sp.shot: sp for sp in result.plan.held}
    assert held["door"].action == "unknown" and "--regenerate door" in held["door"].summary(), held
    assert "door" not in submits(models) and len(submits(models)) == 4
    assert (root / ".shotlist" / "damaged" / "journal" / path.name).is_file()
    forced = run(root, models, regenerate=["door"])
    assert forced.ok and submits(models).count("door") == 1


@pytest.mark.parametrize(
    ("pattern", "what"),
    [
        ("hashes.json", "the input-file hash cache"),
        ("cuts/*.json", "the record of the last render"),
        ("frames/*", "a frame reference"),
        ("work/animatic/*/spec.json", "a saved animatic job"),
    ],
)
def test_a_damaged_cache_is_discarded_with_a_one_line_note_and_rebuilt(
    built: Path, tmp_path: Path, pattern: str, what: str
) -> None:
    root = copy(built, tmp_path)
    target = state_file(root, pattern)
    target.write_bytes(b"\xff\xfe not what was written")
    notes: list[str] = []
    with salvage.notes_to(notes.append):
        if pattern == "frames/*":
            Store(root).frame(target.name.split(".")[0], "last")
        elif pattern.startswith("work/"):
            from shotlist.backends.animatic.backend import _load_spec

            assert _load_spec(target) is None
        else:
            assert run_shotlist("build", str(root), "--yes")[0] == 0
    shown = target.relative_to(root).as_posix()
    assert notes == [f"{shown} ({what}) was damaged: discarded; it is rebuilt as needed"]
    if pattern != "work/animatic/*/spec.json":
        assert (
            target.is_file() or pattern == "cuts/*.json"
        )  # rebuilt (the render record only when it renders)


def test_a_folder_where_the_store_lock_goes_is_moved_aside_and_the_build_goes_on(
    built: Path, tmp_path: Path
) -> None:
    root = copy(built, tmp_path)
    lock = root / ".shotlist" / "store.lock"
    lock.unlink()
    (lock / "inside").mkdir(parents=True)
    code, out, err = run_shotlist("build", str(root), "--yes")
    assert code == 0, err
    assert err == (
        "note: .shotlist/store.lock (the store's lock file) was not a file: "
        "moved to .shotlist/damaged/store.lock\n"
    )
    assert (root / ".shotlist" / "damaged" / "store.lock" / "inside").is_dir()


def test_cache_gc_keeps_the_clips_a_damaged_record_names(built: Path, tmp_path: Path) -> None:
    root = copy(built, tmp_path)
    store = Store(root)
    extra = store.tmp_path("extra.mp4")
    shutil.copyfile(next(store.objects())[1], extra)
    extra.write_bytes(extra.read_bytes() + b"another take")
    sha = store.add_file(extra)
    (store.dir / "damaged" / "index").mkdir(parents=True)
    (store.dir / "damaged" / "index" / "x.json").write_bytes(b'\xff{"takes": [{"sha256": "%s"' % sha.encode())
    code, out, err = run_shotlist("cache", "gc", str(root), "--yes")
    assert code == 0, err
    assert store.has_object(sha)


@pytest.mark.parametrize("key", ["e\x00" + "e" * 62, "../../etc/passwd", "E" * 64])
def test_a_journal_record_whose_keys_are_no_sha256_is_damage_not_a_path(
    built: Path, tmp_path: Path, key: str
) -> None:
    root = copy(built, tmp_path)
    journal = Journal(root / ".shotlist")
    take_key = "f" * 64
    journal.dir.mkdir(parents=True, exist_ok=True)
    record = {"take_key": take_key, "shot": "door", "key": key, "take": 2, "backend": "kling",
              "model": "kling-v2-1", "state": "submitted", "job": "job-9"}  # fmt: skip
    (journal.dir / f"{take_key}.json").write_text(json.dumps(record))
    code, out, err = run_shotlist("plan", str(root))
    assert code == 0 and "Traceback" not in out + err
    assert "a paid job's record was unreadable; check kling for job job-9" in err
    assert (root / ".shotlist" / "damaged" / "journal" / f"{take_key}.json").is_file()
    for args in (("build", str(root)), ("cache", "verify", str(root))):  # the placeholder reads cleanly
        code, out, err = run_shotlist(*args)
        assert "Traceback" not in out + err and "note: " not in err, (args, out, err)


@pytest.mark.parametrize("how", ["truncated", "a folder"])
@pytest.mark.parametrize("command", ["sheet", "export", "render"])
def test_a_damaged_pinned_clip_is_named_and_set_aside_by_every_command_that_reads_it(
    built: Path, tmp_path: Path, command: str, how: str
) -> None:
    root = copy(built, tmp_path)
    sha = read_lock(root).entries["door"].clip
    damage(root / ".shotlist" / "objects" / sha[:2] / sha, how)
    code, out, err = run_shotlist(command, str(root))
    assert code == 1 and "Traceback" not in err, err
    assert f"shot 'door': its clip {sha[:12]} in the store was damaged" in err, err
    assert "  fix: `shotlist pull` if a teammate pushed it; else `shotlist takes door`" in err, err
    assert (root / ".shotlist" / "corrupt" / sha).exists()


def test_a_compiled_template_with_flipped_bytes_is_discarded_and_compiled_again(
    built: Path, tmp_path: Path
) -> None:
    # marshal trusts its bytes: a flipped one ran as other code (a crash, an ImportError, a wrong error)
    root = copy(built, tmp_path)

    def prompts() -> tuple[int, str, str]:  # a fresh process each time: nothing kept in memory
        (root / ".shotlist" / "prompts.json").unlink(missing_ok=True)  # rendered prompts are kept too
        done = subprocess.run(
            [sys.executable, "-m", "shotlist", "prompts", str(root)], capture_output=True, text=True
        )
        return done.returncode, done.stdout, done.stderr

    code, expected, err = prompts()  # compiles into this code's cache folder
    assert code == 0, err
    every = sorted((root / ".shotlist" / "templates").glob("*/*.cache"))
    folder = max(every, key=lambda p: p.stat().st_mtime).parent  # this code's (one per version of it)
    compiled = [p for p in every if p.parent == folder]
    for path in compiled:
        raw = bytearray(path.read_bytes())
        for at in range(len(raw) // 2, len(raw) // 2 + 24, 3):
            raw[at] ^= 0x5A
        path.write_bytes(bytes(raw))
    code, out, err = prompts()
    assert (code, out) == (0, expected), err
    shown = [p.relative_to(root).as_posix() for p in compiled]
    assert err.splitlines() == [
        f"note: {name} (a compiled template) was damaged: discarded; it is rebuilt as needed"
        for name in shown
    ]
    assert prompts() == (0, expected, "")  # compiled again and kept


@pytest.mark.parametrize("kind", ["a file", "a symlink to nothing"])
@pytest.mark.parametrize("command", ["plan", "status", "build", "render", "cache ls"])
def test_a_store_that_is_no_folder_is_named_with_the_fix(tmp_path: Path, command: str, kind: str) -> None:
    root = make_project(tmp_path / "film")
    store = root / ".shotlist"
    if kind == "a file":
        store.write_text("not a folder\n")
    else:
        store.symlink_to(tmp_path / "gone")
    words = command.split()
    code, out, err = run_shotlist(*words, str(root))
    assert code == 1 and "Traceback" not in err, err
    assert err.splitlines()[:2] == [
        f"{store} is {kind}, not the project's store folder",
        f"  fix: move it away (mv {store} {store}.old); the next build makes the folder again",
    ], err
