"""Every provider's fake with what points its adapter at it: the table the backend contract runs over.

A ``Provider`` names the adapter, builds its fake (serving one given clip for every result, or the
fake's own stand-in bytes), says which environment variables point the adapter at the fake and which
of them are secrets, a model to generate with, and how the fake is steered into a moderation refusal
(at submit, or of the finished job) and with what reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import pytest

from shotlist.backends.ark import ArkBackend
from shotlist.backends.base import Backend
from shotlist.backends.comfyui import ComfyUIBackend
from shotlist.backends.fal import FalBackend
from shotlist.backends.kling import KlingBackend
from shotlist.backends.luma import LumaBackend
from shotlist.backends.minimax import MiniMaxBackend
from shotlist.backends.replicate import ReplicateBackend
from shotlist.backends.runway import RunwayBackend
from shotlist.backends.veo import VeoBackend
from tests.fakes import fal, luma, replicate, runway
from tests.fakes.ark import FakeArk
from tests.fakes.comfyui import ComfyUIFake
from tests.fakes.hosted import REFUSE, default_video
from tests.fakes.kling import FakeKling
from tests.fakes.minimax import FakeMiniMax
from tests.fakes.server import FakeProvider
from tests.fakes.tasks import BLOCKED_INPUT, REFUSE_OUTPUT
from tests.fakes.veo import FakeVeo

F = TypeVar("F", bound=FakeProvider)
#: What a fake serves as every result: one clip, a clip made to the request's body, or its stand-in bytes.
Video = bytes | Callable[[Any], bytes] | None
COMFYUI_TOKEN = "comfy-proxy-token-0123456789"


@dataclass(frozen=True)
class Refusal:
    """A prompt the provider refuses, and words of the reason it gives."""

    prompt: str
    reason: str


@dataclass(frozen=True)
class Provider(Generic[F]):
    name: str
    backend: Callable[[Path], Backend]  # the adapter, given its work folder
    serve: Callable[[Video], F]  # the fake, serving this video
    env: Callable[[F], dict[str, str]]  # what points the adapter at the fake
    keys: tuple[str, ...]  # which of those variables hold secrets
    model: str  # a catalog model to generate with (txt2vid)
    duration: float
    refused_job: Refusal | None = None  # the job runs, then moderation stops it
    refused_submit: Refusal | None = None  # the submit itself is turned down
    fresh_links: bool = True  # reading a finished job again gives a new result link
    key_required: bool = True  # without its key the adapter refuses to start

    @contextlib.contextmanager
    def serving(self, monkeypatch: pytest.MonkeyPatch, video: Video = None) -> Iterator[F]:
        """The fake, serving on 127.0.0.1, with the adapter's environment pointing at it."""
        with self.serve(video) as fake:
            for name, value in self.env(fake).items():
                monkeypatch.setenv(name, value)
            yield fake

    def fixture(self) -> Any:
        """A ``fake`` fixture for a test module: this provider's fake, serving its stand-in bytes."""

        @pytest.fixture
        def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[F]:
            with self.serving(monkeypatch) as f:
                yield f

        return fake

    def __str__(self) -> str:
        return self.name


def _clip(video: Video) -> Callable[[str, Any], bytes]:
    """``video`` as the HostedFake and ComfyUI fakes take it: a function of the job and its request body."""
    if video is None:
        return default_video
    if isinstance(video, bytes):
        return lambda job, body: video
    return lambda job, body: video(body)


class _TaskFake(Protocol):
    video: bytes
    video_for: Callable[[dict[str, Any]], bytes] | None


T = TypeVar("T", bound=_TaskFake)


def _task_fake(fake: T, video: Video) -> T:
    """``video`` as the Ark, Kling, MiniMax and Veo fakes take it: bytes, or ``video_for(body)``."""
    if callable(video):
        fake.video_for = video
    elif video is not None:
        fake.video = video
    return fake


def _comfyui(workdir: Path) -> ComfyUIBackend:
    workdir.mkdir(parents=True, exist_ok=True)
    return ComfyUIBackend(workdir / ".shotlist")  # no templates/comfyui/ in the project: the built-ins


