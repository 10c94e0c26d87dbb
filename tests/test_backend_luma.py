"""Luma adapter against a fake of Dream Machine's API (and the lumaai SDK on the same fake)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import BackendError, JobState
from shotlist.backends.luma import LumaBackend
from shotlist.catalog import catalog
from tests.fakes.hosted import FAIL, REFUSE, SLOW, finish, make_spec, no_sleep
from tests.fakes.luma import KEY, LumaFake


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[LumaFake]:
    with LumaFake() as f:
        monkeypatch.setenv("LUMAAI_BASE_URL", f.api)
        monkeypatch.setenv("LUMAAI_API_KEY", KEY)
        yield f


def backend(tmp_path: Path) -> LumaBackend:
    b = LumaBackend(tmp_path / ".shotlist")
    b.http.sleep = no_sleep
    return b


def generate(b: LumaBackend, *specs: Any, out: Path) -> list[tuple[str, Any]]:
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


CASES = [
    (m.id, mode, last)
    for m in catalog().values()
    if m.provider == "luma"
    for mode in m.modes
    for last in ((False, True) if mode == "img2vid" else (False,))
]


@pytest.mark.parametrize(
    "model,mode,last", CASES, ids=[f"{m}-{mode}{'-last' if last else ''}" for m, mode, last in CASES]
)
def test_every_luma_model_and_mode_generates_a_clip(
    fake: LumaFake, tmp_path: Path, model: str, mode: str, last: bool
) -> None:
    spec = make_spec(model, mode, tmp_path, end_image=last, duration=9, aspect="21:9", size=(1920, 1080))
    [(job_id, status)] = generate(backend(tmp_path), spec, out=tmp_path)
    assert status.state is JobState.SUCCEEDED, status.message
    (job,) = fake.jobs.values()
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
    assert (tmp_path / "s1.mp4").read_bytes() == f"fake-mp4 {job.id}".encode()


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


def test_flaky_api_completes_every_shot_with_one_generation_each(fake: LumaFake, tmp_path: Path) -> None:
    fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
    specs = [
        make_spec("luma/ray-flash-2", "txt2vid", tmp_path, shot=f"s{i}", prompt=f"shot {i} {SLOW}")
        for i in range(6)
    ]
    results = generate(backend(tmp_path), *specs, out=tmp_path)
    assert all(s.state is JobState.SUCCEEDED for _, s in results)
    assert fake.submissions == 6 and len(fake.calls("POST", "/generations/video$")) > 6


def test_a_moderation_failure_is_refused_with_lumas_reason(fake: LumaFake, tmp_path: Path) -> None:
    [(_, status)] = generate(
        backend(tmp_path), make_spec("luma/ray-2", "txt2vid", tmp_path, prompt=f"x {REFUSE}"), out=tmp_path
    )
    assert status.state is JobState.REFUSED and "advanced moderation failed" in (status.message or "")


def test_a_failed_generation_is_failed(fake: LumaFake, tmp_path: Path) -> None:
    [(_, status)] = generate(
        backend(tmp_path), make_spec("luma/ray-2", "txt2vid", tmp_path, prompt=f"x {FAIL}"), out=tmp_path
    )
    assert status.state is JobState.FAILED and status.message == "luma: Job failed"


def test_an_expired_video_link_is_reread_then_reported_without_paying_again(
    fake: LumaFake, tmp_path: Path
) -> None:
    b = backend(tmp_path)

    async def go() -> None:
        job = await b.submit(make_spec("luma/ray-2", "txt2vid", tmp_path))
        await finish(b, job)
        fake.expire_links()
        try:
            await b.fetch(job, tmp_path / "o.mp4")
        finally:
            await b.aclose()

    with pytest.raises(BackendError, match="can no longer be downloaded"):
        asyncio.run(go())
    assert fake.submissions == 1 and len(fake.file_requests) == 2


def test_a_new_backend_after_a_restart_polls_the_same_generation(fake: LumaFake, tmp_path: Path) -> None:
    async def first() -> str:
        b = backend(tmp_path)
        job = await b.submit(make_spec("luma/ray-2", "txt2vid", tmp_path))
        await b.aclose()
        return job

    job = asyncio.run(first())

    async def second() -> Any:
        b = backend(tmp_path)
        status = await finish(b, job)
        await b.fetch(job, tmp_path / "o.mp4")
        await b.aclose()
        return status

    assert asyncio.run(second()).state is JobState.SUCCEEDED and fake.submissions == 1


def test_the_key_never_reaches_logs_errors_or_the_file_host(
    fake: LumaFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    generate(backend(tmp_path), make_spec("luma/ray-2", "img2vid", tmp_path), out=tmp_path)
    with pytest.raises(BackendError) as info:
        asyncio.run(backend(tmp_path).poll("no-such-generation"))
    assert KEY not in caplog.text and KEY not in str(info.value) and "luma →" in caplog.text
    assert fake.file_requests and all("authorization" not in r.headers for r in fake.file_requests)


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
