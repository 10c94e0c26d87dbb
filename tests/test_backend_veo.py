"""Veo through the Gemini API, against a fake that speaks its long-running-operation protocol."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.http import poll_until
from shotlist.backends.veo import VeoBackend
from shotlist.spec import MediaInput, ShotSpec
from tests.fakes.veo import FakeVeo
from tests.media_factory import make_clip

KEY = "gemini-test-key-0123456789"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", seconds=1, audio=False).read_bytes()


@pytest.fixture
def fake(video: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVeo]:
    with FakeVeo(KEY, video=video) as f:
        monkeypatch.delenv("GEMINI_API_KEY", raising=False)
        monkeypatch.setenv("GOOGLE_API_KEY", KEY)  # the alias works too
        monkeypatch.setenv("SHOTLIST_VEO_URL", f.url)
        yield f


def image(tmp_path: Path, name: str, role: str = "image", colour: str = "red") -> MediaInput:
    path = tmp_path / f"{name}.png"
    Image.new("RGB", (320, 180), colour).save(path)
    return MediaInput(
        role=role,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        width=320,
        height=180,
        path=str(path),
        name=name,
    )


def spec(
    model: str = "veo/veo-3.0-fast",
    mode: str = "txt2vid",
    *,
    prompt: str = "Close-up: a kitsune mask on moss.",
    inputs: tuple[MediaInput, ...] = (),
    shot: str = "mask",
    **kw: Any,
) -> ShotSpec:
    return ShotSpec(
        shot=shot,
        backend="veo",
        model=model,
        mode=mode,
        prompt=prompt,
        duration=kw.pop("duration", 8),
        width=1280,
        height=720,
        aspect="16:9",
        fps=24,
        inputs=inputs,
        **kw,
    )


async def run(backend: VeoBackend, s: ShotSpec, dest: Path, job: str | None = None) -> tuple[str, JobStatus]:
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
        b = VeoBackend(tmp_path)
        try:
            return (await run(b, s, tmp_path / "o.mp4"))[1]
        finally:
            await b.aclose()

    return asyncio.run(main())


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
    assert (tmp_path / "o.mp4").read_bytes() == fake.video
    assert fake.calls("GET", r":download$")[0].headers["x-goog-api-key"] == KEY  # the file needs the key


def test_img2vid_sends_first_and_last_frames_as_base64(fake: FakeVeo, tmp_path: Path) -> None:
    first, last = image(tmp_path, "a"), image(tmp_path, "b", "end_image", "blue")
    status = build(tmp_path, spec("veo/veo-3.1", "img2vid", inputs=(first, last), duration=6))
    assert status.state is JobState.SUCCEEDED
    inst = fake.submits()[0].json()["instances"][0]
    assert base64.b64decode(inst["image"]["bytesBase64Encoded"]) == Path(first.path).read_bytes()
    assert inst["image"]["mimeType"] == "image/png" and "lastFrame" in inst
    assert fake.submits()[0].json()["parameters"]["personGeneration"] == "allow_adult"


def test_ref2vid_sends_asset_reference_images(fake: FakeVeo, tmp_path: Path) -> None:
    refs = (image(tmp_path, "mika", "ref"), image(tmp_path, "umbrella", "ref", "yellow"))
    assert build(tmp_path, spec("veo/veo-3.1", "ref2vid", inputs=refs)).state is JobState.SUCCEEDED
    inst = fake.submits()[0].json()["instances"][0]
    assert [r["referenceType"] for r in inst["referenceImages"]] == ["asset", "asset"]
    assert "image" not in inst


def test_references_with_frames_are_refused_before_any_request(fake: FakeVeo, tmp_path: Path) -> None:
    inputs = (image(tmp_path, "a"), image(tmp_path, "r", "ref"))
    with pytest.raises(BackendError, match="reference images or first/last frames"):
        asyncio.run(VeoBackend(tmp_path).submit(spec("veo/veo-3.1", "ref2vid", inputs=inputs)))
    assert fake.log == []


def test_a_filtered_video_is_a_refusal_with_googles_reason(fake: FakeVeo, tmp_path: Path) -> None:
    status = build(tmp_path, spec(prompt="REFUSE_OUTPUT a crowd"))
    assert status.state is JobState.REFUSED
    assert status.message is not None and "safety settings for person generation" in status.message
    assert not (tmp_path / "o.mp4").exists()


def test_a_prompt_blocked_at_creation_is_a_refusal(fake: FakeVeo, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="Responsible AI") as info:
        asyncio.run(VeoBackend(tmp_path).submit(spec(prompt="BLOCKED_INPUT")))
    assert info.value.refused and not fake.operations


def test_a_fifth_of_requests_failing_still_finishes_with_one_operation_per_shot(
    fake: FakeVeo, tmp_path: Path
) -> None:
    fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
    specs = [spec(shot=f"s{i}", prompt=f"Shot {i}: a kitsune mask on moss.") for i in range(8)]

    async def main() -> list[tuple[str, JobStatus]]:
        b = VeoBackend(tmp_path)
        try:
            return await asyncio.gather(*(run(b, s, tmp_path / f"{s.shot}.mp4") for s in specs))
        finally:
            await b.aclose()

    results = asyncio.run(main())
    assert all(status.state is JobState.SUCCEEDED for _, status in results)
    assert len(fake.operations) == 8 and len(fake.submits()) > 8  # faults hit submits; none made two jobs
    assert all((tmp_path / f"{s.shot}.mp4").read_bytes() == fake.video for s in specs)


def test_an_expired_file_is_looked_up_again_not_paid_again(fake: FakeVeo, tmp_path: Path) -> None:
    async def main() -> None:
        b = VeoBackend(tmp_path)
        job, _ = await run(b, spec(), tmp_path / "first.mp4")
        fake.stale_reads = 1  # the next read names a file that is gone by the time it is fetched
        await b.fetch(job, tmp_path / "again.mp4")
        await b.aclose()

    asyncio.run(main())
    assert (tmp_path / "again.mp4").read_bytes() == fake.video
    assert len(fake.submits()) == 1 and len(fake.calls("GET", r":download$")) == 3


def test_a_restarted_backend_polls_the_same_operation(fake: FakeVeo, tmp_path: Path) -> None:
    fake.polls = 4

    async def first_process() -> str:
        b = VeoBackend(tmp_path)
        job = await b.submit(spec())
        assert (await b.poll(job)).state is JobState.RUNNING
        await b.aclose()
        return job

    job = asyncio.run(first_process())

    async def second_process() -> JobStatus:
        b = VeoBackend(tmp_path)
        try:
            return (await run(b, spec(), tmp_path / "o.mp4", job=job))[1]
        finally:
            await b.aclose()

    assert asyncio.run(second_process()).state is JobState.SUCCEEDED
    assert len(fake.submits()) == 1


def test_the_key_never_reaches_logs_or_errors(
    fake: FakeVeo, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.faults.rate_5xx = 0.3
    build(tmp_path, spec())
    monkeypatch.setenv("GOOGLE_API_KEY", "gemini-wrong-key-4444444")
    with pytest.raises(BackendError) as info:
        asyncio.run(VeoBackend(tmp_path).poll(f"veo/veo-3.0-fast::{next(iter(fake.operations))}"))
    assert "API key not valid" in str(info.value)
    for text in (caplog.text, str(info.value)):
        assert KEY not in text and "gemini-wrong-key-4444444" not in text