FAL = Provider[fal.FalFake](
    "fal",
    FalBackend,
    lambda video: fal.FalFake(video=_clip(video)),
    lambda f: {"SHOTLIST_FAL_URL": f.url, "FAL_KEY": f.key},
    ("FAL_KEY",),
    "fal/kling-2.5-turbo-pro",
    5,
    refused_job=Refusal(f"a scene {REFUSE}", "flagged by a content checker"),
)
RUNWAY = Provider[runway.RunwayFake](
    "runway",
    RunwayBackend,
    lambda video: runway.RunwayFake(video=_clip(video)),
    lambda f: {"RUNWAYML_BASE_URL": f.url, "RUNWAYML_API_SECRET": f.key},
    ("RUNWAYML_API_SECRET",),
    "runway/gen4.5",
    5,
    refused_job=Refusal(f"a scene {REFUSE}", "flagged by our content moderation system"),
)
LUMA = Provider[luma.LumaFake](
    "luma",
    LumaBackend,
    lambda video: luma.LumaFake(video=_clip(video)),
    lambda f: {"LUMAAI_BASE_URL": f.api, "LUMAAI_API_KEY": f.key},
    ("LUMAAI_API_KEY",),
    "luma/ray-2",
    5,
    refused_job=Refusal(f"a scene {REFUSE}", "advanced moderation failed"),
    fresh_links=False,  # a generation names one video URL for good
)
REPLICATE = Provider[replicate.ReplicateFake](
    "replicate",
    ReplicateBackend,
    lambda video: replicate.ReplicateFake(video=_clip(video)),
    lambda f: {"REPLICATE_API_BASE_URL": f.url, "REPLICATE_API_TOKEN": f.key},
    ("REPLICATE_API_TOKEN",),
    "replicate/seedance-1-pro",
    5,
    refused_job=Refusal(f"a scene {REFUSE}", "flagged as sensitive"),
    fresh_links=False,  # Replicate deletes an API prediction's files after an hour; the URL stays
)
ARK = Provider[FakeArk](
    "ark",
    ArkBackend,
    lambda video: _task_fake(FakeArk(video=b"fake-mp4 ark"), video),
    lambda f: {"SHOTLIST_ARK_URL": f.base, "ARK_API_KEY": f.key},
    ("ARK_API_KEY",),
    "ark/seedance-1.0-lite",
    5,
    refused_job=Refusal(f"a scene {REFUSE_OUTPUT}", "OutputVideoSensitiveContentDetected"),
    refused_submit=Refusal(f"a scene {BLOCKED_INPUT}", "InputTextSensitiveContentDetected"),
)
KLING = Provider[FakeKling](
    "kling",
    KlingBackend,
    lambda video: _task_fake(FakeKling(video=b"fake-mp4 kling"), video),
    lambda f: {
        "SHOTLIST_KLING_URL": f.base,
        "KLING_ACCESS_KEY": f.access_key,
        "KLING_SECRET_KEY": f.secret_key,
    },
    ("KLING_ACCESS_KEY", "KLING_SECRET_KEY"),
    "kling/v1-std",
    5,
    refused_job=Refusal(f"a scene {REFUSE_OUTPUT}", "risk control"),
    refused_submit=Refusal(f"a scene {BLOCKED_INPUT}", "content security policy"),
)
MINIMAX = Provider[FakeMiniMax](
    "minimax",
    MiniMaxBackend,
    lambda video: _task_fake(FakeMiniMax(video=b"fake-mp4 minimax"), video),
    lambda f: {"SHOTLIST_MINIMAX_URL": f.url, "MINIMAX_API_KEY": f.key},
    ("MINIMAX_API_KEY",),
    "minimax/hailuo-02",
    6,
    refused_job=Refusal(f"a scene {REFUSE_OUTPUT}", "output video contains sensitive content"),
    refused_submit=Refusal(f"a scene {BLOCKED_INPUT}", "video description contains sensitive content"),
)
VEO = Provider[FakeVeo](
    "veo",
    VeoBackend,
    lambda video: _task_fake(FakeVeo(video=b"fake-mp4 veo"), video),
    lambda f: {"SHOTLIST_VEO_URL": f.url, "GEMINI_API_KEY": f.key},
    ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "veo/veo-3.0-fast",
    6,
    refused_job=Refusal(f"a scene {REFUSE_OUTPUT}", "safety settings for person generation"),
    refused_submit=Refusal(f"a scene {BLOCKED_INPUT}", "Responsible AI practices"),
)
COMFYUI = Provider[ComfyUIFake](
    "comfyui",
    _comfyui,
    lambda video: ComfyUIFake(video=_clip(video), token=COMFYUI_TOKEN),
    lambda f: {"SHOTLIST_COMFYUI_URLS": f.url, "SHOTLIST_COMFYUI_TOKEN": COMFYUI_TOKEN},
    ("SHOTLIST_COMFYUI_TOKEN",),
    "comfyui/txt2vid",
    2,
    fresh_links=False,  # an output file deleted from the server is gone
    key_required=False,  # a token only for a server behind an auth proxy
)
PROVIDERS: list[Provider[Any]] = [FAL, RUNWAY, LUMA, REPLICATE, ARK, KLING, MINIMAX, VEO, COMFYUI]
