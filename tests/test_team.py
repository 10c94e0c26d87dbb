"""Working as a team: a clone builds the same cut without paying again; lock merges with real git."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.pipeline import BuildOptions, BuildResult, build
from tests.tiny_project import TinyProjects, edit, git

pytestmark = pytest.mark.slow
runner = CliRunner()

STORYBOARD = """\
version: 1
title: Team test
output: {{resolution: 64x36, aspect: "16:9", fps: 8, file: out/cut.mp4}}
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


def git_says(cwd: Path, *args: str) -> str:
    """git's output, stdout and stderr; a failed merge or a refused push is an answer here, not an error."""
    out = git(cwd, *args, check=args[0] not in ("merge", "push"))
    return out.stdout + out.stderr


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generated(result: BuildResult) -> int:
    return sum(len(t) for t in result.made.values())


def built_and_committed(tiny_project: TinyProjects, remote: str) -> Path:
    """Project ``a``, sharing clips through ``remote``, built with the animatic and committed."""
    a = tiny_project(STORYBOARD.format(remote=remote), name="a", repo=True)
    if "://" not in remote:
        (a / remote).mkdir(exist_ok=True)  # a folder remote must exist: shotlist never creates one
    assert generated(build(a, BuildOptions(yes=True))) == 3
    git(a, "add", "-A")
    git(a, "commit", "-qm", "built")
    return a


def new_project(tmp_path: Path, remote: str) -> Path:
    """Project ``a`` in a git repository, not built yet; a folder remote ``../remote`` is created."""
    (tmp_path / "remote").mkdir(exist_ok=True)  # a folder remote must exist: shotlist never creates one
    return TinyProjects(tmp_path)(STORYBOARD.format(remote=remote), name="a", repo=True)


def clone(a: Path) -> Path:
    b = a.parent / "b"
    git(a.parent, "clone", "-q", str(a), str(b))
    return b


def test_a_teammates_clone_pulls_the_pinned_clips_and_builds_the_same_cut(tiny_project: TinyProjects) -> None:
    a = built_and_committed(tiny_project, "../remote")
    assert runner.invoke(app, ["push", str(a)]).exit_code == 0
    b = clone(a)
    assert not (b / ".shotlist").exists()
    second = build(b, BuildOptions(yes=True))
    assert second.ok and generated(second) == 0
    assert sha(b / "out" / "cut.mp4") == sha(a / "out" / "cut.mp4")
    assert (b / "shotlist.lock").read_text() == (a / "shotlist.lock").read_text()


def test_the_same_works_through_an_s3_remote(tiny_project: TinyProjects, s3: str) -> None:
    a = built_and_committed(tiny_project, s3)
    assert runner.invoke(app, ["push", str(a)]).exit_code == 0
    b = clone(a)
    second = build(b, BuildOptions(yes=True))
    assert second.ok and generated(second) == 0
    assert sha(b / "out" / "cut.mp4") == sha(a / "out" / "cut.mp4")
    status = runner.invoke(app, ["status", str(b), "--remote"])
    assert status.exit_code == 0 and "not pushed" not in status.output and "pinned take 1" in status.output


def test_a_pinned_clip_that_nobody_has_is_not_regenerated_silently(tiny_project: TinyProjects) -> None:
    b = clone(built_and_committed(tiny_project, "../remote"))  # nothing was pushed
    plan = runner.invoke(app, ["plan", str(b)])
    assert "missing" in plan.output and "differ" in plan.output
    assert "nor in the remote store" in plan.output  # the remote was asked
    refused = build(b, BuildOptions(yes=True))
    assert generated(refused) == 0 and refused.missing
    paid = build(b, BuildOptions(yes=True, regenerate_missing=True))
    assert generated(paid) == 3


def test_two_branches_changing_different_shots_merge_and_build_nothing_new(
    tiny_project: TinyProjects,
) -> None:
    a = built_and_committed(tiny_project, "../remote")
    git(a, "checkout", "-q", "-b", "lantern")
    edit(a, "sways gently in the wind", "sways slowly in the evening wind")
    assert generated(build(a, BuildOptions(yes=True))) == 1
    git(a, "commit", "-qam", "lantern")
    git(a, "checkout", "-q", "main")
    git(a, "checkout", "-q", "-b", "boat")
    edit(a, "drifts slowly down a stream", "drifts slowly down a wide stream")
    assert (
        generated(build(a, BuildOptions(yes=True))) == 2
    )  # the boat and the shot that starts from its last frame
    git(a, "commit", "-qam", "boat")
    merged = git(a, "merge", "-q", "--no-edit", "lantern")
    assert "CONFLICT" not in merged.stdout
    assert generated(build(a, BuildOptions(yes=True))) == 0


