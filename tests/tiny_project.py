"""Tiny projects for the tests: real folders with a storyboard, three small pictures and, if asked, git.

A test gets them through the ``tiny_project`` fixture (tests/conftest.py), which writes under the
test's own temporary folder. The default storyboard is five one-second shots at 64×36 pixels, 8 fps;
``edit_storyboard`` builds the 320×180, 24 fps storyboards the edit tests cut.

The engine is exercised with ``shotlist.backends.fake.FakeModels`` (``BuildOptions(models=...)``)
whenever a test counts submits or needs latency, failures or refusals, and with the real offline
``animatic`` backend when a test goes through the command line.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from shotlist.backends.fake import FakeModels
from shotlist.journal import Journal, JournalEntry, JournalState
from shotlist.load import load_project
from shotlist.lock import read_lock
from shotlist.media import ClipFacts
from shotlist.pipeline import BuildOptions, BuildResult, build
from shotlist.plan import Plan, make_plan
from shotlist.store import Store, Take

STORYBOARD = """\
version: 1
title: Tiny
output: {resolution: 64x36, fps: 8, file: out/tiny.mp4}
defaults: {model: animatic, duration: 1}
shots:
  - id: kite
    subject: "A red kite"
    action: "rises slowly over a green hill"
    camera: static
  - id: street
    mode: img2vid
    image: assets/street.png
    motion: "The street lamps flicker slowly"
  - id: walk
    mode: img2vid
    image: {shot: street, frame: last}
    motion: "The camera holds steady while rain falls"
  - id: door
    subject: "A blue door"
    action: "swings slowly open"
    transition: {type: dissolve, duration: 0.25}
  - id: end
    subject: "An empty bench"
    action: "sits under a slowly swaying tree"
