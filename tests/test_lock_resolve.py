"""Settling a lock that a merge left conflicted or mixed: real git, two clones, an S3 remote (moto)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.lock import read_lock
from shotlist.pipeline import BuildOptions, build
from tests.test_team import built_and_pushed, generated, git_says, shotlist
from tests.tiny_project import git

pytestmark = pytest.mark.slow
runner = CliRunner()

BEFORE = "sways gently in the wind"


def change(root: Path, words: str) -> None:
    board = root / "storyboard.yaml"
    board.write_text(board.read_text().replace(BEFORE, words))


def diverge(tmp_path: Path, s3: str) -> tuple[Path, Path]:
    """Alice and Bob each change shot 'one', build and push; Alice merges Bob's branch: both files conflict."""
    a, b = built_and_pushed(tmp_path, s3)
    for clone, words in ((a, "sways slowly to the left"), (b, "sways slowly to the right")):
        change(clone, words)
        assert generated(build(clone, BuildOptions(yes=True))) == 1
        assert runner.invoke(app, ["push", str(clone)]).exit_code == 0
        git(clone, "commit", "-qam", words)
    git(a, "remote", "add", "bob", str(b))
    git(a, "fetch", "-q", "bob")
    assert "CONFLICT" in git_says(a, "merge", "--no-edit", "bob/main")
    return a, b


@pytest.mark.parametrize("side", ["ours", "theirs", "third"])
def test_lock_resolve_settles_a_conflict_to_ours_theirs_or_a_third_recipe(
    tmp_path: Path, s3: str, side: str
) -> None:
    a, b = diverge(tmp_path, s3)
    board = (a / "storyboard.yaml").read_text()
    marker = board.splitlines().index("<<<<<<< HEAD") + 1
    plan = shotlist("plan", str(a))
    assert plan.returncode == 2 and "Traceback" not in plan.stderr
    assert f"storyboard.yaml:{marker}:1: git merge conflict markers at line {marker}" in plan.stderr
    assert "`shotlist lock resolve`" in plan.stderr

    if side == "third":
        (a / "storyboard.yaml").write_text(
            (b / "storyboard.yaml").read_text().replace("to the right", "in circles")
        )
    else:
        git(a, "checkout", f"--{side}", "storyboard.yaml")
    status = runner.invoke(app, ["status", str(a), "--exit-code"])
    assert status.exit_code == 1
    rows = {line.split()[0]: line for line in status.output.splitlines() if line.startswith("  ")}
    assert "conflicted in shotlist.lock (`shotlist lock resolve`)" in rows["one"]
    assert "pinned take 1" in rows["two"] and "pinned take 1" in rows["three"]  # the untouched shots are not
    refused = shotlist("build", str(a))
    assert refused.returncode == 1 and "both branches changed 'one'." in refused.stderr
    assert "`shotlist lock resolve`" in refused.stderr

    resolved = runner.invoke(app, ["lock", "resolve", str(a)])
    assert resolved.exit_code == 0, resolved.output
    expected = {
        "ours": "one: pinned take 1 ({}), as on HEAD\n",
        "theirs": "one: pinned take 1 ({}), as on bob/main, pulled from the remote store\n",
        "third": "one: no take of its recipe in .shotlist/ or the remote store: the next build generates it",
    }[side]
    clip = read_lock(a).entries["one"].clip[:8] if side != "third" else ""
    assert expected.format(clip) in resolved.output
    assert "shotlist.lock rewritten; `git add shotlist.lock` marks its conflict resolved" in resolved.output
    assert "<<<<<<<" not in (a / "shotlist.lock").read_text()
    result = build(a, BuildOptions(yes=True))
    assert result.ok and generated(result) == (1 if side == "third" else 0)
    if side == "theirs":  # Bob's storyboard and Bob's take, pulled: Bob's lock
        assert (a / "shotlist.lock").read_text() == (b / "shotlist.lock").read_text()
    assert runner.invoke(app, ["plan", str(a), "--detailed-exitcode"]).exit_code == 0
    git(a, "commit", "-qam", "merged")


def test_pick_settles_a_conflict_with_a_teammates_take_from_the_remote(tmp_path: Path, s3: str) -> None:
    a, b = diverge(tmp_path, s3)
    git(a, "checkout", "--theirs", "storyboard.yaml")
    bobs = read_lock(b).entries["one"].clip
    listed = runner.invoke(app, ["takes", "one", str(a)])
    assert bobs[:8] in listed.output and "in the remote store (pick pulls it)" in listed.output
    picked = runner.invoke(app, ["pick", "one", "1", str(a)])
    assert picked.exit_code == 0, picked.output
    assert f"one: pinned take 1 ({bobs[:8]}), pulled from the remote store" in picked.output
    assert read_lock(a).entries["one"].clip == bobs
    assert generated(build(a, BuildOptions(yes=True))) == 0


def test_a_lock_mixing_one_branchs_key_with_the_others_clip_is_caught_by_every_command(
    tmp_path: Path, s3: str
) -> None:
    a, b = diverge(tmp_path, s3)
    git(a, "checkout", "--theirs", "storyboard.yaml")
    ours, theirs = git_says(a, "show", "HEAD:shotlist.lock"), git_says(a, "show", "bob/main:shotlist.lock")
    alices, bobs = (text.split("[one]")[1].split("clip = ")[1].split()[0] for text in (ours, theirs))
    (a / "shotlist.lock").write_text(theirs.replace(bobs, alices))  # Bob's key line, Alice's clip line
    for args in (["plan", str(a)], ["build", str(a)], ["render", str(a)], ["push", str(a)], ["pull", str(a)]):
        out = shotlist(*args)
        assert out.returncode == 1 and "Traceback" not in out.stderr, (args, out.stderr)
        assert f"shot 'one' pins clip {alices[:12]}, a take of recipe" in out.stderr, (args, out.stderr)
        assert "`shotlist lock resolve`" in out.stderr
    status = runner.invoke(app, ["status", str(a)])
    assert "its clip is a take of another recipe in shotlist.lock (`shotlist lock resolve`)" in status.output
    resolved = runner.invoke(app, ["lock", "resolve", str(a)])
    assert resolved.exit_code == 0, resolved.output
    assert (
        f"one: pinned take 1 ({bobs[:8]}), the newest take of its recipe, pulled from the remote store"
        in resolved.output
    )
    assert generated(build(a, BuildOptions(yes=True))) == 0
