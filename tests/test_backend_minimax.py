"""MiniMax Hailuo, against a fake that speaks its task → file → download-URL protocol."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.http import poll_until
from shotlist.backends.minimax import MiniMaxBackend
from shotlist.spec import MediaInput, ShotSpec
from tests.fakes.minimax import FakeMiniMax
from tests.media_factory import make_clip

KEY = "minimax-test-key-0123456789"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", seconds=1, audio=False).read_bytes()


@pytest.fixture
def fake(video: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMiniMax]:
    with FakeMiniMax(KEY, video=video) as f:
        monkeypatch.setenv("MINIMAX_API_KEY", KEY)
        monkeypatch.setenv("SHOTLIST_MINIMAX_URL", f.url)
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
    model: str = "minimax/hailuo-02",
    mode: str = "txt2vid",
    *,
    shot: str = "mask",
    prompt: str = "Close-up of a kitsune mask. [Static shot] Mist swirls.",
    inputs: tuple[MediaInput, ...] = (),
    duration: float = 6,
    height: int = 720,
) -> ShotSpec:
    return ShotSpec(
        shot=shot,
        backend="minimax",
        model=model,
        mode=mode,
        prompt=prompt,
        duration=duration,
        width=height * 16 // 9,
        height=height,
        aspect="16:9",
        fps=24,
        inputs=inputs,
    )


async def run(
    backend: MiniMaxBackend, s: ShotSpec, dest: Path, job: str | None = None
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
        b = MiniMaxBackend(tmp_path)
        try:
            return (await run(b, s, tmp_path / "o.mp4"))[1]
        finally:
            await b.aclose()

    return asyncio.run(main())


def test_txt2vid_goes_task_file_download(fake: FakeMiniMax, tmp_path: Path) -> None:
    status = build(tmp_path, spec())
    assert status.state is JobState.SUCCEEDED
    assert fake.submits()[0].json() == {
        "model": "MiniMax-Hailuo-02",
        "duration": 6,
        "resolution": "768P",
        "prompt": "Close-up of a kitsune mask. [Static shot] Mist swirls.",
        "prompt_optimizer": False,
    }
    assert (tmp_path / "o.mp4").read_bytes() == fake.video
    assert len(fake.calls("GET", r"/files/retrieve")) == 1
    assert "authorization" not in fake.calls("GET", r"/cdn/")[0].headers  # the key stays off the CDN


def test_a_480p_txt2vid_shot_is_moved_up_to_768p_since_512p_needs_an_image(
    fake: FakeMiniMax, tmp_path: Path
) -> None:
    assert build(tmp_path, spec(height=480)).state is JobState.SUCCEEDED
    assert fake.submits()[0].json()["resolution"] == "768P"


def test_img2vid_sends_first_and_last_frames(fake: FakeMiniMax, tmp_path: Path) -> None:
    first, last = image(tmp_path, "a"), image(tmp_path, "b", "end_image", "blue")
    assert (
        build(tmp_path, spec(mode="img2vid", inputs=(first, last), duration=10, height=480)).state
        is JobState.SUCCEEDED
    )
    body = fake.submits()[0].json()
    assert body["first_frame_image"].startswith("data:image/png;base64,")
    assert body["last_frame_image"].startswith("data:image/png;base64,")
    assert (body["resolution"], body["duration"]) == ("512P", 10)


def test_ref2vid_sends_a_subject_reference(fake: FakeMiniMax, tmp_path: Path) -> None:
    ref = image(tmp_path, "mika", "ref")
    assert build(tmp_path, spec("minimax/s2v-01", "ref2vid", inputs=(ref,))).state is JobState.SUCCEEDED
    body = fake.submits()[0].json()
    assert body["model"] == "S2V-01" and body["resolution"] == "720P"
    assert (
        body["subject_reference"][0]["type"] == "character"
        and len(body["subject_reference"][0]["image"]) == 1
    )


def test_output_moderation_is_a_refusal_with_minimaxs_reason(fake: FakeMiniMax, tmp_path: Path) -> None:
    status = build(tmp_path, spec(prompt="REFUSE_OUTPUT scene"))
    assert status.state is JobState.REFUSED
    assert status.message == "MiniMax error 1027: output video contains sensitive content"


def test_a_sensitive_prompt_is_refused_at_creation(fake: FakeMiniMax, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="1026: video description contains sensitive content") as info:
        asyncio.run(MiniMaxBackend(tmp_path).submit(spec(prompt="BLOCKED_INPUT")))
    assert info.value.refused and not fake.tasks and len(fake.submits()) == 1


def test_http_faults_and_minimax_rate_limit_codes_finish_with_one_task_per_shot(
    fake: FakeMiniMax, tmp_path: Path
) -> None:
    fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
    fake.rate_limit_next = 3  # and MiniMax's own "1002 rate limit exceeded" in a 200
    specs = [spec(shot=f"s{i}", prompt=f"Shot {i}. [Pan left] Leaves drift.") for i in range(8)]

    async def main() -> list[tuple[str, JobStatus]]:
        b = MiniMaxBackend(tmp_path)
        try:
            return await asyncio.gather(*(run(b, s, tmp_path / f"{s.shot}.mp4") for s in specs))
        finally:
            await b.aclose()

    results = asyncio.run(main())
    assert all(status.state is JobState.SUCCEEDED for _, status in results)
    assert len(fake.tasks) == 8 and len(fake.submits()) > 8 and fake.rate_limit_next == 0
    assert all((tmp_path / f"{s.shot}.mp4").read_bytes() == fake.video for s in specs)


def test_an_expired_download_url_is_retrieved_again_not_paid_again(fake: FakeMiniMax, tmp_path: Path) -> None:
    fake.stale_reads = 1
    assert build(tmp_path, spec()).state is JobState.SUCCEEDED
    assert (tmp_path / "o.mp4").read_bytes() == fake.video
    assert len(fake.submits()) == 1 and len(fake.calls("GET", r"/files/retrieve")) == 2


def test_a_restarted_backend_polls_the_same_task(fake: FakeMiniMax, tmp_path: Path) -> None:
    fake.polls = 5

    async def first_process() -> str:
        b = MiniMaxBackend(tmp_path)
        job = await b.submit(spec())
        assert (await b.poll(job)).state is JobState.QUEUED
        await b.aclose()
        return job

    job = asyncio.run(first_process())

    async def second_process() -> JobStatus:
        b = MiniMaxBackend(tmp_path)
        try:
            return (await run(b, spec(), tmp_path / "o.mp4", job=job))[1]
        finally:
            await b.aclose()

    assert asyncio.run(second_process()).state is JobState.SUCCEEDED
    assert len(fake.submits()) == 1


def test_the_key_never_reaches_logs_or_errors(
    fake: FakeMiniMax, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.faults.rate_5xx = 0.3
    build(tmp_path, spec())
    monkeypatch.setenv("MINIMAX_API_KEY", "minimax-wrong-key-333333")
    with pytest.raises(BackendError) as info:
        asyncio.run(MiniMaxBackend(tmp_path).submit(spec()))
    assert "1004" in str(info.value) and not info.value.retryable
    for text in (caplog.text, str(info.value)):
        assert KEY not in text and "minimax-wrong-key-333333" not in text
