"""fal adapter: its wire format against a fake of fal's queue API, and fal-client driving the same fake (the
money rules every adapter keeps are in test_backend_contract.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import JobState
from shotlist.backends.fal import FalBackend, app_path
from shotlist.catalog import catalog
from tests.fakes.fal import KEY, FalFake
from tests.fakes.hosted import FAIL, each_model_and_mode, full_spec, generate, make_spec
from tests.fakes.providers import FAL

fake = FAL.fixture()


@each_model_and_mode("fal")
def test_every_fal_model_and_mode_sends_the_endpoints_own_field_names(
    fake: FalFake, tmp_path: Path, model: str, mode: str, last: bool
) -> None:
    entry = catalog()[model]
    spec = full_spec(model, mode, tmp_path, last=last, params={"camera": {"move": "static"}})
    job_id, job, status = fake.made(FalBackend(tmp_path), spec, tmp_path)
    endpoint = entry.endpoint[f"{mode}_last" if last else mode]
    assert job_id == f"{endpoint}::{job.id}" and job.kind == endpoint  # the fake checked the fields
    body = job.body
    assert body["prompt"] == spec.prompt
    images = [v for v in body.values() if isinstance(v, str) and v.startswith("data:image/png;base64,")]
    images += [v for v in body.values() if isinstance(v, list) for v in v]
    assert len(images) == len(spec.inputs)
    assert [base64.b64decode(i.split(",", 1)[1]) for i in images[:1]] == [
        Path(m.path).read_bytes() for m in spec.inputs[:1]
    ]
    if "duration" in body:
        assert body["duration"] == entry.wire_duration(spec.duration)
    assert body.get("seed") == spec.seed
    assert job.extra["lifecycle"]  # asks fal to keep the output long enough to download


def test_veo31_with_a_last_frame_uses_the_first_last_endpoint_field_names(
    fake: FalFake, tmp_path: Path
) -> None:
    spec = make_spec("fal/veo3.1", "img2vid", tmp_path, end_image=True, duration=8, audio=True)
    generate(FalBackend(tmp_path), spec, out=tmp_path)
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
    generate(FalBackend(tmp_path), spec, out=tmp_path)
    (job,) = fake.jobs.values()
    assert (
        job.body["camera_fixed"] is True and job.body["duration"] == "5" and job.body["resolution"] == "480p"
    )


def test_an_output_flagged_nsfw_is_a_refusal(fake: FalFake, tmp_path: Path) -> None:
    fake.nsfw_output = True  # the model's own output checker flags the video
    spec = make_spec("fal/seedance-1-lite", "txt2vid", tmp_path)
    [(_, status)] = generate(FalBackend(tmp_path), spec, out=tmp_path)
    assert status.state is JobState.REFUSED and "has_nsfw_concepts" in (status.message or "")


def test_a_requests_results_live_under_the_apps_owner_and_alias() -> None:
    assert app_path("fal-ai/kling-video/v2.5-turbo/pro/text-to-video") == "fal-ai/kling-video"
    assert app_path("fal-ai/veo3.1/image-to-video") == "fal-ai/veo3.1"
    assert app_path("workflows/me/my-flow/run") == "workflows/me/my-flow"


def test_a_failed_request_is_failed_not_refused(fake: FalFake, tmp_path: Path) -> None:
    spec = make_spec("fal/veo3", "txt2vid", tmp_path, prompt=f"x {FAIL}")
    [(_, status)] = generate(FalBackend(tmp_path), spec, out=tmp_path)
    assert status.state is JobState.FAILED and "Internal error" in (status.message or "")


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
    [(_, status)] = generate(FalBackend(tmp_path), spec, out=tmp_path)
    assert status.state is JobState.SUCCEEDED and (tmp_path / "s1.mp4").exists()
