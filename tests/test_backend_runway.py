"""Runway adapter: its wire format against a fake of Runway's API, and the runwayml SDK on the same fake (the
money rules every adapter keeps are in test_backend_contract.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.runway import RunwayBackend
from shotlist.catalog import catalog
from tests.fakes.hosted import FAIL, REFUSE, each_model_and_mode, full_spec, generate, make_spec, png
from tests.fakes.providers import RUNWAY
from tests.fakes.runway import SECRET, RunwayFake

fake = RUNWAY.fixture()


@each_model_and_mode("runway")
def test_every_runway_model_and_mode_sends_runways_fields_and_reports_its_cost(
    fake: RunwayFake, tmp_path: Path, model: str, mode: str, last: bool
) -> None:
    entry = catalog()[model]
    spec = full_spec(model, mode, tmp_path, last=last)
    job_id, job, status = fake.made(RunwayBackend(tmp_path), spec, tmp_path)
    assert job_id == job.id and job.body["model"] == entry.endpoint[mode] and job.body["seed"] == 7
    assert job.body["ratio"] == "1280:720" and job.body["duration"] == int(spec.duration)
    if last:
        assert [i["position"] for i in job.body["promptImage"]] == ["first", "last"]
    elif mode == "img2vid":
        assert job.body["promptImage"].startswith("data:image/png;base64,")
    credits = {"gen4_turbo": 5, "gen4.5": 12, "veo3.1": 40, "veo3.1_fast": 15}[job.body["model"]]
    assert status.cost == pytest.approx(0.01 * credits * spec.duration)


def test_veo_on_runway_at_1080p_vertical_asks_for_the_1080_ratio(fake: RunwayFake, tmp_path: Path) -> None:
    spec = make_spec("runway/veo3.1", "txt2vid", tmp_path, size=(1080, 1920), aspect="9:16", audio=True)
    generate(RunwayBackend(tmp_path), spec, out=tmp_path)
    body = next(iter(fake.jobs.values())).body
    assert body["ratio"] == "1080:1920" and body["audio"] is True


def test_a_throttled_task_waits_as_queued_and_then_runs(fake: RunwayFake, tmp_path: Path) -> None:
    fake.throttle, fake.polls_to_finish = True, 4
    b = RunwayBackend(tmp_path)

    async def go() -> list[JobStatus]:
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


def test_a_rejected_request_names_runways_issues_and_is_no_refusal(fake: RunwayFake, tmp_path: Path) -> None:
    spec = make_spec("runway/gen4.5", "txt2vid", tmp_path, prompt="a storm " * 150)  # over 1000 characters
    with pytest.raises(BackendError) as info:
        asyncio.run(RunwayBackend(tmp_path).submit(spec))
    assert str(info.value) == "runway: Validation of body failed; Required, at most 1000 characters"
    assert not info.value.refused and not info.value.retryable and fake.submissions == 0


@pytest.mark.parametrize(
    "marker,state,message,cost",
    [
        (
            REFUSE,
            JobState.REFUSED,
            "runway: Your prompt was flagged by our content moderation system. (SAFETY.INPUT.TEXT)",
            0,
        ),
        (FAIL, JobState.FAILED, "runway: An unexpected error occurred. (INTERNAL)", 0),
    ],
)
def test_a_failure_code_maps_to_refused_or_failed_with_runways_reason(
    fake: RunwayFake, tmp_path: Path, marker: str, state: JobState, message: str, cost: float
) -> None:
    spec = make_spec("runway/gen4.5", "txt2vid", tmp_path, prompt=f"x {marker}")
    [(_, status)] = generate(RunwayBackend(tmp_path), spec, out=tmp_path)
    assert (status.state, status.message, status.cost) == (state, message, cost)


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
