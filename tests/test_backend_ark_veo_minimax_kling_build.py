"""`shotlist build` of one storyboard across Ark, Veo, MiniMax, Kling and the animatic, against the fakes.

The whole path a user takes: catalog → prompts → plan with estimates → submit, poll, download,
verify → lock with costs → build report. One shot is refused by the provider; the others finish.
A second build generates nothing.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import shotlist
from shotlist.backends.ark import ArkBackend
from shotlist.backends.kling import KlingBackend
from shotlist.backends.minimax import MiniMaxBackend
from shotlist.backends.veo import VeoBackend
from shotlist.catalog import catalog, estimate_cost
from shotlist.lock import read_lock
from shotlist.pipeline import BuildOptions
from tests.fakes.ark import FakeArk
from tests.fakes.kling import FakeKling
from tests.fakes.minimax import FakeMiniMax
from tests.fakes.veo import FakeVeo
from tests.media_factory import make_clip

pytestmark = pytest.mark.slow

STORYBOARD = """\
version: 1
title: Four providers
output: {resolution: 720p, aspect: "16:9", fps: 24, file: out/four.mp4}
defaults: {duration: 5, constraints: "No distortion."}
shots:
  - id: title
    model: animatic
    duration: 1
    subject: "A paper lantern"
    action: "hangs in the dark"
  - id: mask
    model: ark/seedance-1.0-lite
    framing: close-up
    subject: "A carved kitsune mask"
    action: "rests on moss-covered stone"
    lighting: "soft volumetric light"
    camera: static
  - id: turn
    model: kling/v1-std
    mode: img2vid
    image: {shot: mask, frame: last}
    motion: "The mask slowly tilts toward the light"
    camera: {move: dolly-in, speed: slow}
  - id: street
    model: minimax/hailuo-02
    duration: 6
    subject: "A rainy street at night"
    action: "glistens under neon signs"
    camera: pan-left
  - id: crowd
    model: veo/veo-3.0-fast
    duration: 4
    subject: "REFUSE_OUTPUT a crowd"
    action: "walks across a plaza"
"""


@functools.cache
def clip(seconds: float) -> bytes:
    """A real H.264 clip of the asked length in the asked shape (16:9), like a provider's."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return make_clip(Path(tmp) / "c.mp4", size="640x360", seconds=seconds, audio=False).read_bytes()


def seconds_of(body: dict[str, Any]) -> float:
    params = body.get("parameters") or {}
    return float(body.get("duration") or params.get("durationSeconds") or 5)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeArk, FakeVeo, FakeMiniMax, FakeKling]]:
    for cls in (ArkBackend, VeoBackend, MiniMaxBackend, KlingBackend):
        monkeypatch.setattr(cls, "poll_interval", 0.01)
    with FakeArk() as ark, FakeVeo() as veo, FakeMiniMax() as mm, FakeKling() as kling:
        for fake in (ark, veo, mm, kling):
            fake.video_for = lambda body: clip(seconds_of(body))
            fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1  # a fifth of requests fail
        for name, value in {
            "ARK_API_KEY": ark.key,
            "SHOTLIST_ARK_URL": ark.base,
            "GEMINI_API_KEY": veo.key,
            "SHOTLIST_VEO_URL": veo.url,
            "MINIMAX_API_KEY": mm.key,
            "SHOTLIST_MINIMAX_URL": mm.url,
            "KLING_ACCESS_KEY": kling.access_key,
            "KLING_SECRET_KEY": kling.secret_key,
            "SHOTLIST_KLING_URL": kling.base,
        }.items():
            monkeypatch.setenv(name, value)
        yield ark, veo, mm, kling


