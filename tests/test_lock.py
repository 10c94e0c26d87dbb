"""shotlist.lock: stable text that git merges shot by shot, and errors that name the line and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.errors import LockError
from shotlist.lock import LockEntry, format_lock, parse_lock, read_lock
from shotlist.pipeline import BuildOptions, BuildResult, build
from tests.tiny_project import Built, TinyProjects, actions, edit, git, lock_text, plan, run


def entry(shot: str, n: int = 1) -> LockEntry:
    return LockEntry(
        shot=shot,
        key=f"{n:x}" * 64,
        take=n,
        clip="c" * 64,
        backend="fake",
        model="animatic",
        job=f"job-{n}",
        cost=0.1 * n,
        cost_is_estimate=n == 2,
    )


def test_the_lock_reads_back_what_it_wrote() -> None:
    entries = [
        entry("a", 1),
        entry("b", 2),
        LockEntry("c", "d" * 64, 3, "e" * 64, "animatic", "animatic", "", None),
    ]
    lock = parse_lock(format_lock(entries))
    assert list(lock.entries.values()) == entries
    assert "cost = 0.2 (estimate)" in format_lock(entries) and "cost = unknown" in format_lock(entries)


def merge_two_branches(
    root: Path, build_it: Callable[[], BuildResult], theirs: tuple[str, str], ours: tuple[str, str]
) -> subprocess.CompletedProcess[str]:
    """Commit the built project on main; on a branch ``theirs`` and then on main, replace a storyboard
    text (old, new), build and commit; merge ``theirs`` into main."""
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "storyboard.yaml", "shotlist.lock", "assets")
    git(root, "commit", "-q", "-m", "first cut")
    for checkout, (old, new) in ((["-b", "theirs"], theirs), (["main"], ours)):
        git(root, "checkout", "-q", *checkout)
        edit(root, old, new)
        assert build_it().ok
        git(root, "commit", "-q", "-am", new)
    return git(root, "merge", "-q", "--no-edit", "theirs", check=False)


@pytest.mark.slow
def test_two_branches_changing_different_shots_merge_without_conflict_and_build_nothing(
    built_project: Built,
) -> None:
    root, models = built_project
    # door and end are neighbours in the lock: the hardest case for a line-based merge
    merged = merge_two_branches(
        root, lambda: run(root, models), ("A blue door", "A red door"), ("An empty bench", "A wet bench")
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "<<<<<<<" not in lock_text(root)
    lock = read_lock(root)
    assert set(lock.entries) == {"kite", "street", "walk", "door", "end"}
    assert set(actions(plan(root, models)).values()) == {"pinned"}  # the merged project generates nothing


@pytest.mark.slow
def test_a_merge_conflict_is_reported_with_its_line_and_pick_resolves_it(tiny_project: TinyProjects) -> None:
    root = tiny_project(repo=True)
    runner = CliRunner()

    def animatic() -> BuildResult:  # the real offline backend: the command line plans with it below
        return build(root, BuildOptions(yes=True, render=False))

    assert animatic().ok
    merged = merge_two_branches(
        root, animatic, ("A blue door", "A red door"), ("A blue door", "A green door")
    )
    assert merged.returncode != 0
    edit(root, "<<<<<<< HEAD\n", "")  # the user settles the storyboard…
    text = (root / "storyboard.yaml").read_text()
    start, end = text.index("=======\n"), text.index(">>>>>>> theirs\n") + len(">>>>>>> theirs\n")
    (root / "storyboard.yaml").write_text(text[:start] + text[end:])
    line = next(n for n, ln in enumerate(lock_text(root).splitlines(), 1) if ln.startswith("<<<<<<<"))
    with pytest.raises(LockError) as err:  # …but the lock still holds the markers
        read_lock(root)
    assert str(err.value).startswith(
        f"shotlist.lock:{line}: git merge conflict markers; both branches changed 'door'"
    )
    assert "shotlist pick door TAKE" in str(err.value)
    out = subprocess.run(
        [sys.executable, "-m", "shotlist", "plan", str(root)], capture_output=True, text=True
    )
    assert out.returncode == 1 and out.stderr.startswith(f"shotlist.lock:{line}:"), out.stderr  # no traceback
    takes = runner.invoke(app, ["takes", "door", str(root)])
    assert "take 1" in takes.output, takes.output
    picked = runner.invoke(app, ["pick", "door", "1", str(root)])
    assert picked.exit_code == 0, picked.output
    assert set(read_lock(root).entries) == {"kite", "street", "walk", "door", "end"}
    assert runner.invoke(app, ["plan", str(root), "--detailed-exitcode"]).exit_code == 0


def test_a_hand_edit_that_does_not_parse_names_the_line_and_the_fix(tmp_path: Path) -> None:
    text = format_lock([entry("a"), entry("b")]).replace("take = 1", "take = first", 1)
    (tmp_path / "shotlist.lock").write_text(text)
    with pytest.raises(LockError) as err:
        read_lock(tmp_path)
    line = text.splitlines().index("take = first") + 1
    assert str(err.value).startswith(f"shotlist.lock:{line}: shot 'a': take must be a whole number")
    assert "`shotlist pick a TAKE`" in str(err.value)
    lenient = read_lock(tmp_path, lenient=True)
    assert list(lenient.entries) == ["b"] and lenient.dropped == ["a"]


def test_the_lock_holds_no_absolute_path(built_project: Built) -> None:
    root, _ = built_project
    assert str(root.parent) not in lock_text(root) and "/" not in lock_text(root).split("version = 1")[1]


def conflicted(ours: list[LockEntry], theirs: list[LockEntry], start: int, end: int) -> str:
    """A lock as git leaves it when both sides' lines ``start:end`` differ (the hunk may cross blocks)."""
    a, b = format_lock(ours).splitlines(), format_lock(theirs).splitlines()
    assert a[:start] == b[:start] and a[end:] == b[end:]
    return (
        "\n".join(
            a[:start]
            + ["<<<<<<< HEAD"]
            + a[start:end]
            + ["======="]
            + b[start:end]
            + [">>>>>>> other"]
            + a[end:]
        )
        + "\n"
    )


