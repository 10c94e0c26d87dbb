"""Seedance on BytePlus ModelArk / Volcengine Ark, against a fake that speaks Ark's task protocol."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from shotlist.backends.ark import ArkBackend
from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.http import poll_until
from shotlist.spec import MediaInput, ShotSpec
from tests.fakes.ark import FakeArk
from tests.media_factory import make_clip

KEY = "ark-test-key-0123456789"
VOLC_KEY = "volc-test-key-9876543210"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", seconds=1, audio=False).read_bytes()


@pytest.fixture
def fake(video: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArk]:
    with FakeArk(KEY, video=video) as f:
        monkeypatch.setenv("ARK_API_KEY", KEY)
        monkeypatch.setenv("SHOTLIST_ARK_URL", f.base)
        yield f


def image(tmp_path: Path, name: str, colour: str = "red") -> MediaInput:
    path = tmp_path / f"{name}.png"
    Image.new("RGB", (400, 320), colour).save(path)
    return MediaInput(
        role="image",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        width=400,
        height=320,
        path=str(path),
        name=name,
    )


def as_role(media: MediaInput, role: str) -> MediaInput:
    return MediaInput(
        role=role,
        sha256=media.sha256,
        width=media.width,
        height=media.height,
        path=media.path,
        name=media.name,
    )


def spec(
    model: str = "ark/seedance-1.0-lite",
    mode: str = "txt2vid",
    *,
    prompt: str = "A kitsune mask rests on moss.",
    inputs: tuple[MediaInput, ...] = (),
    shot: str = "mask",
    **kw: Any,
) -> ShotSpec:
    return ShotSpec(
        shot=shot,
        backend="ark",
        model=model,
        mode=mode,
        prompt=prompt,
        duration=kw.pop("duration", 5),
        width=1280,
        height=720,
        aspect="16:9",
        fps=24,
        inputs=inputs,
        **kw,
    )


async def run(backend: ArkBackend, s: ShotSpec, dest: Path, job: str | None = None) -> tuple[str, JobStatus]:
    """Submit (unless given a job), poll until done, fetch on success: what the engine does."""
    job = job or await backend.submit(s)

    async def check() -> JobStatus | None:
        status = await backend.poll(job)
        return status if status.done else None

    status = await poll_until(check, deadline_s=20, first=0.0, cap=0.0)
    if status.state is JobState.SUCCEEDED:
        await backend.fetch(job, dest)
    return job, status


def go(coro: Any) -> Any:
    return asyncio.run(coro)


def test_txt2vid_sends_a_seedance_task_and_downloads_the_clip(fake: FakeArk, tmp_path: Path) -> None:
    async def main() -> tuple[str, JobStatus]:
        b = ArkBackend(tmp_path)
        try:
            return await run(
                b, spec(seed=11, params={"camera": {"move": "static", "speed": "slow"}}), tmp_path / "o.mp4"
            )
        finally:
            await b.aclose()

    job, status = go(main())
    body = fake.submits()[0].json()
    assert body["model"] == "seedance-1-0-lite-t2v-250428"
    assert body["content"] == [{"type": "text", "text": "A kitsune mask rests on moss."}]
    assert (body["ratio"], body["duration"], body["resolution"], body["seed"]) == ("16:9", 5, "720p", 11)
    assert body["camera_fixed"] is True and body["watermark"] is False and body["return_last_frame"] is True
    assert "generate_audio" not in body  # Lite makes no audio: the field is not sent
    assert status.state is JobState.SUCCEEDED
    assert (tmp_path / "o.mp4").read_bytes() == fake.video
    tokens = 1280 * 720 * 24 * 5 // 1024
    assert status.cost == round(tokens * 1.0 / 1e6, 4)  # usage × the catalog's token price
    download = fake.calls("GET", r"/tos/")[0]
    assert "authorization" not in download.headers  # the key never goes to the bucket host


def test_img2vid_sends_first_and_last_frames_as_data_uris(fake: FakeArk, tmp_path: Path) -> None:
    first, last = image(tmp_path, "a", "red"), as_role(image(tmp_path, "b", "blue"), "end_image")

    async def main() -> JobStatus:
        b = ArkBackend(tmp_path)
        s = spec(
            "ark/seedance-1.0-pro", "img2vid", inputs=(first, last), params={"camera": {"move": "dolly-in"}}
        )
        status = (await run(b, s, tmp_path / "o.mp4"))[1]
        await b.aclose()
        return status

    assert go(main()).state is JobState.SUCCEEDED
    body = fake.submits()[0].json()
    assert body["model"] == "seedance-1-0-pro-250528"
    roles = [(c["type"], c.get("role")) for c in body["content"]]
    assert roles == [("text", None), ("image_url", "first_frame"), ("image_url", "last_frame")]
    sent = base64.b64decode(body["content"][1]["image_url"]["url"].split(",", 1)[1])
    assert sent == Path(first.path).read_bytes()  # within limits: the file itself, unchanged
    assert "camera_fixed" not in body  # a moving camera is the prompt's business


def test_ref2vid_sends_reference_images(fake: FakeArk, tmp_path: Path) -> None:
    refs = tuple(as_role(image(tmp_path, n, c), "ref") for n, c in (("mika", "red"), ("umbrella", "yellow")))

    async def main() -> JobStatus:
        b = ArkBackend(tmp_path)
        status = (await run(b, spec(mode="ref2vid", inputs=refs), tmp_path / "o.mp4"))[1]
        await b.aclose()
        return status

    assert go(main()).state is JobState.SUCCEEDED
    body = fake.submits()[0].json()
    assert body["model"] == "seedance-1-0-lite-i2v-250428"
    assert [c.get("role") for c in body["content"][1:]] == ["reference_image", "reference_image"]


def test_mixing_frames_and_references_is_refused_before_any_request(fake: FakeArk, tmp_path: Path) -> None:
    inputs = (image(tmp_path, "a"), as_role(image(tmp_path, "r"), "ref"))
    b = ArkBackend(tmp_path)
    with pytest.raises(BackendError, match="cannot mix first/last frames with reference images") as info:
        go(b.submit(spec(mode="ref2vid", inputs=inputs)))
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
        f"{fake.base}/contents/generations/tasks", json=body, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert r.status_code == 400 and not fake.tasks


def test_a_fifth_of_requests_failing_still_finishes_with_one_task_per_shot(
    fake: FakeArk, tmp_path: Path
) -> None:
    fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
    specs = [spec(shot=f"s{i}", prompt=f"Shot number {i} of a kitsune mask.") for i in range(8)]

    async def main() -> list[tuple[str, JobStatus]]:
        b = ArkBackend(tmp_path)
        try:
            return await asyncio.gather(*(run(b, s, tmp_path / f"{s.shot}.mp4") for s in specs))
        finally:
            await b.aclose()

    results = go(main())
    assert all(status.state is JobState.SUCCEEDED for _, status in results)
    assert len(fake.tasks) == 8 and len({job for job, _ in results}) == 8  # no shot paid twice
    refused = [r for r in fake.log if r.path.endswith("/tasks") and r.method == "POST"]
    assert len(refused) > 8  # faults did hit submits, and were retried safely
    assert all((tmp_path / f"{s.shot}.mp4").read_bytes() == fake.video for s in specs)


def test_output_moderation_is_a_refusal_that_records_what_was_charged(fake: FakeArk, tmp_path: Path) -> None:
    async def main() -> JobStatus:
        b = ArkBackend(tmp_path)
        status = (await run(b, spec(prompt="REFUSE_OUTPUT a scene"), tmp_path / "o.mp4"))[1]
        await b.aclose()
        return status

    status = go(main())
    assert status.state is JobState.REFUSED
    assert status.message is not None and status.message.startswith("OutputVideoSensitiveContentDetected")
    assert status.cost is not None and status.cost > 0  # rendered in full, then refused: billed
    assert not (tmp_path / "o.mp4").exists() and len(fake.submits()) == 1


def test_input_moderation_at_creation_is_a_refusal_and_makes_no_task(fake: FakeArk, tmp_path: Path) -> None:
    b = ArkBackend(tmp_path)
    with pytest.raises(BackendError, match="InputTextSensitiveContentDetected") as info:
        go(b.submit(spec(prompt="BLOCKED_INPUT text")))
    assert info.value.refused and not info.value.retryable and not fake.tasks


def test_an_expired_link_is_signed_again_not_paid_again(fake: FakeArk, tmp_path: Path) -> None:
    async def main() -> None:
        b = ArkBackend(tmp_path)
        job, status = await run(b, spec(), tmp_path / "first.mp4")
        fake.expire_links()  # the day passed: every link handed out so far is dead,
        fake.stale_reads = 1  # and the next read still hands out a dead one
        await b.fetch(job, tmp_path / "again.mp4")
        await b.aclose()

    go(main())
    assert (tmp_path / "again.mp4").read_bytes() == fake.video
    assert len(fake.submits()) == 1 and len(fake.tasks) == 1
    assert len(fake.calls("GET", r"/tos/")) == 3  # first fetch; the dead link (403); the fresh one


def test_a_restarted_backend_polls_the_same_task(fake: FakeArk, tmp_path: Path) -> None:
    fake.polls = 4

    async def first_process() -> str:
        b = ArkBackend(tmp_path)
        job = await b.submit(spec())
        assert (await b.poll(job)).state is JobState.RUNNING
        await b.aclose()  # killed while polling
        return job

    job = go(first_process())

    async def second_process() -> JobStatus:
        b = ArkBackend(tmp_path)
        status = (await run(b, spec(), tmp_path / "o.mp4", job=job))[1]
        await b.aclose()
        return status

    assert go(second_process()).state is JobState.SUCCEEDED
    assert len(fake.submits()) == 1 and (tmp_path / "o.mp4").read_bytes() == fake.video


def test_the_key_never_reaches_logs_or_errors(
    fake: FakeArk, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.faults.rate_5xx = 0.3
    go(run(ArkBackend(tmp_path), spec(), tmp_path / "o.mp4"))
    monkeypatch.setenv("ARK_API_KEY", "ark-wrong-key-5555555555")
    with pytest.raises(BackendError) as info:
        go(ArkBackend(tmp_path).submit(spec()))
    assert "HTTP 401" in str(info.value)
    for text in (caplog.text, str(info.value)):
        assert KEY not in text and "ark-wrong-key-5555555555" not in text


def test_volcengine_models_use_their_own_key_and_model_ids(
    fake: FakeArk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.key = VOLC_KEY
    monkeypatch.setenv("VOLCENGINE_ARK_API_KEY", VOLC_KEY)

    async def main() -> JobStatus:
        b = ArkBackend(tmp_path)
        status = (await run(b, spec("volcengine/seedance-1.0-pro"), tmp_path / "o.mp4"))[1]
        await b.aclose()
        return status

    assert go(main()).state is JobState.SUCCEEDED
    assert fake.submits()[0].json()["model"] == "doubao-seedance-1-0-pro-250528"


def test_native_audio_is_asked_for_and_costed_at_the_audio_token_price(fake: FakeArk, tmp_path: Path) -> None:
    async def main() -> JobStatus:
        b = ArkBackend(tmp_path)
        status = (await run(b, spec("ark/seedance-1.5-pro", audio=True, duration=4), tmp_path / "o.mp4"))[1]
        await b.aclose()
        return status

    status = go(main())
    assert fake.submits()[0].json()["generate_audio"] is True
    assert status.cost == round((1280 * 720 * 24 * 4 // 1024) * 2.4 / 1e6, 4)


def test_each_region_sends_its_own_key_from_one_backend(
    fake: FakeArk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOLCENGINE_ARK_API_KEY", VOLC_KEY)

    async def main() -> None:
        b = ArkBackend(tmp_path)
        await b.submit(spec("ark/seedance-1.0-pro"))
        with pytest.raises(BackendError, match="HTTP 401"):  # the fake holds the BytePlus key only
            await b.submit(spec("volcengine/seedance-1.0-pro"))
        await b.aclose()

    asyncio.run(main())
    assert [r.headers["authorization"] for r in fake.submits()] == [f"Bearer {KEY}", f"Bearer {VOLC_KEY}"]
