"""fal adapter against a fake of fal's queue API (and fal-client driving the same fake)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import BackendError, JobState
from shotlist.backends.fal import FalBackend, app_path
from shotlist.backends.http import MissingCredentials
from shotlist.catalog import catalog
from tests.fakes.fal import KEY, FalFake
from tests.fakes.hosted import FAIL, REFUSE, SLOW, finish, make_spec, no_sleep


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FalFake]:
    with FalFake() as f:
        monkeypatch.setenv("SHOTLIST_FAL_URL", f.url)
        monkeypatch.setenv("FAL_KEY", KEY)
        yield f


def backend(tmp_path: Path) -> FalBackend:
    b = FalBackend(tmp_path)
    b.http.sleep = no_sleep
    return b


async def generate(b: FalBackend, spec: Any, dest: Path) -> tuple[str, Any]:
    job = await b.submit(spec)
    status = await finish(b, job)
    if status.state is JobState.SUCCEEDED:
        await b.fetch(job, dest)
    return job, status


CASES = [(m.id, mode, False) for m in catalog().values() if m.provider == "fal" for mode in m.modes]
CASES += [
    (m.id, "img2vid", True)
    for m in catalog().values()
    if m.provider == "fal" and "img2vid_last" in m.endpoint
]


@pytest.mark.parametrize(
    "model,mode,last", CASES, ids=[f"{m}-{mode}{'-last' if last else ''}" for m, mode, last in CASES]
)
def test_every_fal_model_and_mode_generates_a_clip(
    fake: FalFake, tmp_path: Path, model: str, mode: str, last: bool
) -> None:
    entry = catalog()[model]
    spec = make_spec(
        model,
        mode,
        tmp_path,
        end_image=last,
        refs=2 if mode == "ref2vid" else 0,
        seed=7 if entry.seed else None,
        negative="blurry" if entry.negative else None,
        audio=bool(entry.audio),
        params={"camera": {"move": "static"}},
    )
    b = backend(tmp_path)

    async def run() -> tuple[str, Any]:
        try:
            return await generate(b, spec, tmp_path / "out.mp4")
        finally:
            await b.aclose()

    job_id, status = asyncio.run(run())
    assert status.state is JobState.SUCCEEDED, status.message
    (job,) = fake.jobs.values()
    endpoint = entry.endpoint[f"{mode}_last" if last else mode]
    assert job_id == f"{endpoint}::{job.id}" and job.kind == endpoint
    body = job.body
    assert body[next(iter(k for k in body if k == "prompt"))] == spec.prompt
    images = [v for v in body.values() if isinstance(v, str) and v.startswith("data:image/png;base64,")]
    images += [v for v in body.values() if isinstance(v, list) for v in v]
    assert len(images) == len(spec.inputs)
    assert (
        base64.b64decode(images[0].split(",", 1)[1]) == Path(spec.inputs[0].path).read_bytes()
        if images
        else True
    )
    if "duration" in body:
        assert body["duration"] == entry.wire_duration(spec.duration)
    if entry.seed:
        assert body["seed"] == 7
    assert (tmp_path / "out.mp4").read_bytes() == f"fake-mp4 {job.id}".encode()
    assert job.extra["lifecycle"]  # asks fal to keep the output long enough to download


def test_veo31_with_a_last_frame_uses_the_first_last_endpoint_field_names(
    fake: FalFake, tmp_path: Path
) -> None:
    spec = make_spec("fal/veo3.1", "img2vid", tmp_path, end_image=True, duration=8, audio=True)
    asyncio.run(generate(backend(tmp_path), spec, tmp_path / "o.mp4"))
    (job,) = fake.jobs.values()
    assert job.kind == "fal-ai/veo3.1/first-last-frame-to-video"
    assert {"first_frame_url", "last_frame_url"} <= set(job.body) and "image_url" not in job.body
    assert job.body["duration"] == "8s" and job.body["generate_audio"] is True
    assert job.body["resolution"] == "720p" and job.body["aspect_ratio"] == "16:9"


def test_a_static_camera_asks_seedance_to_fix_the_camera(fake: FalFake, tmp_path: Path) -> None:
    spec = make_spec(
        "fal/seedance-1-lite",
        "txt2vid",
        tmp_path,
        duration=5,
        params={"camera": {"move": "static"}},
        size=(854, 480),
    )
    asyncio.run(generate(backend(tmp_path), spec, tmp_path / "o.mp4"))
    (job,) = fake.jobs.values()
    assert (
        job.body["camera_fixed"] is True and job.body["duration"] == "5" and job.body["resolution"] == "480p"
    )


def test_flaky_queue_completes_every_shot_with_one_submission_each(fake: FalFake, tmp_path: Path) -> None:
    fake.faults.rate_429, fake.faults.rate_5xx = 0.1, 0.1
    b = backend(tmp_path)
    specs = [
        make_spec("fal/kling-2.1-standard", "img2vid", tmp_path, shot=f"s{i}", prompt=f"shot {i} {SLOW}")
        for i in range(6)
    ]

    async def run() -> list[tuple[str, Any]]:
        return await asyncio.gather(*(generate(b, s, tmp_path / f"{s.shot}.mp4") for s in specs))

    results = asyncio.run(run())
    assert all(status.state is JobState.SUCCEEDED for _, status in results)
    assert fake.submissions == 6
    faulted = [r for r in fake.log if r.method == "POST"]
    assert len(faulted) > 6  # some submits were refused with 429/503 and sent again
    assert all((tmp_path / f"s{i}.mp4").exists() for i in range(6))


def test_a_content_policy_refusal_is_terminal_with_fals_reason(fake: FalFake, tmp_path: Path) -> None:
    spec = make_spec("fal/veo3", "txt2vid", tmp_path, prompt=f"something {REFUSE}")
    _, status = asyncio.run(generate(backend(tmp_path), spec, tmp_path / "o.mp4"))
    assert status.state is JobState.REFUSED
    assert "flagged by a content checker" in (status.message or "")
    assert fake.submissions == 1 and not (tmp_path / "o.mp4").exists()


def test_an_output_flagged_nsfw_is_a_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FalFake(nsfw_output=True) as f:
        monkeypatch.setenv("SHOTLIST_FAL_URL", f.url)
        monkeypatch.setenv("FAL_KEY", KEY)
        spec = make_spec("fal/seedance-1-lite", "txt2vid", tmp_path)
        _, status = asyncio.run(generate(backend(tmp_path), spec, tmp_path / "o.mp4"))
    assert status.state is JobState.REFUSED and "has_nsfw_concepts" in (status.message or "")


def test_a_failed_request_is_failed_not_refused(fake: FalFake, tmp_path: Path) -> None:
    spec = make_spec("fal/veo3", "txt2vid", tmp_path, prompt=f"x {FAIL}")
    _, status = asyncio.run(generate(backend(tmp_path), spec, tmp_path / "o.mp4"))
    assert status.state is JobState.FAILED and "Internal error" in (status.message or "")


def test_an_expired_result_link_is_fetched_again_not_paid_again(fake: FalFake, tmp_path: Path) -> None:
    b = backend(tmp_path)
    spec = make_spec("fal/veo3", "txt2vid", tmp_path)

    async def run() -> str:
        job = await b.submit(spec)
        assert (await finish(b, job)).state is JobState.SUCCEEDED
        fake.expire_links()  # the link read by poll dies before the download
        await b.fetch(job, tmp_path / "o.mp4")
        return job

    job = asyncio.run(run())
    assert fake.submissions == 1
    assert [r.path.split("/")[2] for r in fake.file_requests][0] != fake.file_requests[-1].path.split("/")[2]
    assert (tmp_path / "o.mp4").read_bytes() == f"fake-mp4 {job.split('::')[1]}".encode()


def test_a_new_backend_after_a_restart_polls_the_same_job(fake: FalFake, tmp_path: Path) -> None:
    spec = make_spec("fal/kling-2.5-turbo-pro", "txt2vid", tmp_path)

    async def first() -> str:
        b = backend(tmp_path)
        job = await b.submit(spec)
        await b.poll(job)
        await b.aclose()  # the process dies here
        return job

    job = asyncio.run(first())

    async def second() -> None:
        b = backend(tmp_path)
        assert (await finish(b, job)).state is JobState.SUCCEEDED
        await b.fetch(job, tmp_path / "o.mp4")
        await b.aclose()

    asyncio.run(second())
    assert fake.submissions == 1 and (tmp_path / "o.mp4").exists()
    assert app_path(job.split("::")[0]) == "fal-ai/kling-video"


def test_the_key_never_reaches_logs_errors_or_the_cdn(
    fake: FalFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    b = backend(tmp_path)

    async def run() -> None:
        await generate(b, make_spec("fal/veo3", "img2vid", tmp_path), tmp_path / "o.mp4")
        await b.poll("fal-ai/veo3::no-such-request")

    with pytest.raises(BackendError) as info:
        asyncio.run(run())
    assert KEY not in caplog.text and KEY.split(":")[1] not in caplog.text and KEY not in str(info.value)
    assert "fal →" in caplog.text  # requests were logged, redacted
    assert fake.file_requests and all("authorization" not in r.headers for r in fake.file_requests)


def test_a_wrong_key_is_a_clear_error_that_is_not_retried(
    fake: FalFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_KEY", "wrong-key-000000")
    with pytest.raises(BackendError, match="HTTP 401") as info:
        asyncio.run(backend(tmp_path).submit(make_spec("fal/veo3", "txt2vid", tmp_path)))
    assert not info.value.retryable and "wrong-key-000000" not in str(info.value)
    assert len(fake.calls("POST", "/fal-ai/veo3")) == 1


def test_a_missing_key_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAL_KEY", raising=False)
    with pytest.raises(MissingCredentials, match="FAL_KEY"):
        asyncio.run(FalBackend(tmp_path).submit(make_spec("fal/veo3", "txt2vid", tmp_path)))


# -- SDK fidelity: fal-client (TLS only) drives the same fake ------------------------------------
@pytest.fixture
def tls_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FalFake]:
    pytest.importorskip("trustme")
    f = FalFake()
    cafile = f.enable_tls(tmp_path)
    with f:
        monkeypatch.setenv("SSL_CERT_FILE", str(cafile))
        monkeypatch.setenv("FAL_KEY", KEY)
        monkeypatch.setenv("FAL_QUEUE_RUN_HOST", f.url.removeprefix("https://"))
        monkeypatch.delenv("SHOTLIST_FAL_URL", raising=False)
        yield f


@pytest.mark.slow
def test_fal_client_drives_the_fake_over_tls(
    tls_fake: FalFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fal_client = pytest.importorskip("fal_client")
    import fal_client.client as fc

    # fal-client reads FAL_QUEUE_RUN_HOST when imported; point its already-built URL at the fake
    monkeypatch.setattr(fc, "QUEUE_URL_FORMAT", f"{tls_fake.url}/")

    async def run() -> tuple[Any, Any]:
        client = fal_client.AsyncClient(key=KEY)
        handle = await client.submit(
            "fal-ai/kling-video/v2.1/standard/image-to-video",
            {"prompt": "a cat", "image_url": "https://example.invalid/cat.png", "duration": "5"},
        )
        first = await handle.status()
        result = await handle.get(interval=0.01)
        again = await client.status("fal-ai/kling-video/v2.1/standard/image-to-video", handle.request_id)
        done = await client.subscribe("fal-ai/veo3", {"prompt": "a dog", "duration": "8s"}, interval=0.01)
        return (first, again), (result, done)

    (first, again), (result, done) = asyncio.run(run())
    assert isinstance(first, (fal_client.Queued, fal_client.InProgress))
    assert isinstance(again, fal_client.Completed)
    assert (
        result["video"]["url"].startswith("https://localhost:")
        and done["video"]["content_type"] == "video/mp4"
    )
    assert tls_fake.submissions == 2

    with pytest.raises(
        fal_client.client.FalClientHTTPError
    ) as info:  # the fake's validation speaks fal's shape
        asyncio.run(fal_client.AsyncClient(key=KEY).submit("fal-ai/veo3", {"prompt": "x", "duration": "5s"}))
    assert info.value.status_code == 422


@pytest.mark.slow
def test_the_adapter_speaks_tls_to_the_queue_host_fal_client_uses(tls_fake: FalFake, tmp_path: Path) -> None:
    spec = make_spec("fal/veo3.1-fast", "img2vid", tmp_path, end_image=True)
    _, status = asyncio.run(generate(backend(tmp_path), spec, tmp_path / "o.mp4"))
    assert status.state is JobState.SUCCEEDED and (tmp_path / "o.mp4").exists()
