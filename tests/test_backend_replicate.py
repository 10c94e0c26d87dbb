"""Replicate adapter: its wire format against a fake of Replicate's predictions API, and the replicate SDK on
the same fake (the money rules every adapter keeps are in test_backend_contract.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import JobState
from shotlist.backends.replicate import ReplicateBackend
from shotlist.catalog import catalog
from tests.fakes.hosted import FAIL, each_model_and_mode, full_spec, generate, make_spec
from tests.fakes.providers import REPLICATE
from tests.fakes.replicate import TOKEN, ReplicateFake

fake = REPLICATE.fixture()


@each_model_and_mode("replicate")
def test_every_replicate_model_and_mode_sends_its_input_schema(
    fake: ReplicateFake, tmp_path: Path, model: str, mode: str, last: bool
) -> None:
    entry = catalog()[model]
    spec = full_spec(model, mode, tmp_path, last=last)
    job_id, job, status = fake.made(ReplicateBackend(tmp_path), spec, tmp_path)
    assert job_id == job.id and job.kind == entry.endpoint[mode]  # the fake checked the fields
    assert job.body["duration"] == int(spec.duration)  # an integer on Replicate's wire
    images = [k for k, v in job.body.items() if str(v).startswith("data:image/")]
    assert len(images) == len(spec.inputs)


def test_seedance_fields_on_replicate(fake: ReplicateFake, tmp_path: Path) -> None:
    spec = make_spec(
        "replicate/seedance-1.5-pro",
        "img2vid",
        tmp_path,
        end_image=True,
        duration=5,
        audio=True,
        seed=9,
        params={"camera": {"move": "static"}},
    )
    generate(ReplicateBackend(tmp_path), spec, out=tmp_path)
    body = next(iter(fake.jobs.values())).body
    assert {
        k: body[k] for k in ("duration", "resolution", "seed", "generate_audio", "camera_fixed", "fps")
    } == {
        "duration": 5,
        "resolution": "720p",
        "seed": 9,
        "generate_audio": True,
        "camera_fixed": True,
        "fps": 24,
    }
    assert body["image"].startswith("data:image/png") and body["last_frame_image"].startswith(
        "data:image/png"
    )


def test_prefer_wait_gets_a_finished_prediction_from_the_create(
    fake: ReplicateFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = catalog()["replicate/hailuo-02"]
    monkeypatch.setitem(entry.extra, "prefer_wait", 30)
    b = ReplicateBackend(tmp_path)

    async def go() -> Any:
        job = await b.submit(make_spec("replicate/hailuo-02", "txt2vid", tmp_path))
        await b.fetch(job, tmp_path / "o.mp4")  # no poll needed: the create answered with the output
        await b.aclose()

    asyncio.run(go())
    assert fake.calls("POST", "/predictions$")[0].headers["prefer"] == "wait=30"
    assert not fake.calls("GET", "/v1/predictions/") and (tmp_path / "o.mp4").exists()


def test_a_model_failure_is_failed(fake: ReplicateFake, tmp_path: Path) -> None:
    [(_, status)] = generate(
        ReplicateBackend(tmp_path),
        make_spec("replicate/hailuo-02", "txt2vid", tmp_path, prompt=f"x {FAIL}"),
        out=tmp_path,
    )
    assert status.state is JobState.FAILED and "CUDA error" in (status.message or "")


@pytest.mark.slow
def test_the_replicate_sdk_drives_the_fake(fake: ReplicateFake, monkeypatch: pytest.MonkeyPatch) -> None:
    replicate = pytest.importorskip("replicate")
    monkeypatch.setenv("REPLICATE_POLL_INTERVAL", "0.01")
    client = replicate.Client(api_token=TOKEN, base_url=fake.url)
    prediction = client.models.predictions.create(
        model="bytedance/seedance-1-pro", input={"prompt": "a fox", "duration": 5}
    )
    assert prediction.status == "starting"
    prediction.wait()
    assert prediction.status == "succeeded" and prediction.output.startswith("http://localhost:")
    again = client.predictions.get(prediction.id)
    assert again.output == prediction.output and again.model == "bytedance/seedance-1-pro"
    held = client.models.predictions.create(
        model="minimax/hailuo-02", input={"prompt": "a cat", "duration": 6}, wait=True
    )
    assert held.status == "succeeded"
    with pytest.raises(replicate.exceptions.ReplicateError) as info:
        client.models.predictions.create(model="minimax/hailuo-02", input={"prompt": "x", "duration": 7})
    assert info.value.status == 422
