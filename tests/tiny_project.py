"""Tiny projects for the build-engine tests: 64×36 pixels, 8 fps, one-second shots, real files.

The engine is exercised with ``shotlist.backends.fake.FakeModels`` (injected as ``build(models=...)``)
whenever a test counts submits or needs latency, failures or refusals, and with the real offline
``animatic`` backend when a test goes through the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from shotlist.backends.fake import FakeModels
from shotlist.journal import Journal, JournalEntry, JournalState
from shotlist.load import load_project
from shotlist.lock import read_lock
from shotlist.pipeline import BuildOptions, BuildResult, build
from shotlist.plan import Plan, make_plan
from shotlist.store import Store

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


def make_project(root: Path, storyboard: str = STORYBOARD) -> Path:
    """Write a tiny project into ``root`` and return it."""
    (root / "assets").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 36), (200, 40, 40)).save(root / "assets" / "street.png")
    Image.new("RGB", (64, 36), (40, 40, 200)).save(root / "assets" / "other.png")
    (root / "storyboard.yaml").write_text(storyboard)
    return root


def edit(root: Path, old: str, new: str) -> None:
    """Replace text in the storyboard (the test fails if the text is not there)."""
    path = root / "storyboard.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def fake(root: Path, **options: Any) -> FakeModels:
    """A fake model registry whose job folder lives beside the project (it outlives a killed build)."""
    return FakeModels(root.parent / f"{root.name}-fake", **options)


def run(root: Path, models: FakeModels, **options: Any) -> BuildResult:
    return build(root, BuildOptions(models=models, yes=True, render=False, **options))


def plan(root: Path, models: FakeModels, **options: Any) -> Plan:
    project = load_project(root)
    store = Store(project.root)
    return make_plan(project, store, read_lock(project.root), models, journal=Journal(store.dir), **options)


def actions(p: Plan) -> dict[str, str]:
    return {s.shot: s.action for s in p.shots}


def submits(models: FakeModels) -> list[str]:
    """The shot of every submit the fake backend ever received."""
    return [str(s["shot"]) for s in models.backend_instance.submits()]


def lock_text(root: Path) -> str:
    return (root / "shotlist.lock").read_text()


def report(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".shotlist" / "last-build.json").read_text())
    return data


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
    """The lock pins what it pinned, and every pinned clip is still in the store."""
    assert {shot: e.clip for shot, e in read_lock(root).entries.items()} == pinned
    for sha in pinned.values():
        assert Store(root).object_path(sha).exists(), f"pinned clip {sha[:12]} was deleted"