"""

#: One one-second shot: the door of ``STORYBOARD`` on its own.
ONE_SHOT: dict[str, Any] = {
    "version": 1,
    "title": "Door",
    "output": {"resolution": "64x36", "fps": 8, "file": "out/door.mp4"},
    "defaults": {"model": "animatic", "duration": 1},  # or the fake backend, where a test builds with it
    "shots": [{"id": "door", "subject": "A blue door", "action": "swings slowly open"}],
}

#: The pictures every tiny project has under assets/ (64×36, one colour each).
PICTURES: dict[str, tuple[int, int, int]] = {
    "street.png": (200, 40, 40),
    "other.png": (40, 40, 200),
    "still.png": (40, 90, 160),
}

#: A shot that reads well in every dialect and lints clean: framing, light, qualified motion, something still.
KITSUNE_MASK: dict[str, Any] = {
    "id": "mask",
    "mode": "txt2vid",
    "framing": "close-up",
    "subject": "A carved kitsune mask",
    "action": "rests on moss-covered stone",
    "scene": "a misty forest at dawn",
    "lighting": "soft volumetric light rays through the trees",
    "still": ["the mask stays fixed in frame"],
}

#: A look for the character ``mika`` (lint and prompt tests check it is not re-described).
MIKA_LOOK = "a young woman with a short black bob and a yellow raincoat"

#: git without the user's configuration, with a fixed author: commits work on any machine.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


#: A built project and the fake models that built it (the ``built_project`` fixture).
Built = tuple[Path, FakeModels]


class TinyProjects:
    """Writes project folders into one test's temporary folder (what the ``tiny_project`` fixture gives)."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent

    def __call__(
        self,
        storyboard: str | Mapping[str, Any] = STORYBOARD,
        *,
        name: str = "film",
        files: Mapping[str, str] | None = None,
        repo: bool = False,
    ) -> Path:
        """The folder ``name`` with this storyboard (YAML text, or data written as YAML), the pictures,
        any extra text ``files`` (path → text) and, with ``repo``, a git repository that ignores .shotlist/ and out/.

        Calling it again for the same folder rewrites the storyboard and the files and keeps the rest.
        """
        root = self.parent / name
        (root / "assets").mkdir(parents=True, exist_ok=True)
        for picture, colour in PICTURES.items():
            if not (root / "assets" / picture).exists():
                Image.new("RGB", (64, 36), colour).save(root / "assets" / picture)
        text = (
            storyboard if isinstance(storyboard, str) else yaml.safe_dump(dict(storyboard), sort_keys=False)
        )
        (root / "storyboard.yaml").write_text(text, encoding="utf-8")
        for rel, content in (files or {}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(content, encoding="utf-8")
        if repo and not (root / ".git").exists():
            (root / ".gitignore").write_text(".shotlist/\nout/\n")
            git(root, "init", "-q", "-b", "main")
        return root


def edit_storyboard(shots: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    """A storyboard for the edit tests: txt2vid shots of 2 s (unless given), cut at 320×180, 24 fps."""
    return {
        "version": 1,
        "output": {"resolution": "320x180", "fps": 24, "file": "out/cut.mp4", "preset": "ultrafast"},
        "shots": [{"mode": "txt2vid", "subject": f"a {s['id']} card", "duration": 2, **s} for s in shots],
        **top,
    }


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git in ``root`` with ``GIT_IDENTITY``; fails the test on an error unless ``check=False``."""
    env = {
        **os.environ,
        **GIT_IDENTITY,
    }  # read now: a test's settings (a remote's endpoint) reach git's hooks
    out = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0 or not check, f"git {' '.join(args)}: {out.stdout}{out.stderr}"
    return out


def edit(root: Path, old: str, new: str) -> None:
    """Replace text in the storyboard (the test fails if the text is not there)."""
    path = root / "storyboard.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def fake_jobs(root: Path) -> Path:
    """Where ``fake(root)`` keeps its jobs: beside the project, so they outlive a killed build."""
    return root.parent / f"{root.name}-fake"


def fake(root: Path, **options: Any) -> FakeModels:
    """A fake model registry for ``root`` (its jobs in ``fake_jobs(root)``)."""
    return FakeModels(fake_jobs(root), **options)


def run(root: Path, models: FakeModels, **options: Any) -> BuildResult:
    """Build with the fake models: no questions asked, no cut rendered."""
    return build(root, BuildOptions(models=models, yes=True, render=False, **options))


def plan(root: Path, models: FakeModels, **options: Any) -> Plan:
    """The plan a build of ``root`` would follow, computed without building."""
    project = load_project(root)
    store = Store(project.root)
    return make_plan(project, store, read_lock(project.root), models, journal=Journal(store.dir), **options)


def actions(p: Plan) -> dict[str, str]:
    """Each shot's planned action (generate, pinned, cached, missing, skip)."""
    return {s.shot: s.action for s in p.shots}


def unpinned(p: Plan) -> dict[str, str]:
    """The planned action of each shot the plan does not leave as it is pinned."""
    return {shot: action for shot, action in actions(p).items() if action != "pinned"}


def submits(models: FakeModels) -> list[str]:
    """The shot of every submit the fake backend ever received."""
    return [str(s["shot"]) for s in models.backend_instance.submits()]


def take(n: int, sha256: str, shot: str = "a") -> Take:
    """The store's record of take ``n`` of ``shot``: a 1 s clip with these bytes from the fake backend."""
    return Take(
        take=n,
        sha256=sha256,
        shot=shot,
        backend="fake",
        model="fake",
        job=f"job-{n}",
        cost=0.1,
        cost_is_estimate=False,
        time=f"2026-01-0{n}T00:00:00Z",
        facts=ClipFacts(duration=1.0),
    )


def lock_text(root: Path) -> str:
    return (root / "shotlist.lock").read_text()


def report(root: Path) -> dict[str, Any]:
    """The last build's report (.shotlist/last-build.json)."""
    data: dict[str, Any] = json.loads((root / ".shotlist" / "last-build.json").read_text())
    return data


def make_project(root: Path, storyboard: str | Mapping[str, Any] = STORYBOARD) -> Path:
    """The tiny project written at ``root`` (for fixtures of a wider scope than one test's folder)."""
    return TinyProjects(root.parent)(storyboard, name=root.name)


def make_built_project(root: Path) -> Path:
    """The tiny project built through the CLI with the animatic, plus a paid job in its journal, a list of
    pushed clips and a holder note: one of every kind of file ``.shotlist/`` holds."""
    from tests.shotlist_cli import run_shotlist

    make_project(root)
    code, out, err = run_shotlist("build", str(root), "--yes")
    assert code == 0, out + err
    store = Store(root)
    Journal(store.dir).write(
        JournalEntry("f" * 64, "door", "e" * 64, 2, "kling", "kling-v2-1", JournalState.SUBMITTED, "job-77")
    )
    (store.dir / "pushed.json").write_text('{"s3://team/film": ["%s"]}\n' % ("a" * 64))
    (store.dir / "store.holder").write_text('{"pid": 1, "purpose": "build"}\n')
    return root


#: What every command that reads ``.shotlist/`` is run as, after its state was damaged.
STATE_COMMANDS = ("plan", "status", "build --yes", "render", "cache verify", "cache gc --yes")


def run_on_damaged_state(root: Path) -> list[tuple[str, int, str]]:
    """Run each of STATE_COMMANDS on the project: (command, exit status, output); fails on a traceback or a hang."""
    from tests.shotlist_cli import run_shotlist

    ran = []
    for command in STATE_COMMANDS:
        words = command.split()
        at = 2 if words[0] == "cache" else 1  # the project goes after the (sub)command's name
        code, out, err = run_shotlist(*words[:at], str(root), *words[at:], timeout=120)
        assert "Traceback" not in out + err, (command, out, err)
        ran.append((command, code, out + err))
    return ran


def pins_are_kept(root: Path, pinned: dict[str, str]) -> None:
    """The lock pins what it pinned, and every pinned clip is still in the store, or set aside in
    ``.shotlist/corrupt/`` when its bytes were damaged (never used, never deleted)."""
    assert {shot: e.clip for shot, e in read_lock(root).entries.items()} == pinned
    store = Store(root)
    for sha in pinned.values():
        kept = store.object_path(sha).exists() or (store.dir / "corrupt" / sha).exists()
        assert kept, f"pinned clip {sha[:12]} was deleted"