def test_the_same_shot_changed_on_both_branches_reports_the_conflict_with_its_fix(
    tiny_project: TinyProjects,
) -> None:
    a = built_and_committed(tiny_project, "../remote")
    for branch, words in (("x", "sways slowly to the left"), ("y", "sways slowly to the right")):
        git(a, "checkout", "-q", "main")
        git(a, "checkout", "-q", "-b", branch)
        edit(a, "sways gently in the wind", words)
        assert build(a, BuildOptions(yes=True)).ok
        git(a, "commit", "-qam", branch)
    git(a, "checkout", "-q", "x")
    assert "CONFLICT" in git(a, "merge", "--no-edit", "y", check=False).stdout
    git(
        a, "checkout", "--theirs", "storyboard.yaml"
    )  # the storyboard conflict is resolved; the lock's is not
    result = subprocess.run(
        [sys.executable, "-m", "shotlist", "plan", str(a)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "shotlist.lock:" in result.stderr and "shotlist pick one" in result.stderr


def built_and_pushed(tmp_path: Path, remote: str) -> tuple[Path, Path]:
    """Alice's project, built, pushed and committed, and Bob's fresh clone of it."""
    a = new_project(tmp_path, remote)
    assert generated(build(a, BuildOptions(yes=True))) == 3
    pushed = runner.invoke(app, ["push", str(a)])
    assert pushed.exit_code == 0, pushed.output
    git(a, "add", "-A")
    git(a, "commit", "-qm", "built")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(a), str(b))
    return a, b


def shotlist(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process: what a user sees, tracebacks included."""
    return subprocess.run(
        [sys.executable, "-m", "shotlist", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def test_a_fresh_clone_is_told_the_facts_by_plan_push_status_and_build(tmp_path: Path, s3: str) -> None:
    a, b = built_and_pushed(tmp_path, s3)
    plan = runner.invoke(app, ["plan", str(b)])
    assert f"it is in the remote store {s3}: a build pulls it" in plan.output, plan.output
    assert "nor in the remote store" not in plan.output
    push = runner.invoke(app, ["push", str(b)])
    assert push.exit_code == 0 and "pushed 0 clips (0 kB); 3 already there" in push.output, push.output
    assert "missing" not in push.output
    status = runner.invoke(app, ["status", str(b), "--remote", "--exit-code"])
    assert status.exit_code == 0, status.output
    assert status.output.count("missing locally (`shotlist pull`)") == 3 and "not pushed" not in status.output
    assert generated(build(b, BuildOptions(yes=True))) == 0
    status = runner.invoke(app, ["status", str(b), "--exit-code"])  # without asking: the pull was remembered
    assert status.exit_code == 0 and "not pushed" not in status.output and "missing" not in status.output


def test_status_exit_code_works_as_a_pre_push_hook(tmp_path: Path, s3: str) -> None:
    a, _ = built_and_pushed(tmp_path, s3)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(a, "remote", "add", "origin", str(origin))
    hook = a / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m shotlist status --remote --exit-code\n")
    hook.chmod(0o755)
    assert "main -> main" in git_says(a, "push", "origin", "main")  # everything pinned is on the remote
    board = a / "storyboard.yaml"
    board.write_text(board.read_text().replace("sways gently in the wind", "sways slowly in the wind"))
    assert generated(build(a, BuildOptions(yes=True))) == 1
    git(a, "commit", "-qam", "slower lantern")
    refused = git_says(a, "push", "origin", "main")
    assert (
        "one" in refused and "not pushed (`shotlist push`)" in refused and "1 shot needs attention" in refused
    )
    assert "main -> main" not in refused
    assert runner.invoke(app, ["push", str(a)]).exit_code == 0
    assert "main -> main" in git_says(a, "push", "origin", "main")


def test_pull_names_a_corrupt_remote_copy_before_any_pay_hint_and_push_repairs_it(
    tmp_path: Path, s3: str
) -> None:
    from shotlist.remote import Remote

    a, b = built_and_pushed(tmp_path, s3)
    lock = (a / "shotlist.lock").read_text()
    clip = lock.split("[one]")[1].split("clip = ")[1].split()[0]
    remote = Remote(s3)
    path = f"clips/team-project/objects/{clip[:2]}/{clip}"
    remote.fs.pipe(path, b"\0" * remote.fs.size(path))  # same size, wrong bytes
    pulled = shotlist("pull", str(b))
    assert pulled.returncode == 1 and "Traceback" not in pulled.stderr
    corrupt = pulled.stderr.index(f"one: the remote copy of clip {clip[:12]} is corrupt")
    assert "Whoever has the clip can repair it with `shotlist push`" in pulled.stderr
    assert corrupt < pulled.stderr.index("regenerat")
    refused = build(b, BuildOptions(yes=True))
    assert refused.missing and generated(refused) == 0
    one = next(s for s in refused.plan.shots if s.shot == "one")
    assert "the remote store's copy is corrupt" in one.summary()
    repaired = runner.invoke(app, ["push", str(a)])
    assert repaired.exit_code == 0 and "1 corrupt remote copy replaced" in repaired.output, repaired.output
    assert shotlist("pull", str(b)).returncode == 0
    assert generated(build(b, BuildOptions(yes=True))) == 0
    assert sha(b / "out" / "cut.mp4") == sha(a / "out" / "cut.mp4")


def test_with_the_endpoint_down_every_command_says_one_line(tmp_path: Path, s3: str) -> None:
    from shotlist.errors import ShotlistError

    a, b = built_and_pushed(tmp_path, s3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = {"SHOTLIST_S3_ENDPOINT_URL": f"http://127.0.0.1:{s.getsockname()[1]}"}
    push = shotlist("push", str(a), env=dead)
    assert push.returncode == 1 and "Traceback" not in push.stderr
    assert push.stderr.startswith(f"cannot reach the remote store {s3} (listing takes/)"), push.stderr
    assert len(push.stderr.strip().splitlines()) == 1
    os.environ.update(dead)  # the s3 fixture restores it
    for args in (
        ["pull", str(b)],
        ["status", str(b), "--remote"],
        ["lock", "resolve", str(b)],
        ["remote", "gc", str(b)],
    ):
        out = runner.invoke(app, args)
        assert isinstance(out.exception, ShotlistError) and "cannot reach the remote store" in str(
            out.exception
        ), args
    built = runner.invoke(app, ["build", str(b)])  # build says why no cut was written, last
    assert built.exit_code == 1 and "cannot reach the remote store" in built.output
    assert built.output.strip().splitlines()[-1].startswith("no cut written: cannot reach the remote store")
    for args in (["plan", str(b)], ["takes", "one", str(a)]):  # they work without the remote, and say so
        out = runner.invoke(app, args)
        assert out.exit_code == 0 and "cannot reach the remote store" in out.output, args


def test_a_frozen_remote_times_out_saying_what_it_waits_for(tmp_path: Path, s3: str) -> None:
    _, b = built_and_pushed(tmp_path, s3)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)  # accepts connections, never answers
        env = {
            "SHOTLIST_S3_ENDPOINT_URL": f"http://127.0.0.1:{server.getsockname()[1]}",
            "SHOTLIST_REMOTE_TIMEOUT": "1",
        }
        pulled = shotlist("pull", str(b), env=env, timeout=60)
    assert pulled.returncode == 1 and "Traceback" not in pulled.stderr
    assert f"waiting for the remote store {s3} (listing takes/): no answer for 0.5 s" in pulled.stderr
    assert f"the remote store {s3} did not answer within 1 s (listing takes/)" in pulled.stderr


def fake_take(root: Path, key: str, shot: str, number: int, data: bytes) -> str:
    """A take as a paid model makes it: a clip no other clone has, recorded under the recipe ``key``."""
    from shotlist.media import ClipFacts
    from shotlist.store import Store, Take

    store = Store(root)
    src = store.tmp_path(f"take-{number}")
    src.write_bytes(data)
    clip = store.add_file(src)
    take = Take(
        number,
        clip,
        shot,
        "fal",
        "some-model",
        f"job-{clip[:6]}",
        0.5,
        False,
        "2026-11-23T10:00:00Z",
        ClipFacts(duration=1.0),
    )
    store.add_take(key, {"prompt": "x"}, take)
    return clip


def test_takes_of_two_clones_have_ids_that_never_collide_and_pick_pulls_the_chosen_one(
    tmp_path: Path, s3: str
) -> None:
    from shotlist.lock import read_lock
    from shotlist.store import Store

    a, b = built_and_pushed(tmp_path, s3)
    key = read_lock(a).entries["one"].key
    alices = fake_take(a, key, "one", 2, b"alice's second take")
    bobs = fake_take(b, key, "one", 2, b"bob's second take")
    for clone in (a, b):
        assert runner.invoke(app, ["push", str(clone), "--all-takes"]).exit_code == 0
    listed = runner.invoke(app, ["takes", "one", str(a)])
    assert listed.exit_code == 0, listed.output
    mine = next(line for line in listed.output.splitlines() if alices[:8] in line)
    theirs = next(line for line in listed.output.splitlines() if bobs[:8] in line)
    assert "take 2" in mine and "remote" not in mine
    assert "take 2" in theirs and "in the remote store (pick pulls it)" in theirs
    ambiguous = runner.invoke(app, ["pick", "one", "2", str(a)])
    assert (
        ambiguous.exit_code == 1
        and alices[:8] in str(ambiguous.exception)
        and bobs[:8] in str(ambiguous.exception)
    )
    picked = runner.invoke(app, ["pick", "one", bobs[:8], str(a)])
    assert picked.exit_code == 0, picked.output
    assert f"one: pinned take 2 ({bobs[:8]}), pulled from the remote store" in picked.output
    assert read_lock(a).entries["one"].clip == bobs
    assert {t.sha256 for t in Store(a).takes(key)} >= {alices, bobs}
    c = tmp_path / "c"
    git(tmp_path, "clone", "-q", str(a), str(c))
    assert runner.invoke(app, ["pull", str(c), "--all-takes"]).exit_code == 0
    assert {alices, bobs} <= {t.sha256 for t in Store(c).takes(key)}


def test_cache_gc_says_which_doomed_takes_the_remote_keeps(tmp_path: Path, s3: str) -> None:
    a, _ = built_and_pushed(tmp_path, s3)
    from shotlist.lock import read_lock

    key = read_lock(a).entries["one"].key
    fake_take(a, key, "one", 2, b"pushed for review")
    assert runner.invoke(app, ["push", str(a), "--all-takes"]).exit_code == 0
    fake_take(a, key, "one", 3, b"never pushed")
    gc = runner.invoke(app, ["cache", "gc", str(a), "--yes"])
    assert gc.exit_code == 0, gc.output
    assert (
        "1 of them are in the remote store (`shotlist pull --all-takes` fetches them again), the other 1 cannot be fetched again"
        in gc.output
    )


def test_remote_gc_removes_upload_parts_older_than_a_day(tmp_path: Path) -> None:
    a = new_project(tmp_path, "../remote")
    parts = tmp_path / "remote" / "tmp"
    parts.mkdir()
    old, young = parts / "aaaaaaaaaaaa-1.part", parts / "bbbbbbbbbbbb-2.part"
    old.write_bytes(b"x" * 5000)
    young.write_bytes(b"y")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    out = runner.invoke(app, ["remote", "gc", str(a)])
    assert (
        out.exit_code == 0
        and "removed 1 upload part (5 kB)" in out.output
        and "kept 1 younger than 24 h" in out.output
    )
    assert list(parts.iterdir()) == [young]


def test_remote_gc_on_s3(tmp_path: Path, s3: str) -> None:
    from shotlist.remote import Remote

    a = new_project(tmp_path, s3)
    Remote(s3).fs.pipe("clips/team-project/tmp/cccccccccccc-3.part", b"z" * 100)
    out = runner.invoke(app, ["remote", "gc", str(a), "--older-than", "0"])
    assert out.exit_code == 0 and "removed 1 upload part" in out.output, out.output
    assert Remote(s3).parts() == []
