"""`shotlist build` of one storyboard across Ark, Veo, MiniMax, Kling and the animatic, against the fakes.

The whole path a user takes: catalog → prompts → plan with estimates → submit, poll, download,
verify → lock with costs → build report. One shot is refused by the provider; the others finish.
A second build generates nothing. (A build killed while polling resumes its job: test_backend_fal_e2e.py.)
"""

from __future__ import annotations

import base64
import functools
import io
import json
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
from tests.fakes.providers import ARK, KLING, MINIMAX, VEO
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


def clip_for(body: dict[str, Any]) -> bytes:
    """A clip as long as the request asked for."""
    params = body.get("parameters") or {}
    return clip(float(body.get("duration") or params.get("durationSeconds") or 5))


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeArk, FakeVeo, FakeMiniMax, FakeKling]]:
    for cls in (ArkBackend, VeoBackend, MiniMaxBackend, KlingBackend):
        monkeypatch.setattr(cls, "poll_interval", 0.01)
    with (
        ARK.serving(monkeypatch, clip_for) as ark,
        VEO.serving(monkeypatch, clip_for) as veo,
        MINIMAX.serving(monkeypatch, clip_for) as mm,
        KLING.serving(monkeypatch, clip_for) as kling,
    ):
        for fake in (ark, veo, mm, kling):
            fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1  # a fifth of requests fail
        yield ark, veo, mm, kling


def film(tmp_path: Path, storyboard: str) -> Path:
    """A project folder holding only its storyboard."""
    (tmp_path / "film").mkdir()
    (tmp_path / "film" / "storyboard.yaml").write_text(storyboard)
    return tmp_path / "film"


def test_a_storyboard_across_four_providers_builds_with_costs_and_one_refusal(
    fakes: tuple[FakeArk, FakeVeo, FakeMiniMax, FakeKling], tmp_path: Path
) -> None:
    ark, veo, mm, kling = fakes
    root = film(tmp_path, STORYBOARD)

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
    root = film(tmp_path, STORYBOARD.replace("REFUSE_OUTPUT ", ""))
    shotlist.build(root, BuildOptions(yes=True, render=False))
    assert ark.submits()[-1].json().get("camera_fixed") is True  # mask: camera static
    assert kling.submits()[-1].json()["camera_control"]["config"]["zoom"] == -3.0  # turn: slow dolly-in
