"""Replicate adapter against a fake of Replicate's predictions API (and the replicate SDK on the same fake)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import BackendError, JobState
from shotlist.backends.replicate import ReplicateBackend
from shotlist.catalog import catalog
from tests.fakes.hosted import FAIL, REFUSE, SLOW, finish, make_spec, no_sleep
from tests.fakes.replicate import TOKEN, ReplicateFake


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplicateFake]:
    with ReplicateFake() as f:
        monkeypatch.setenv("REPLICATE_API_BASE_URL", f.url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        yield f


def backend(tmp_path: Path) -> ReplicateBackend:
    b = ReplicateBackend(tmp_path)
    b.http.sleep = no_sleep
    return b


def generate(b: ReplicateBackend, *specs: Any, out: Path) -> list[tuple[str, Any]]:
    async def one(spec: Any) -> tuple[str, Any]:
        job = await b.submit(spec)
        status = await finish(b, job)
        if status.state is JobState.SUCCEEDED:
            await b.fetch(job, out / f"{spec.shot}.mp4")
        return job, status

    async def go() -> list[tuple[str, Any]]:
        try:
            return list(await asyncio.gather(*(one(s) for s in specs)))
        finally:
            await b.aclose()

    return asyncio.run(go())


CASES = [(m.id, mode) for m in catalog().values() if m.provider == "replicate" for mode in m.modes]


@pytest.mark.parametrize("model,mode", CASES, ids=[f"{m}-{mode}" for m, mode in CASES])
def test_every_replicate_model_and_mode_generates_a_clip(
    fake: ReplicateFake, tmp_path: Path, model: str, mode: str
) -> None:
    entry = catalog()[model]
    spec = make_spec(
        model,
        mode,
        tmp_path,
        end_image=mode == "img2vid" and entry.first_last,
        seed=3 if entry.seed else None,
        audio=bool(entry.audio),
    )
    [(job_id, status)] = generate(backend(tmp_path), spec, out=tmp_path)
    assert status.state is JobState.SUCCEEDED, status.message
    (job,) = fake.jobs.values()
    assert job_id == job.id and job.kind == entry.endpoint[mode]
    assert job.body["duration"] == int(spec.duration)  # an integer on Replicate's wire
    images = [k for k, v in job.body.items() if str(v).startswith("data:image/")]
    assert len(images) == len(spec.inputs)
    assert (tmp_path / "s1.mp4").read_bytes() == f"fake-mp4 {job.id}".encode()


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
    generate(backend(tmp_path), spec, out=tmp_path)
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
    b = backend(tmp_path)

    async def go() -> Any:
        job = await b.submit(make_spec("replicate/hailuo-02", "txt2vid", tmp_path))
        await b.fetch(job, tmp_path / "o.mp4")  # no poll needed: the create answered with the output
        await b.aclose()

    asyncio.run(go())
    assert fake.calls("POST", "/predictions$")[0].headers["prefer"] == "wait=30"
    assert not fake.calls("GET", "/v1/predictions/") and (tmp_path / "o.mp4").exists()


def test_flaky_api_completes_every_shot_with_one_prediction_each(fake: ReplicateFake, tmp_path: Path) -> None:
    fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
    specs = [
        make_spec("replicate/seedance-1-pro", "txt2vid", tmp_path, shot=f"s{i}", prompt=f"shot {i} {SLOW}")
        for i in range(6)
    ]
    results = generate(backend(tmp_path), *specs, out=tmp_path)
    assert all(s.state is JobState.SUCCEEDED for _, s in results)
    assert fake.submissions == 6 and len(fake.calls("POST", "/predictions$")) > 6


def test_a_flagged_prompt_is_refused_with_replicates_reason(fake: ReplicateFake, tmp_path: Path) -> None:
    [(_, status)] = generate(
        backend(tmp_path),
        make_spec("replicate/hailuo-02", "txt2vid", tmp_path, prompt=f"x {REFUSE}"),
        out=tmp_path,
    )
    assert status.state is JobState.REFUSED and "(E005)" in (status.message or "")
    assert fake.submissions == 1


def test_a_model_failure_is_failed(fake: ReplicateFake, tmp_path: Path) -> None:
    [(_, status)] = generate(
        backend(tmp_path),
        make_spec("replicate/hailuo-02", "txt2vid", tmp_path, prompt=f"x {FAIL}"),
        out=tmp_path,
    )
    assert status.state is JobState.FAILED and "CUDA error" in (status.message or "")


def test_removed_output_files_are_reread_then_reported_without_paying_again(
    fake: ReplicateFake, tmp_path: Path
) -> None:
    b = backend(tmp_path)

    async def go() -> None:
        job = await b.submit(make_spec("replicate/seedance-1-pro", "txt2vid", tmp_path))
        await finish(b, job)
        fake.expire_links()  # Replicate removed the files (an hour passed)
        try:
            await b.fetch(job, tmp_path / "o.mp4")
        finally:
            await b.aclose()

    with pytest.raises(BackendError, match="can no longer be downloaded") as info:
        asyncio.run(go())
    assert not info.value.retryable and fake.submissions == 1
    assert len(fake.calls("GET", "/v1/predictions/")) >= 3  # polled, then read again for a fresh link


def test_a_download_hiccup_is_retried(fake: ReplicateFake, tmp_path: Path) -> None:
    fake.faults.rate_5xx = 0.3
    [(_, status)] = generate(
        backend(tmp_path), make_spec("replicate/seedance-1-pro", "txt2vid", tmp_path), out=tmp_path
    )
    assert status.state is JobState.SUCCEEDED and (tmp_path / "s1.mp4").exists() and fake.submissions == 1


def test_a_new_backend_after_a_restart_polls_the_same_prediction(fake: ReplicateFake, tmp_path: Path) -> None:
    spec = make_spec("replicate/seedance-1-pro", "img2vid", tmp_path)

    async def first() -> str:
        b = backend(tmp_path)
        job = await b.submit(spec)
        await b.aclose()
        return job

    job = asyncio.run(first())

    async def second() -> None:
        b = backend(tmp_path)
        assert (await finish(b, job)).state is JobState.SUCCEEDED
        await b.fetch(job, tmp_path / "o.mp4")
        await b.aclose()

    asyncio.run(second())
    assert fake.submissions == 1 and (tmp_path / "o.mp4").exists()


def test_the_token_never_reaches_logs_or_the_file_host(
    fake: ReplicateFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    generate(backend(tmp_path), make_spec("replicate/seedance-1-pro", "txt2vid", tmp_path), out=tmp_path)
    with pytest.raises(BackendError) as info:
        asyncio.run(backend(tmp_path).poll("no-such-prediction"))
    assert TOKEN not in caplog.text and TOKEN not in str(info.value) and "replicate →" in caplog.text
    assert fake.file_requests and all("authorization" not in r.headers for r in fake.file_requests)


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
