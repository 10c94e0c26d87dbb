"""Kling, against a fake that verifies its JWTs and speaks its task protocol."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from shotlist.backends.base import BackendError, JobState, JobStatus, SubmitUnknown
from shotlist.backends.http import poll_until
from shotlist.backends.kling import KlingBackend, kling_jwt
from shotlist.spec import MediaInput, ShotSpec
from tests.fakes.kling import FakeKling, verify_jwt
from tests.media_factory import make_clip

AK, SK = "kling-ak-0123456789", "kling-sk-abcdefghijklmnop"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", seconds=1, audio=False).read_bytes()


@pytest.fixture
def fake(video: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKling]:
    with FakeKling(AK, SK, video=video) as f:
        monkeypatch.setenv("KLING_ACCESS_KEY", AK)
        monkeypatch.setenv("KLING_SECRET_KEY", SK)
        monkeypatch.setenv("SHOTLIST_KLING_URL", f.base)
        yield f


def image(tmp_path: Path, name: str, role: str = "image", colour: str = "red") -> MediaInput:
    path = tmp_path / f"{name}.png"
    Image.new("RGB", (480, 320), colour).save(path)
    return MediaInput(
        role=role,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        width=480,
        height=320,
        path=str(path),
        name=name,
    )


def spec(
    model: str = "kling/v1-std",
    mode: str = "txt2vid",
    *,
    shot: str = "mask",
    move: str = "static",
    speed: str = "medium",
    prompt: str = "Close-up of a kitsune mask on moss.",
    take: int = 1,
    inputs: tuple[MediaInput, ...] = (),
    negative: str | None = None,
) -> ShotSpec:
    return ShotSpec(
        shot=shot,
        backend="kling",
        model=model,
        mode=mode,
        prompt=prompt,
        duration=5,
        width=1280,
        height=720,
        aspect="16:9",
        fps=24,
        inputs=inputs,
        negative=negative,
        take=take,
        params={"camera": {"move": move, "speed": speed}},
    )


async def run(
    backend: KlingBackend, s: ShotSpec, dest: Path, job: str | None = None
) -> tuple[str, JobStatus]:
    """Submit (unless given a job), poll until done, fetch on success: what the engine does."""
    job = job or await backend.submit(s)

    async def check() -> JobStatus | None:
        status = await backend.poll(job)
        return status if status.done else None

    status = await poll_until(check, deadline_s=20, first=0.0, cap=0.0)
    if status.state is JobState.SUCCEEDED:
        await backend.fetch(job, dest)
    return job, status


def build(tmp_path: Path, s: ShotSpec) -> JobStatus:
    async def main() -> JobStatus:
        b = KlingBackend(tmp_path)
        try:
            return (await run(b, s, tmp_path / "o.mp4"))[1]
        finally:
            await b.aclose()

    return asyncio.run(main())


def test_the_jwt_is_hs256_from_the_access_key_and_verifies_as_kling_checks_it() -> None:
    now = time.time()
    token = kling_jwt(AK, SK, now=now)
    assert verify_jwt(token, AK, SK, now=now) is None
    assert verify_jwt(token, AK, "another-secret", now=now) == "signature invalid"
    assert verify_jwt(token, "another-ak", SK, now=now) == "issuer is not an access key of this account"
    assert verify_jwt(token, AK, SK, now=now + 1801) == "token expired"
    assert verify_jwt(token, AK, SK, now=now - 60) == "token not yet valid"
    head, body, sig = token.split(".")
    tampered = base64.urlsafe_b64encode(body.encode() + b"x").decode().rstrip("=")
    assert verify_jwt(f"{head}.{tampered}.{sig}", AK, SK, now=now) in (
        "signature invalid",
        "token is not decodable",
    )
    assert verify_jwt(kling_jwt(AK, SK, now=now, ttl=7200), AK, SK, now=now) is None  # capped at 30 minutes


def test_txt2vid_sends_the_prompt_and_no_camera_control_for_a_static_shot(
    fake: FakeKling, tmp_path: Path
) -> None:
    status = build(tmp_path, spec(negative="blur, text"))
    assert status.state is JobState.SUCCEEDED and fake.jwt_errors == []
    req = fake.submits()[0]
    assert req.path == "/v1/videos/text2video"
    body = req.json()
    assert {
        k: body[k] for k in ("model_name", "mode", "duration", "aspect_ratio", "negative_prompt", "cfg_scale")
    } == {
        "model_name": "kling-v1",
        "mode": "std",
        "duration": "5",
        "aspect_ratio": "16:9",
        "negative_prompt": "blur, text",
        "cfg_scale": 0.5,
    }
    assert "camera_control" not in body and len(body["external_task_id"]) == 32
    assert (tmp_path / "o.mp4").read_bytes() == fake.video
    assert "authorization" not in fake.calls("GET", r"/kcdn/")[0].headers


@pytest.mark.parametrize(
    ("move", "speed", "axis", "value"),
    [
        ("pan-left", "slow", "tilt", -3.0),
        ("tilt-up", "fast", "pan", 8.0),
        ("dolly-in", "medium", "zoom", -5.0),
        ("truck-right", "medium", "horizontal", 5.0),
        ("pedestal-down", "slow", "vertical", -3.0),
    ],
)
def test_a_camera_move_becomes_kling_camera_control(
    fake: FakeKling, tmp_path: Path, move: str, speed: str, axis: str, value: float
) -> None:
    assert build(tmp_path, spec(move=move, speed=speed)).state is JobState.SUCCEEDED
    control = fake.submits()[0].json()["camera_control"]
    assert control["type"] == "simple"
    assert {k: v for k, v in control["config"].items() if v} == {axis: value}


def test_a_move_with_no_single_axis_stays_in_the_prompt(fake: FakeKling, tmp_path: Path) -> None:
    assert build(tmp_path, spec(move="orbit-left")).state is JobState.SUCCEEDED
    assert "camera_control" not in fake.submits()[0].json()


def test_img2vid_sends_bare_base64_frames_and_drops_camera_control_for_a_tail(
    fake: FakeKling, tmp_path: Path
) -> None:
    first, last = image(tmp_path, "a"), image(tmp_path, "b", "end_image", "blue")
    assert (
        build(tmp_path, spec(mode="img2vid", inputs=(first, last), move="pan-left")).state
        is JobState.SUCCEEDED
    )
    req = fake.submits()[0]
    body = req.json()
    assert req.path == "/v1/videos/image2video" and "aspect_ratio" not in body
    assert base64.b64decode(body["image"]) == Path(first.path).read_bytes()
    assert base64.b64decode(body["image_tail"]) == Path(last.path).read_bytes()
    assert "camera_control" not in body
    assert fake.calls("GET", r"/v1/videos/image2video/")  # polled under its own kind


def test_kling_2_models_send_no_cfg_scale_and_use_their_mode(fake: FakeKling, tmp_path: Path) -> None:
    s = spec("kling/v2.5-turbo-pro", "img2vid", inputs=(image(tmp_path, "a"),), move="zoom-in")
    assert build(tmp_path, s).state is JobState.SUCCEEDED
    body = fake.submits()[0].json()
    assert body["model_name"] == "kling-v2-5-turbo" and body["mode"] == "pro"
    assert (
        "cfg_scale" not in body and "camera_control" not in body
    )  # camera control only where the catalog says


def test_a_content_policy_answer_at_creation_is_a_refusal(fake: FakeKling, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="1301: Trigger the content security policy") as info:
        asyncio.run(KlingBackend(tmp_path).submit(spec(prompt="BLOCKED_INPUT")))
    assert info.value.refused and not fake.tasks


def test_a_task_failing_risk_control_is_a_refusal_with_its_reason(fake: FakeKling, tmp_path: Path) -> None:
    status = build(tmp_path, spec(prompt="REFUSE_OUTPUT scene"))
    assert status.state is JobState.REFUSED and status.message == "Failure to pass the risk control system"


def test_a_fifth_of_requests_failing_still_finishes_with_one_task_per_shot(
    fake: FakeKling, tmp_path: Path
) -> None:
    fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
    specs = [spec(shot=f"s{i}", prompt=f"Shot {i}: a kitsune mask on moss.") for i in range(8)]

    async def main() -> list[tuple[str, JobStatus]]:
        b = KlingBackend(tmp_path)
        try:
            return await asyncio.gather(*(run(b, s, tmp_path / f"{s.shot}.mp4") for s in specs))
        finally:
            await b.aclose()

    results = asyncio.run(main())
    assert all(status.state is JobState.SUCCEEDED for _, status in results)
    assert len(fake.tasks) == 8 and len(fake.submits()) > 8
    assert all((tmp_path / f"{s.shot}.mp4").read_bytes() == fake.video for s in specs)


def test_an_expired_video_link_is_looked_up_again_not_paid_again(fake: FakeKling, tmp_path: Path) -> None:
    async def main() -> None:
        b = KlingBackend(tmp_path)
        job, _ = await run(b, spec(), tmp_path / "first.mp4")
        fake.stale_reads = 1  # the next read names a link that is dead by the time it is fetched
        await b.fetch(job, tmp_path / "again.mp4")
        await b.aclose()

    asyncio.run(main())
    assert (tmp_path / "again.mp4").read_bytes() == fake.video
    assert len(fake.submits()) == 1 and len(fake.calls("GET", r"/kcdn/")) == 3


def test_a_restarted_backend_polls_the_same_task(fake: FakeKling, tmp_path: Path) -> None:
    fake.polls = 4

    async def first_process() -> str:
        b = KlingBackend(tmp_path)
        job = await b.submit(spec())
        assert (await b.poll(job)).state is JobState.RUNNING
        await b.aclose()
        return job

    job = asyncio.run(first_process())

    async def second_process() -> JobStatus:
        b = KlingBackend(tmp_path)
        try:
            return (await run(b, spec(), tmp_path / "o.mp4", job=job))[1]
        finally:
            await b.aclose()

    assert asyncio.run(second_process()).state is JobState.SUCCEEDED
    assert len(fake.submits()) == 1


def test_a_lost_submit_answer_is_recovered_by_external_task_id_not_resent(
    fake: FakeKling, tmp_path: Path
) -> None:
    fake.slow_answer_s = 1.5

    async def main() -> tuple[str | None, str | None]:
        b = KlingBackend(tmp_path)
        b.http.client.timeout = httpx.Timeout(0.5)
        with pytest.raises(SubmitUnknown):
            await b.submit(spec())
        b.http.client.timeout = httpx.Timeout(10.0)
        found = await b.recover(spec())
        never = await b.recover(spec(take=2))
        await b.aclose()
        return found, never

    found, never = asyncio.run(main())
    assert found is not None and found.endswith(next(iter(fake.tasks)))
    assert never is None and len(fake.submits()) == 1


def test_keys_and_tokens_never_reach_logs_or_errors(
    fake: FakeKling, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.faults.rate_5xx = 0.3
    build(tmp_path, spec())
    monkeypatch.setenv("KLING_SECRET_KEY", "kling-sk-wrong-2222222")
    with pytest.raises(BackendError) as info:
        asyncio.run(KlingBackend(tmp_path).submit(spec()))
    assert "signature invalid" in str(info.value)
    tokens = [r.headers["authorization"][7:] for r in fake.log if "authorization" in r.headers]
    for text in (caplog.text, str(info.value)):
        assert AK not in text and SK not in text and "kling-sk-wrong-2222222" not in text
        assert not any(t in text for t in tokens)
