"""Luma adapter: its wire format against a fake of Dream Machine's API, and the lumaai SDK on the same fake
(the money rules every adapter keeps are in test_backend_contract.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path

import pytest

from shotlist.backends.base import BackendError, JobState
from shotlist.backends.luma import LumaBackend
from shotlist.catalog import catalog
from tests.fakes.hosted import FAIL, each_model_and_mode, full_spec, generate, make_spec
from tests.fakes.luma import KEY, LumaFake
from tests.fakes.providers import LUMA

fake = LUMA.fixture()


def backend(tmp_path: Path) -> LumaBackend:
    return LumaBackend(tmp_path / ".shotlist")


@each_model_and_mode("luma")
def test_every_luma_model_and_mode_sends_keyframes_and_lumas_fields(
    fake: LumaFake, tmp_path: Path, model: str, mode: str, last: bool
) -> None:
    spec = full_spec(model, mode, tmp_path, last=last, duration=9, aspect="21:9", size=(1920, 1080))
    job_id, job, status = fake.made(backend(tmp_path), spec, tmp_path)
    assert job_id == job.id
    assert {k: job.body[k] for k in ("model", "duration", "resolution", "aspect_ratio")} == {
        "model": catalog()[model].endpoint[mode],
        "duration": "9s",
        "resolution": "1080p",
        "aspect_ratio": "21:9",
    }
    frames = job.body.get("keyframes", {})
    assert sorted(frames) == (["frame0", "frame1"] if last else ["frame0"] if mode == "img2vid" else [])
    assert all(f["type"] == "image" and f["url"].startswith("data:image/png") for f in frames.values())


def test_a_shot_starting_on_a_luma_shots_last_frame_continues_that_generation(
    fake: LumaFake, tmp_path: Path
) -> None:
    first = make_spec("luma/ray-2", "txt2vid", tmp_path, shot="a")
    [(gen_a, _)] = generate(backend(tmp_path), first, out=tmp_path)
    clip = hashlib.sha256((tmp_path / "a.mp4").read_bytes()).hexdigest()
    spec = make_spec("luma/ray-2", "img2vid", tmp_path, shot="b")
    chained = dataclasses.replace(spec.inputs[0], sha256=clip, frame="last", upstream="a")
    spec = dataclasses.replace(spec, inputs=(chained,))
    [(gen_b, status)] = generate(backend(tmp_path), spec, out=tmp_path)  # a new process: read from luma.json
    assert status.state is JobState.SUCCEEDED
    assert fake.jobs[gen_b].body["keyframes"] == {"frame0": {"type": "generation", "id": gen_a}}


def test_a_still_image_that_is_not_a_luma_clip_goes_as_an_image(fake: LumaFake, tmp_path: Path) -> None:
    spec = make_spec("luma/ray-flash-2", "img2vid", tmp_path)
    spec = dataclasses.replace(spec, inputs=(dataclasses.replace(spec.inputs[0], frame="last"),))
    generate(backend(tmp_path), spec, out=tmp_path)
    assert next(iter(fake.jobs.values())).body["keyframes"]["frame0"]["type"] == "image"


def test_a_failed_generation_is_failed(fake: LumaFake, tmp_path: Path) -> None:
    [(_, status)] = generate(
        backend(tmp_path), make_spec("luma/ray-2", "txt2vid", tmp_path, prompt=f"x {FAIL}"), out=tmp_path
    )
    assert status.state is JobState.FAILED and status.message == "luma: Job failed"


def test_a_rejected_request_gives_lumas_reason_and_is_no_refusal(fake: LumaFake, tmp_path: Path) -> None:
    spec = make_spec("luma/ray-2", "txt2vid", tmp_path, aspect="2:1")
    with pytest.raises(BackendError) as info:
        asyncio.run(backend(tmp_path).submit(spec))
    assert str(info.value) == "luma: invalid aspect_ratio" and not info.value.refused
    assert fake.submissions == 0


@pytest.mark.slow
def test_the_lumaai_sdk_drives_the_fake(fake: LumaFake) -> None:
    lumaai = pytest.importorskip("lumaai")
    client = lumaai.LumaAI(auth_token=KEY, base_url=fake.api, max_retries=0)
    made = client.generations.create(
        model="ray-2", prompt="a lighthouse", aspect_ratio="16:9", duration="5s", resolution="720p"
    )
    assert made.state == "queued"
    seen = [client.generations.get(made.id) for _ in range(2)]
    assert [g.state for g in seen] == ["dreaming", "completed"] and seen[-1].assets.video.startswith(
        "http://"
    )
    cont = client.generations.create(
        model="ray-flash-2", prompt="and then", keyframes={"frame0": {"type": "generation", "id": made.id}}
    )
    assert cont.request.keyframes.frame0.id == made.id
    with pytest.raises(lumaai.BadRequestError):
        client.generations.create(model="ray-2", prompt="x", duration="7s")
    client.generations.delete(made.id)