def test_a_storyboard_across_four_providers_builds_with_costs_and_one_refusal(
    fakes: tuple[FakeArk, FakeVeo, FakeMiniMax, FakeKling], tmp_path: Path
) -> None:
    ark, veo, mm, kling = fakes
    root = tmp_path / "film"
    root.mkdir()
    (root / "storyboard.yaml").write_text(STORYBOARD)

    plan = shotlist.build(root, BuildOptions(dry_run=True)).plan
    models = catalog()
    expected = {
        "mask": estimate_cost(models["ark/seedance-1.0-lite"], 5, "720p"),
        "turn": estimate_cost(models["kling/v1-std"], 5, "720p"),
        "street": estimate_cost(models["minimax/hailuo-02"], 6, "768P"),
        "crowd": estimate_cost(models["veo/veo-3.0-fast"], 4, "720p"),
    }
    assert {s.shot: s.cost for s in plan.shots if s.shot != "title"} == expected
    assert plan.cost == pytest.approx(sum(expected.values()))

    result = shotlist.build(root, BuildOptions(yes=True, render=False))
    assert set(result.failures) == {"crowd"} and "safety settings" in result.failures["crowd"]
    assert sorted(result.made) == ["mask", "street", "title", "turn"]
    submits = [len(f.submits()) > 0 for f in (ark, veo, mm, kling)]
    assert submits == [True] * 4
    assert (len(ark.tasks), len(veo.operations), len(mm.tasks), len(kling.tasks)) == (
        1,
        1,
        1,
        1,
    )  # none paid twice

    lock = read_lock(root).entries
    assert set(lock) == {"title", "mask", "turn", "street"}
    tokens = 1280 * 720 * 24 * 5 // 1024
    assert (
        lock["mask"].cost == pytest.approx(tokens / 1e6) and not lock["mask"].cost_is_estimate
    )  # from usage
    assert lock["street"].cost == pytest.approx(expected["street"]) and lock["street"].cost_is_estimate
    assert lock["mask"].job.startswith("ark/seedance-1.0-lite::cgt-")

    # the chained Kling shot started from the last frame of the Seedance clip
    body = kling.submits()[-1].json()
    assert Image.open(io.BytesIO(base64.b64decode(body["image"]))).size == (640, 360)

    report = json.loads((root / ".shotlist" / "last-build.json").read_text())
    by_shot = {s["shot"]: s for s in report["shots"]}
    assert by_shot["crowd"]["failure"] and by_shot["mask"]["spent"] == pytest.approx(tokens / 1e6)
    assert report["estimated_cost"] == pytest.approx(plan.cost)

    again = shotlist.build(
        root, BuildOptions(yes=True, render=False)
    )  # the refused shot is not retried on its own
    assert not again.made.get("mask") and len(ark.tasks) == 1 and len(kling.tasks) == 1


def test_the_shots_camera_move_reaches_kling_and_seedance(
    fakes: tuple[FakeArk, FakeVeo, FakeMiniMax, FakeKling], tmp_path: Path
) -> None:
    ark, _, _, kling = fakes
    root = tmp_path / "film"
    root.mkdir()
    (root / "storyboard.yaml").write_text(STORYBOARD.replace("REFUSE_OUTPUT ", ""))
    shotlist.build(root, BuildOptions(yes=True, render=False))
    assert ark.submits()[-1].json().get("camera_fixed") is True  # mask: camera static
    assert kling.submits()[-1].json()["camera_control"]["config"]["zoom"] == -3.0  # turn: slow dolly-in


def test_a_build_killed_while_polling_resumes_the_same_task_without_a_new_submit(
    fakes: tuple[FakeArk, FakeVeo, FakeMiniMax, FakeKling], tmp_path: Path
) -> None:
    ark = fakes[0]
    ark.faults.rate_429 = ark.faults.rate_5xx = 0.0
    ark.polls = 10**6  # a slow job: still running when the build is killed
    root = tmp_path / "film"
    root.mkdir()
    (root / "storyboard.yaml").write_text(STORYBOARD.split("  - id: turn")[0])  # title + the Seedance shot
    driver = (
        "import sys, shotlist; from shotlist.pipeline import BuildOptions; "
        "shotlist.build(sys.argv[1], BuildOptions(yes=True, render=False))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", driver, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not ark.calls("GET", r"/tasks/") and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert ark.calls("GET", r"/tasks/"), "the first build never polled"
    finally:
        proc.kill()  # kill -9 while polling
        proc.wait()
    [task_id] = ark.tasks
    ark.tasks[task_id].polls_left = 1  # the job finishes while nobody watches

    result = shotlist.build(root, BuildOptions(yes=True, render=False))
    assert result.ok and result.made["mask"]
    assert len(ark.submits()) == 1  # the rebuild found the journaled job and did not pay again
    assert all(r.path.endswith(task_id) for r in ark.calls("GET", r"/tasks/"))
    assert read_lock(root).entries["mask"].job == f"ark/seedance-1.0-lite::{task_id}::silent"
