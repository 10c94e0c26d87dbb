"""Keep the Veo fake honest: Google's google-genai SDK drives it as a Gemini API client.

google-genai 3.0 stopped driving Veo in Gemini-API mode (it raises "only supported in Gemini
Enterprise Agent Platform mode"), so the `sdk` extra pins the 2.x line, the last that speaks the
Gemini API's predictLongRunning protocol; with 3.x installed these tests skip and say why.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.fakes.veo import FakeVeo

pytestmark = pytest.mark.slow
genai = pytest.importorskip("google.genai")
types = pytest.importorskip("google.genai.types")
if int(genai.__version__.split(".")[0]) >= 3:
    pytest.skip(
        f"google-genai {genai.__version__} no longer drives Veo on the Gemini API (2.x does)",
        allow_module_level=True,
    )

KEY = "gemini-sdk-key-0123456789"


@pytest.fixture
def fake() -> Iterator[FakeVeo]:
    with FakeVeo(KEY, video=b"\x00\x00\x00\x18ftypmp42 fake video") as f:
        yield f


def client(fake: FakeVeo) -> Any:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=fake.url))


def finish(c: Any, op: Any) -> Any:
    while not op.done:
        op = c.operations.get(op)
    return op


def test_the_sdk_generates_polls_and_downloads_a_video(fake: FakeVeo) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), "red").save(buf, format="PNG")
    c = client(fake)
    op = c.models.generate_videos(
        model="veo-3.1-generate-preview",
        source=types.GenerateVideosSource(
            prompt="A fox turns its head",
            image=types.Image(image_bytes=buf.getvalue(), mime_type="image/png"),
        ),
        config=types.GenerateVideosConfig(
            number_of_videos=1,
            duration_seconds=8,
            aspect_ratio="16:9",
            resolution="720p",
            negative_prompt="blur",
            person_generation="allow_adult",
            last_frame=types.Image(image_bytes=buf.getvalue(), mime_type="image/png"),
        ),
    )
    assert op.name in fake.operations
    op = finish(c, op)
    video = op.result.generated_videos[0].video
    file_id = video.uri.split("/files/")[1].split(":")[0]
    assert c.files.download(file=f"files/{file_id}") == fake.video
    sent = fake.submits()[0].json()
    assert sent["parameters"]["durationSeconds"] == 8 and "lastFrame" in sent["instances"][0]


def test_the_sdk_reads_a_filtered_operation_as_no_video_with_reasons(fake: FakeVeo) -> None:
    c = client(fake)
    op = finish(
        c,
        c.models.generate_videos(
            model="veo-3.0-generate-001",
            source=types.GenerateVideosSource(prompt="REFUSE_OUTPUT"),
            config=types.GenerateVideosConfig(duration_seconds=8),
        ),
    )
    assert op.result.rai_media_filtered_count == 1
    assert "safety settings" in op.result.rai_media_filtered_reasons[0]
    assert not op.result.generated_videos


def test_the_sdk_refuses_a_seed_on_the_gemini_api_as_the_catalog_says() -> None:
    from shotlist.catalog import catalog

    c = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url="http://127.0.0.1:9"))
    with pytest.raises(ValueError, match="seed parameter is only supported"):
        c.models.generate_videos(
            model="veo-3.0-generate-001",
            source=types.GenerateVideosSource(prompt="x"),
            config=types.GenerateVideosConfig(seed=3),
        )
    assert not any(e.seed for e in catalog().values() if e.provider == "veo")