def test_a_conflict_hunk_that_crosses_into_the_next_block_names_only_the_shot_both_sides_changed() -> None:
    coffee, kelp = entry("coffee", 1), entry("kelp", 2)
    theirs = LockEntry("coffee", coffee.key, 3, "d" * 64, "fake", "animatic", "job-3", 0.3)
    ours_text = format_lock([coffee, kelp]).splitlines()
    start = ours_text.index("take = 1")
    end = ours_text.index("[kelp]") + 2  # git's hunk runs past kelp's header and key, which both sides share
    text = conflicted([coffee, kelp], [theirs, kelp], start, end)
    lock = parse_lock(text, lenient=True)
    assert lock.conflicted == ["coffee"] and lock.entries == {"kelp": kelp}
    assert [(label, e.take) for label, e in lock.sides["coffee"]] == [("HEAD", 1), ("other", 3)]
    with pytest.raises(LockError) as err:
        parse_lock(text)
    assert "both branches changed 'coffee'." in str(err.value) and "kelp" not in str(err.value)
    assert "`shotlist lock resolve`" in str(err.value)


def test_a_block_only_one_side_of_a_conflict_has_is_kept() -> None:
    a, b, c = entry("a", 1), entry("b", 2), entry("c", 3)
    text = "\n".join(
        format_lock([a]).splitlines() + ["<<<<<<< HEAD", *b.lines(), "=======", *c.lines(), ">>>>>>> other"]
    )
    lock = parse_lock(text, lenient=True)
    assert lock.conflicted == [] and list(lock.entries) == ["a", "b", "c"] and lock.markers


def test_a_lock_that_is_a_folder_or_binary_names_itself_and_the_fix(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    (root / "shotlist.lock").mkdir()
    with pytest.raises(
        LockError, match=r"^shotlist.lock is a folder, not the lock file.\n  fix: move it away; then restore"
    ):
        read_lock(root)
    (root / "shotlist.lock").rmdir()
    (root / "shotlist.lock").write_bytes(format_lock([entry("kite")]).encode() + b"\x89PNG\r\n\x00\x01")
    out = subprocess.run(
        [sys.executable, "-m", "shotlist", "plan", str(root)], capture_output=True, text=True
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    line = format_lock([entry("kite")]).count("\n") + 1
    assert out.stderr.startswith(f"shotlist.lock:{line}: not a text file (byte 0x89)"), out.stderr
    assert "git checkout shotlist.lock" in out.stderr


@pytest.mark.parametrize("command", ["status", "plan", "build", "takes kite", "pick kite 1", "lock resolve"])
def test_a_lock_that_is_a_named_pipe_is_refused_without_waiting_on_it(
    tiny_project: TinyProjects, command: str
) -> None:
    from tests.shotlist_cli import run_shotlist

    root = tiny_project()
    os.mkfifo(root / "shotlist.lock")  # opening it blocks until something writes to it
    words = command.split()
    at = 2 if words[0] == "lock" else len(words) if words[0] in ("takes", "pick") else 1
    code, out, err = run_shotlist(*words[:at], *words[at:], str(root), timeout=20)
    assert code == 1 and "Traceback" not in err, err
    assert err.startswith(
        "shotlist.lock is a named pipe (FIFO), not the lock file.\n  fix: move it away; then restore"
    ), err


def test_a_lock_saved_with_a_byte_order_mark_reads_as_written(built_project: Built) -> None:
    root, models = built_project
    lock = root / "shotlist.lock"
    pinned = read_lock(root).entries
    lock.write_bytes(
        b"\xef\xbb\xbf" + lock.read_bytes().replace(b"\n", b"\r\n")
    )  # as a Windows editor saves it
    assert read_lock(root).entries == pinned
    assert set(actions(plan(root, models)).values()) == {"pinned"}
