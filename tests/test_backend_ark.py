"""Seedance on BytePlus ModelArk / Volcengine Ark: the wire format, against a fake that speaks Ark's task
protocol (the money rules every adapter keeps are in test_backend_contract.py)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotlist.backends.ark import ArkBackend
from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.spec import ShotSpec
from tests.fakes.ark import FakeArk
from tests.fakes.hosted import frames, generate, make_spec, outcome
from tests.fakes.providers import ARK

VOLC_KEY = "volc-test-key-9876543210"


fake = ARK.fixture()


def spec(model: str = "ark/seedance-1.0-lite", mode: str = "txt2vid", **kw: Any) -> ShotSpec:
    return make_spec(model, mode, **{"prompt": "A kitsune mask rests on moss.", "duration": 5, **kw})


def build(tmp_path: Path, s: ShotSpec) -> JobStatus:
    return outcome(ArkBackend(tmp_path), s, tmp_path)


def test_txt2vid_sends_a_seedance_task_and_costs_it_from_its_tokens(fake: FakeArk, tmp_path: Path) -> None:
    status = build(tmp_path, spec(seed=11, params={"camera": {"move": "static", "speed": "slow"}}))
    body = fake.submits()[0].json()
    assert body["model"] == "seedance-1-0-lite-t2v-250428"
    assert body["content"] == [{"type": "text", "text": "A kitsune mask rests on moss."}]
    assert (body["ratio"], body["duration"], body["resolution"], body["seed"]) == ("16:9", 5, "720p", 11)
    assert body["camera_fixed"] is True and body["watermark"] is False and body["return_last_frame"] is True
    assert "generate_audio" not in body  # Lite makes no audio: the field is not sent
    assert status.state is JobState.SUCCEEDED and (tmp_path / "s1.mp4").read_bytes() == fake.video
    tokens = 1280 * 720 * 24 * 5 // 1024
    assert status.cost == round(tokens * 1.0 / 1e6, 4)  # usage × the catalog's token price


def test_img2vid_sends_first_and_last_frames_as_data_uris(fake: FakeArk, tmp_path: Path) -> None:
    first, last = frames(tmp_path, "image", "end_image")
    s = spec("ark/seedance-1.0-pro", "img2vid", inputs=(first, last), params={"camera": {"move": "dolly-in"}})
    assert build(tmp_path, s).state is JobState.SUCCEEDED
    body = fake.submits()[0].json()
    assert body["model"] == "seedance-1-0-pro-250528"
    roles = [(c["type"], c.get("role")) for c in body["content"]]
    assert roles == [("text", None), ("image_url", "first_frame"), ("image_url", "last_frame")]
    sent = base64.b64decode(body["content"][1]["image_url"]["url"].split(",", 1)[1])
    assert sent == Path(first.path).read_bytes()  # within limits: the file itself, unchanged
    assert "camera_fixed" not in body  # a moving camera is the prompt's business


def test_ref2vid_sends_reference_images(fake: FakeArk, tmp_path: Path) -> None:
    assert (
        build(tmp_path, spec(mode="ref2vid", inputs=frames(tmp_path, "ref", "ref"))).state
        is JobState.SUCCEEDED
    )
    body = fake.submits()[0].json()
    assert body["model"] == "seedance-1-0-lite-i2v-250428"
    assert [c.get("role") for c in body["content"][1:]] == ["reference_image", "reference_image"]


def test_mixing_frames_and_references_is_refused_before_any_request(fake: FakeArk, tmp_path: Path) -> None:
    inputs = frames(tmp_path, "image", "ref")
    with pytest.raises(BackendError, match="cannot mix first/last frames with reference images") as info:
        generate(ArkBackend(tmp_path), spec(mode="ref2vid", inputs=inputs), out=tmp_path)
    assert not info.value.retryable and fake.log == []
    # The fake holds the real service's rule too: such a request is a 400 and makes no task.
    png = "data:image/png;base64," + base64.b64encode(Path(inputs[0].path).read_bytes()).decode()
    body = {
        "model": "m",
        "ratio": "16:9",
        "duration": 5,
        "resolution": "720p",
        "content": [
            {"type": "text", "text": "x"},
            {"type": "image_url", "image_url": {"url": png}, "role": "first_frame"},
            {"type": "image_url", "image_url": {"url": png}, "role": "reference_image"},
        ],
    }
    r = httpx.post(
        f"{fake.base}/contents/generations/tasks", json=body, headers={"Authorization": f"Bearer {fake.key}"}
    )
    assert r.status_code == 400 and not fake.tasks


def test_output_moderation_is_a_refusal_that_records_what_was_charged(fake: FakeArk, tmp_path: Path) -> None:
    status = build(tmp_path, spec(prompt="REFUSE_OUTPUT a scene"))
    assert status.state is JobState.REFUSED
    assert status.message is not None and status.message.startswith("OutputVideoSensitiveContentDetected")
    assert status.cost is not None and status.cost > 0  # rendered in full, then refused: billed


def test_volcengine_models_use_their_own_key_and_model_ids(
    fake: FakeArk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.key = VOLC_KEY
    monkeypatch.setenv("VOLCENGINE_ARK_API_KEY", VOLC_KEY)
    assert build(tmp_path, spec("volcengine/seedance-1.0-pro")).state is JobState.SUCCEEDED
    assert fake.submits()[0].json()["model"] == "doubao-seedance-1-0-pro-250528"


def test_native_audio_is_asked_for_and_costed_at_the_audio_token_price(fake: FakeArk, tmp_path: Path) -> None:
    status = build(tmp_path, spec("ark/seedance-1.5-pro", audio=True, duration=4))
    assert fake.submits()[0].json()["generate_audio"] is True
    assert status.cost == round((1280 * 720 * 24 * 4 // 1024) * 2.4 / 1e6, 4)


def test_each_region_sends_its_own_key_from_one_backend(
    fake: FakeArk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOLCENGINE_ARK_API_KEY", VOLC_KEY)

    async def main() -> None:
        b = ArkBackend(tmp_path)
        try:
            await b.submit(spec("ark/seedance-1.0-pro"))
            with pytest.raises(BackendError, match="HTTP 401"):  # the fake holds the BytePlus key only
                await b.submit(spec("volcengine/seedance-1.0-pro"))
        finally:
            await b.aclose()

    asyncio.run(main())
    assert [r.headers["authorization"] for r in fake.submits()] == [
        f"Bearer {fake.key}",
        f"Bearer {VOLC_KEY}",
    ]
