"""End to end through ``shotlist.build``: one storyboard mixing fal, Replicate, Runway, Luma, ComfyUI and the
animatic, built against the fakes with a fifth of all requests failing (429 / 503)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from shotlist.backends.comfyui import ComfyUIBackend
from shotlist.backends.fal import FalBackend
from shotlist.backends.luma import LumaBackend
from shotlist.backends.replicate import ReplicateBackend
from shotlist.backends.runway import RunwayBackend
from shotlist.pipeline import BuildOptions, build
from tests.fakes.providers import COMFYUI, FAL, LUMA, REPLICATE, RUNWAY
from tests.media_factory import make_clip
from tests.test_backend_comfyui import PEER_IMG2VID

STORYBOARD = """\
version: 1
title: Five providers
output: {resolution: 720p, aspect: "16:9", fps: 24, file: out/cut.mp4}
defaults: {model: animatic, duration: 5}
shots:
  - id: dawn
    model: fal/veo3
    duration: 4
    subject: "A lighthouse on a cliff"
    action: "stands against the rising sun"
    camera: static
  - id: harbour
    model: replicate/seedance-1-pro
    mode: img2vid
    image: assets/harbour.png
    motion: "Boats rock slowly on the water"
  - id: storm
    model: runway/gen4.5
    subject: "Storm clouds"
    action: "roll slowly over the sea"
  - id: gull
    model: luma/ray-2
    subject: "A gull"
    action: "glides slowly over the waves"
  - id: gull-lands
    model: luma/ray-2
    mode: img2vid
    image: {shot: gull, frame: last}
    motion: "The gull lands slowly on a post"
  - id: keeper
    model: comfyui/img2vid
    mode: img2vid
    duration: 2
    image: assets/harbour.png
    motion: "The keeper's lamp flickers slowly"
  - id: title
    subject: "The end"
    action: "fades in slowly"
"""


def seconds_of(body: Any) -> float:
    if isinstance(body, dict) and "duration" in body:
        return float(str(body["duration"]).rstrip("s"))
    nodes = body.values()  # a ComfyUI graph: frames over fps
    frames = next(n["inputs"]["amount"] for n in nodes if n["class_type"] == "RepeatImageBatch")
    fps = next(n["inputs"]["fps"] for n in nodes if n["class_type"] == "CreateVideo")
    return float(frames) / float(fps)


@pytest.fixture
def clips(tmp_path: Path) -> Any:
    made: dict[float, bytes] = {}
    lock = threading.Lock()  # the fakes' server threads ask at the same time

    def video(body: Any) -> bytes:
        s = seconds_of(body)
        with lock:
            if s not in made:
                made[s] = make_clip(
                    tmp_path / "clips" / f"{s:g}.mp4", "blue", size="320x180", seconds=s, audio=False
                ).read_bytes()
            return made[s]

    return video


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, clips: Any) -> Iterator[dict[str, Any]]:
    with ExitStack() as stack:
        f: dict[str, Any] = {
            p.name: stack.enter_context(p.serving(monkeypatch, clips))
            for p in (FAL, REPLICATE, RUNWAY, LUMA, COMFYUI)
        }
        for fake in f.values():
            fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
        for cls in (FalBackend, ReplicateBackend, RunwayBackend, LumaBackend, ComfyUIBackend):
            monkeypatch.setattr(cls, "poll_interval", 0.01, raising=False)  # the engine's poll pace
        yield f


def project(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    Image.new("RGB", (640, 360), (30, 90, 160)).save(root / "assets" / "harbour.png")
    (root / "templates" / "comfyui").mkdir(parents=True)
    (root / "templates" / "comfyui" / "img2vid.json").write_text(json.dumps(PEER_IMG2VID))
    (root / "storyboard.yaml").write_text(STORYBOARD)
    return root


@pytest.mark.slow
def test_a_storyboard_mixing_five_providers_builds_against_flaky_fakes(
    fakes: dict[str, Any], tmp_path: Path
) -> None:
    root = project(tmp_path / "proj")
    result = build(root, BuildOptions(yes=True, render=False))
    assert result.ok, result.failures
    assert {k: f.submissions for k, f in fakes.items() if k != "comfyui"} == {
        "fal": 1,
        "replicate": 1,
        "runway": 1,
        "luma": 2,
    }
    assert len(fakes["comfyui"].queued) == 1
    luma_jobs = list(fakes["luma"].jobs.values())
    first = next(j for j in luma_jobs if "keyframes" not in j.body)
    chained = next(j for j in luma_jobs if "keyframes" in j.body)
    assert chained.body["keyframes"]["frame0"] == {"type": "generation", "id": first.id}
    storm = result.made["storm"][0]
    assert not storm.cost_is_estimate and storm.cost == pytest.approx(12 * 5 * 0.01)  # Runway reported it
    assert result.made["dawn"][0].cost_is_estimate and result.made["dawn"][0].cost == pytest.approx(0.8)
    assert result.made["keeper"][0].cost == 0

    again = build(root, BuildOptions(yes=True, render=False))  # nothing changed: nothing is paid again
    assert again.ok and not again.made
    assert fakes["fal"].submissions == 1 and fakes["luma"].submissions == 2


ONE_SHOT = """\
version: 1
title: One fal shot
output: {resolution: 720p, aspect: "16:9", fps: 24, file: out/cut.mp4}
defaults: {model: fal/veo3.1-fast, duration: 4}
shots:
  - id: dawn
    subject: "A lighthouse on a cliff"
    action: "stands against the rising sun"
    camera: static
"""


@pytest.mark.slow
def test_a_build_killed_while_polling_resumes_the_same_fal_request(
    fakes: dict[str, Any], tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    fal_fake = fakes["fal"]
    fal_fake.faults.rate_429 = fal_fake.faults.rate_5xx = 0.0
    fal_fake.polls_to_finish = 10**6  # the job runs until the test lets it finish
    root = tmp_path / "proj"
    root.mkdir()
    (root / "storyboard.yaml").write_text(ONE_SHOT)
    code = (
        "from shotlist.pipeline import BuildOptions, build; "
        f"build({str(root)!r}, BuildOptions(yes=True, render=False))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=dict(os.environ), cwd=Path(__file__).parent.parent
    )
    try:
        deadline = time.monotonic() + 60
        while not fal_fake.calls("GET", "/status$") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fal_fake.calls("GET", "/status$"), "the build never started polling"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (job,) = fal_fake.jobs.values()
    job.polls_left = 1  # it finishes while nobody watches

    result = build(root, BuildOptions(yes=True, render=False))
    assert result.ok, result.failures
    assert fal_fake.submissions == 1  # the killed build's request was polled again, not paid again
    assert result.made["dawn"][0].job == f"fal-ai/veo3.1/fast::{job.id}"
