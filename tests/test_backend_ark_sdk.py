"""Keep the Ark fake honest: ByteDance's own Ark runtime SDK drives it as a client.

If the fake drifted from the real protocol (paths, auth, field names, error shape), the SDK would
fail to create, read or parse here. Skipped when the SDK is not installed (`pip install -e .[sdk]`).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.fakes.ark import FakeArk

pytestmark = pytest.mark.slow
ark_runtime = pytest.importorskip("volcenginesdkarkruntime")
KEY = "ark-sdk-key-0123456789"


@pytest.fixture
def fake() -> Iterator[FakeArk]:
    with FakeArk(KEY, video=b"\x00\x00\x00\x18ftypmp42 fake video bytes") as f:
        yield f


def client(fake: FakeArk, key: str = KEY) -> Any:
    return ark_runtime.Ark(base_url=fake.base, api_key=key, max_retries=0)


def png() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (320, 320), "green").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_the_sdk_creates_polls_and_reads_a_finished_task(fake: FakeArk) -> None:
    c = client(fake)
    created = c.content_generation.tasks.create(
        model="seedance-1-0-lite-i2v-250428",
        content=[
            {"type": "text", "text": "A fox turns its head"},
            {"type": "image_url", "image_url": {"url": png()}, "role": "first_frame"},
        ],
        ratio="16:9",
        duration=5,
        resolution="720p",
        seed=3,
        camera_fixed=False,
        watermark=False,
        return_last_frame=True,
    )
    assert created.id in fake.tasks
    assert fake.submits()[0].headers["authorization"] == f"Bearer {KEY}"
    task = c.content_generation.tasks.get(task_id=created.id)
    while task.status in ("queued", "running"):
        task = c.content_generation.tasks.get(task_id=created.id)
    assert task.status == "succeeded"
    assert task.content.video_url.endswith("/video.mp4")
    assert task.usage.completion_tokens == 1280 * 720 * 24 * 5 // 1024


def test_the_sdk_sees_output_moderation_as_a_failed_task_with_a_code(fake: FakeArk) -> None:
    c = client(fake)
    created = c.content_generation.tasks.create(
        model="seedance-1-0-pro-250528",
        content=[{"type": "text", "text": "REFUSE_OUTPUT"}],
        ratio="16:9",
        duration=5,
        resolution="480p",
    )
    task = c.content_generation.tasks.get(task_id=created.id)
    while task.status in ("queued", "running"):
        task = c.content_generation.tasks.get(task_id=created.id)
    assert task.status == "failed"
    assert task.error.code == "OutputVideoSensitiveContentDetected"
    assert task.usage.completion_tokens > 0


def test_the_sdk_gets_ark_error_bodies_for_refused_requests(fake: FakeArk) -> None:
    mixed = [
        {"type": "text", "text": "x"},
        {"type": "image_url", "image_url": {"url": png()}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": png()}, "role": "reference_image"},
    ]
    with pytest.raises(ark_runtime._exceptions.ArkBadRequestError) as info:
        client(fake).content_generation.tasks.create(
            model="seedance-1-0-lite-i2v-250428", content=mixed, ratio="16:9", duration=5, resolution="720p"
        )
    assert "cannot be used together" in str(info.value)
    with pytest.raises(ark_runtime._exceptions.ArkAuthenticationError):
        client(fake, "wrong-key-000000").content_generation.tasks.get(task_id="cgt-1")
    assert not fake.tasks
