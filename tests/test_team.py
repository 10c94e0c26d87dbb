"""Working as a team: a clone builds the same cut without paying again; lock merges with real git."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.pipeline import BuildOptions, build

pytestmark = pytest.mark.slow
runner = CliRunner()

STORYBOARD = """\
version: 1
title: Team test
output: {{resolution: 320x180, aspect: "16:9", fps: 12, file: out/cut.mp4}}
defaults: {{model: animatic, duration: 1}}
remote: {remote}
shots:
  - id: one
    framing: wide
    subject: "A red lantern"
    action: "sways gently in the wind"
    lighting: "warm dusk light"
    camera: static
    lint: [word-count]
  - id: two
    framing: close-up
    subject: "A paper boat"
    action: "drifts slowly down a stream"
    lighting: "soft morning light"
    camera: pan-left
    transition: {{type: dissolve, duration: 0.25}}
    lint: [word-count]
  - id: three
    mode: img2vid
    image: {{shot: two, frame: last}}
    motion: ["the boat drifts slowly away from the camera"]
    camera: static
    lint: [word-count]
"""


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0 or args[0] == "merge", out.stderr
    return out.stdout + out.stderr


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_project(tmp_path: Path, remote: str) -> Path:
    a = tmp_path / "a"
    a.mkdir()
    (tmp_path / "remote").mkdir()  # a folder remote must exist: shotlist never creates one
    (a / "storyboard.yaml").write_text(STORYBOARD.format(remote=remote))
    (a / ".gitignore").write_text(".shotlist/\nout/\n")
    git(a, "init", "-q", "-b", "main")
    return a


def generated(result: object) -> int:
    return sum(len(t) for t in result.made.values())  # type: ignore[attr-defined]


def test_a_teammates_clone_pulls_the_pinned_clips_and_builds_the_same_cut(tmp_path: Path) -> None:
    a = new_project(tmp_path, "../remote")
    first = build(a, BuildOptions(yes=True))
    assert first.ok and generated(first) == 3
    assert runner.invoke(app, ["push", str(a)]).exit_code == 0
    git(a, "add", "-A")
    git(a, "commit", "-qm", "built")

    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(a), str(b))
    assert not (b / ".shotlist").exists()
    second = build(b, BuildOptions(yes=True))
    assert second.ok and generated(second) == 0
    assert sha(b / "out" / "cut.mp4") == sha(a / "out" / "cut.mp4")
    assert (b / "shotlist.lock").read_text() == (a / "shotlist.lock").read_text()


def test_the_same_works_through_an_s3_remote(tmp_path: Path, s3: str) -> None:
    a = new_project(tmp_path, s3)
    assert generated(build(a, BuildOptions(yes=True))) == 3
    assert runner.invoke(app, ["push", str(a)]).exit_code == 0
    git(a, "add", "-A")
    git(a, "commit", "-qm", "built")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(a), str(b))
    second = build(b, BuildOptions(yes=True))
    assert second.ok and generated(second) == 0
    assert sha(b / "out" / "cut.mp4") == sha(a / "out" / "cut.mp4")
    status = runner.invoke(app, ["status", str(b), "--remote"])
    assert status.exit_code == 0 and "not pushed" not in status.output and "pinned take 1" in status.output


def test_a_pinned_clip_that_nobody_has_is_not_regenerated_silently(tmp_path: Path) -> None:
    a = new_project(tmp_path, "../remote")
    assert build(a, BuildOptions(yes=True)).ok
    git(a, "add", "-A")
    git(a, "commit", "-qm", "built")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(a), str(b))  # nothing was pushed
    plan = runner.invoke(app, ["plan", str(b)])
    assert "missing" in plan.output and "differ" in plan.output
    refused = build(b, BuildOptions(yes=True))
    assert generated(refused) == 0 and refused.missing
    paid = build(b, BuildOptions(yes=True, regenerate_missing=True))  # type: ignore[call-arg]
    assert generated(paid) == 3


def test_two_branches_changing_different_shots_merge_and_build_nothing_new(tmp_path: Path) -> None:
    a = new_project(tmp_path, "../remote")
    assert build(a, BuildOptions(yes=True)).ok
    git(a, "add", "-A")
    git(a, "commit", "-qm", "built")
    board = a / "storyboard.yaml"
    git(a, "checkout", "-q", "-b", "lantern")
    board.write_text(
        board.read_text().replace("sways gently in the wind", "sways slowly in the evening wind")
    )
    assert generated(build(a, BuildOptions(yes=True))) == 1
    git(a, "commit", "-qam", "lantern")
    git(a, "checkout", "-q", "main")
    git(a, "checkout", "-q", "-b", "boat")
    text = board.read_text().replace("drifts slowly down a stream", "drifts slowly down a wide stream")
    board.write_text(text)
    assert (
        generated(build(a, BuildOptions(yes=True))) == 2
    )  # the boat and the shot that starts from its last frame
    git(a, "commit", "-qam", "boat")
    out = git(a, "merge", "-q", "--no-edit", "lantern")
    assert "CONFLICT" not in out
    assert generated(build(a, BuildOptions(yes=True))) == 0


def test_the_same_shot_changed_on_both_branches_reports_the_conflict_with_its_fix(tmp_path: Path) -> None:
    a = new_project(tmp_path, "../remote")
    assert build(a, BuildOptions(yes=True)).ok
    git(a, "add", "-A")
    git(a, "commit", "-qm", "built")
    board = a / "storyboard.yaml"
    original = board.read_text()
    for branch, words in (("x", "sways slowly to the left"), ("y", "sways slowly to the right")):
        git(a, "checkout", "-q", "main")
        git(a, "checkout", "-q", "-b", branch)
        board.write_text(original.replace("sways gently in the wind", words))
        assert build(a, BuildOptions(yes=True)).ok
        git(a, "commit", "-qam", branch)
    git(a, "checkout", "-q", "x")
    assert "CONFLICT" in git(a, "merge", "--no-edit", "y")
    git(
        a, "checkout", "--theirs", "storyboard.yaml"
    )  # the storyboard conflict is resolved; the lock's is not
    result = subprocess.run(
        [sys.executable, "-m", "shotlist", "plan", str(a)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "shotlist.lock:" in result.stderr and "shotlist pick one" in result.stderr
