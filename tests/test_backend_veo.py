"""Veo through the Gemini API: the wire format, against a fake that speaks its long-running-operation
protocol (the money rules every adapter keeps are in test_backend_contract.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.veo import VeoBackend
from shotlist.spec import ShotSpec
from tests.fakes.hosted import frames, make_spec, outcome
from tests.fakes.providers import VEO
from tests.fakes.veo import FakeVeo


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVeo]:
    with VEO.serving(monkeypatch) as f:
        monkeypatch.delenv("GEMINI_API_KEY")
        monkeypatch.setenv("GOOGLE_API_KEY", f.key)  # the alias works too
        yield f


def spec(model: str = "veo/veo-3.0-fast", mode: str = "txt2vid", **kw: Any) -> ShotSpec:
    return make_spec(model, mode, **{"prompt": "Close-up: a kitsune mask on moss.", "duration": 8, **kw})


def build(tmp_path: Path, s: ShotSpec) -> JobStatus:
    return outcome(VeoBackend(tmp_path), s, tmp_path)


def test_txt2vid_runs_an_operation_and_downloads_its_video(fake: FakeVeo, tmp_path: Path) -> None:
    status = build(tmp_path, spec(negative="blurry, text overlays"))
    assert status.state is JobState.SUCCEEDED and status.cost is None  # the API reports no cost
    req = fake.submits()[0]
    assert req.path == "/v1beta/models/veo-3.0-fast-generate-001:predictLongRunning"
    assert req.json() == {
        "instances": [{"prompt": "Close-up: a kitsune mask on moss."}],
        "parameters": {
            "sampleCount": 1,
            "durationSeconds": 8,
            "aspectRatio": "16:9",
            "resolution": "720p",
            "negativePrompt": "blurry, text overlays",
        },
    }  # personGeneration: the API's regional default
    assert (tmp_path / "s1.mp4").read_bytes() == fake.video
    assert fake.downloads()[0].headers["x-goog-api-key"] == fake.key  # the file needs the key


def test_img2vid_sends_first_and_last_frames_as_base64(fake: FakeVeo, tmp_path: Path) -> None:
    first, last = frames(tmp_path, "image", "end_image")
    status = build(tmp_path, spec("veo/veo-3.1", "img2vid", inputs=(first, last), duration=6))
    assert status.state is JobState.SUCCEEDED
    inst = fake.submits()[0].json()["instances"][0]
    assert base64.b64decode(inst["image"]["bytesBase64Encoded"]) == Path(first.path).read_bytes()
    assert inst["image"]["mimeType"] == "image/png" and "lastFrame" in inst
    assert fake.submits()[0].json()["parameters"]["personGeneration"] == "allow_adult"


def test_ref2vid_sends_asset_reference_images(fake: FakeVeo, tmp_path: Path) -> None:
    refs = frames(tmp_path, "ref", "ref")
    assert build(tmp_path, spec("veo/veo-3.1", "ref2vid", inputs=refs)).state is JobState.SUCCEEDED
    inst = fake.submits()[0].json()["instances"][0]
    assert [r["referenceType"] for r in inst["referenceImages"]] == ["asset", "asset"]
    assert "image" not in inst


def test_references_with_frames_are_refused_before_any_request(fake: FakeVeo, tmp_path: Path) -> None:
    inputs = frames(tmp_path, "image", "ref")
    with pytest.raises(BackendError, match="reference images or first/last frames"):
        asyncio.run(VeoBackend(tmp_path).submit(spec("veo/veo-3.1", "ref2vid", inputs=inputs)))
    assert fake.log == []
