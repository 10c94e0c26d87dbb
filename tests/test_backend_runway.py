"""Runway adapter against a fake of Runway's API (and the runwayml SDK on the same fake)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import BackendError, JobState
from shotlist.backends.runway import RunwayBackend
from shotlist.catalog import catalog
from tests.fakes.hosted import FAIL, REFUSE, SLOW, finish, make_spec, no_sleep, png
from tests.fakes.runway import SECRET, RunwayFake


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunwayFake]:
    with RunwayFake() as f:
        monkeypatch.setenv("RUNWAYML_BASE_URL", f.url)
        monkeypatch.setenv("RUNWAYML_API_SECRET", SECRET)
        yield f


def backend(tmp_path: Path) -> RunwayBackend:
    b = RunwayBackend(tmp_path)
    b.http.sleep = no_sleep
    return b


def generate(b: RunwayBackend, *specs: Any, out: Path) -> list[tuple[str, Any]]:
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
    if m.provider == "runway"
    for mode in m.modes
    for last in ((False, True) if mode == "img2vid" and m.first_last else (False,))
]


@pytest.mark.parametrize(
    "model,mode,last", CASES, ids=[f"{m}-{mode}{'-last' if last else ''}" for m, mode, last in CASES]
)
def test_every_runway_model_and_mode_generates_a_clip(
    fake: RunwayFake, tmp_path: Path, model: str, mode: str, last: bool
) -> None:
    entry = catalog()[model]
    spec = make_spec(
        model,
        mode,
        tmp_path,
        end_image=last,
        seed=11,
        audio=bool(entry.audio),
        negative="text overlays" if entry.negative else None,
    )
    [(job_id, status)] = generate(backend(tmp_path), spec, out=tmp_path)
    assert status.state is JobState.SUCCEEDED, status.message
    (job,) = fake.jobs.values()
    assert job_id == job.id and job.body["model"] == entry.endpoint[mode] and job.body["seed"] == 11
    assert job.body["ratio"] == "1280:720" and job.body["duration"] == int(spec.duration)
    if last:
        assert [i["position"] for i in job.body["promptImage"]] == ["first", "last"]
    elif mode == "img2vid":
        assert job.body["promptImage"].startswith("data:image/png;base64,")
    assert status.cost == pytest.approx(
        0.01
        * {"gen4_turbo": 5, "gen4.5": 12, "veo3.1": 40, "veo3.1_fast": 15}[job.body["model"]]
        * spec.duration
    )
    assert (tmp_path / "s1.mp4").read_bytes() == f"fake-mp4 {job.id}".encode()


def test_veo_on_runway_at_1080p_vertical_asks_for_the_1080_ratio(fake: RunwayFake, tmp_path: Path) -> None:
    spec = make_spec("runway/veo3.1", "txt2vid", tmp_path, size=(1080, 1920), aspect="9:16", audio=True)
    generate(backend(tmp_path), spec, out=tmp_path)
    body = next(iter(fake.jobs.values())).body
    assert body["ratio"] == "1080:1920" and body["audio"] is True


def test_a_throttled_task_waits_as_queued_and_then_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RunwayFake(throttle=True, polls_to_finish=4) as f:
        monkeypatch.setenv("RUNWAYML_BASE_URL", f.url)
        monkeypatch.setenv("RUNWAYML_API_SECRET", SECRET)
        b = backend(tmp_path)

        async def go() -> list[Any]:
            job = await b.submit(make_spec("runway/gen4.5", "txt2vid", tmp_path))
            seen = [await b.poll(job) for _ in range(4)]
            await b.aclose()
            return seen

        seen = asyncio.run(go())
    assert [s.state for s in seen] == [
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ]
    assert "throttled" in (seen[0].message or "") and seen[1].progress == pytest.approx(0.5)


def test_flaky_api_completes_every_shot_with_one_task_each(fake: RunwayFake, tmp_path: Path) -> None:
    fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
    specs = [
        make_spec("runway/gen4_turbo", "img2vid", tmp_path, shot=f"s{i}", prompt=f"shot {i} {SLOW}")
        for i in range(6)
    ]
    results = generate(backend(tmp_path), *specs, out=tmp_path)
    assert all(s.state is JobState.SUCCEEDED for _, s in results)
    assert fake.submissions == 6 and len(fake.calls("POST", "_to_video$")) > 6


def test_a_safety_failure_is_refused_with_runways_reason(fake: RunwayFake, tmp_path: Path) -> None:
    [(_, status)] = generate(
        backend(tmp_path), make_spec("runway/gen4.5", "txt2vid", tmp_path, prompt=f"x {REFUSE}"), out=tmp_path
    )
    assert status.state is JobState.REFUSED
    assert (
        status.message
        == "runway: Your prompt was flagged by our content moderation system. (SAFETY.INPUT.TEXT)"
    )
    assert status.cost == 0


def test_an_internal_failure_is_failed(fake: RunwayFake, tmp_path: Path) -> None:
    [(_, status)] = generate(
        backend(tmp_path), make_spec("runway/gen4.5", "txt2vid", tmp_path, prompt=f"x {FAIL}"), out=tmp_path
    )
    assert status.state is JobState.FAILED and "(INTERNAL)" in (status.message or "")


def test_an_expired_output_url_is_refreshed_by_reading_the_task(fake: RunwayFake, tmp_path: Path) -> None:
    b = backend(tmp_path)

    async def go() -> str:
        job = await b.submit(make_spec("runway/gen4.5", "txt2vid", tmp_path))
        await finish(b, job)
        fake.expire_links()  # 24–48 h later
        await b.fetch(job, tmp_path / "o.mp4")
        await b.aclose()
        return job

    job = asyncio.run(go())
    assert fake.submissions == 1 and (tmp_path / "o.mp4").read_bytes() == f"fake-mp4 {job}".encode()
    assert [r.path for r in fake.file_requests][0] != fake.file_requests[-1].path


def test_a_new_backend_after_a_restart_polls_the_same_task(fake: RunwayFake, tmp_path: Path) -> None:
    spec = make_spec("runway/veo3.1_fast", "img2vid", tmp_path)

    async def first() -> str:
        b = backend(tmp_path)
        job = await b.submit(spec)
        await b.poll(job)
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


def test_the_secret_never_reaches_logs_errors_or_the_file_host(
    fake: RunwayFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    generate(backend(tmp_path), make_spec("runway/gen4_turbo", "img2vid", tmp_path), out=tmp_path)
    with pytest.raises(BackendError) as info:
        asyncio.run(backend(tmp_path).poll("no-such-task"))
    assert SECRET not in caplog.text and SECRET not in str(info.value) and "runway →" in caplog.text
    assert fake.file_requests and all("authorization" not in r.headers for r in fake.file_requests)


@pytest.mark.slow
def test_the_runwayml_sdk_drives_the_fake(fake: RunwayFake, tmp_path: Path) -> None:
    runwayml = pytest.importorskip("runwayml")
    import base64

    client = runwayml.RunwayML(api_key=SECRET, base_url=fake.url, max_retries=0)
    image = "data:image/png;base64," + base64.b64encode(png(tmp_path / "a.png").read_bytes()).decode()
    created = client.image_to_video.create(
        model="gen4_turbo", prompt_image=image, prompt_text="a boat", ratio="1280:720", duration=5
    )
    seen = [client.tasks.retrieve(created.id) for _ in range(3)]
    assert [t.status for t in seen] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert seen[0].estimated_cost.credits == 25 and seen[-1].cost.credits == 25
    assert seen[-1].output[0].startswith("http://localhost:")
    text = client.text_to_video.create(
        model="veo3.1", prompt_text="a storm", ratio="1920:1080", duration=8, audio=True
    )
    client.tasks.delete(text.id)
    assert client.tasks.retrieve(text.id).status == "CANCELLED"
    with pytest.raises(runwayml.BadRequestError):
        client.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1920:1080", duration=5)
