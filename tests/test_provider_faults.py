"""Every provider's fake misbehaving the ways real services do, under the real engine (`shotlist build`).

tests/test_never_pays_twice.py drives these faults through Runway and fal in depth; here each one is
tried on every hosted adapter and on ComfyUI, because each adapter reads its provider's answers its
own way: a provider restart that forgets jobs, error pages from a proxy while polling or downloading,
a download cut short or not a video, answers of a shape nobody documented, lost submit answers,
429s with and without Retry-After, refusals. Each scenario checks what the user notices: how many
jobs the provider made (one per take, never two), the spent total against the jobs that were made,
a message that names the one next step that works, and no key in any file shotlist wrote.
"""

from __future__ import annotations

import functools
import re
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotlist import generate
from shotlist.backends import http
from shotlist.backends.ark import ArkBackend
from shotlist.backends.comfyui import ComfyUIBackend
from shotlist.backends.fal import FalBackend
from shotlist.backends.kling import KlingBackend
from shotlist.backends.luma import LumaBackend
from shotlist.backends.minimax import MiniMaxBackend
from shotlist.backends.replicate import ReplicateBackend
from shotlist.backends.runway import RunwayBackend
from shotlist.backends.veo import VeoBackend
from shotlist.catalog.registry import CatalogModels
from shotlist.journal import Journal
from shotlist.ledger import Ledger
from shotlist.load import load_project
from shotlist.lock import read_lock
from shotlist.pipeline import BuildOptions, BuildResult, build
from shotlist.plan import Plan, make_plan
from shotlist.store import Store
from tests.fakes.providers import PROVIDERS, Provider
from tests.fakes.server import Response
from tests.media_factory import make_clip

pytestmark = pytest.mark.slow  # real servers, threads and encodes

BACKENDS = (
    ArkBackend,
    ComfyUIBackend,
    FalBackend,
    KlingBackend,
    LumaBackend,
    MiniMaxBackend,
    ReplicateBackend,
    RunwayBackend,
    VeoBackend,
)
each_provider = pytest.mark.parametrize("provider", PROVIDERS, ids=str)
HTML_502 = Response(
    502, b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", {"Content-Type": "text/html"}
)
HTML_503 = Response(
    503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", {"Content-Type": "text/html"}
)
HTML_200 = Response(200, b"<html><body>Sign in to continue</body></html>", {"Content-Type": "text/html"})


@dataclass
class QuickPolicy(http.RetryPolicy):
    """The HTTP layer's retries with pauses of milliseconds, not seconds."""

    attempts: int = 3
    base: float = 0.01
    cap: float = 0.05
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(2.0, connect=0.5))


@functools.cache
def clip(seconds: float) -> bytes:
    """A real H.264 clip of this length (16:9), as every provider delivers it here."""
    with tempfile.TemporaryDirectory() as tmp:
        return make_clip(Path(tmp) / "c.mp4", "blue", size="320x180", seconds=seconds, audio=False).read_bytes()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, provider: Provider[Any]) -> Iterator[Any]:
    """The provider's fake serving a real clip, the adapter pointed at it, retries and polls fast."""
    monkeypatch.setattr(http, "RetryPolicy", QuickPolicy)
    monkeypatch.setattr(generate, "POLL_PATIENCE_S", 0.5)
    for backend in BACKENDS:
        monkeypatch.setattr(backend, "poll_interval", 0.01, raising=False)
    with provider.serving(monkeypatch, clip(provider.duration)) as fake:
        yield fake


def project(root: Path, provider: Provider[Any], shots: int = 1, prompt: str = "") -> Path:
    root.mkdir(parents=True)
    body = "".join(
        f'  - id: s{i}\n    subject: "Lighthouse number {i} on a cliff {prompt}"\n'
        f'    action: "stands still while waves roll slowly below"\n'
        for i in range(1, shots + 1)
    )
    (root / "storyboard.yaml").write_text(
        'version: 1\ntitle: Storm\noutput: {resolution: 720p, aspect: "16:9", fps: 24}\n'
        f"defaults: {{model: {provider.model}, duration: {provider.duration:g}}}\nshots:\n{body}"
    )
    return root


def run(root: Path, **options: Any) -> BuildResult:
    return build(root, BuildOptions(yes=True, render=False, **options))


def plan(root: Path) -> Plan:
    project = load_project(root)
    return make_plan(project, Store(project.root), read_lock(project.root), CatalogModels())


def price(provider: Provider[Any]) -> float:
    """What the catalog estimates one job of the contract's model costs (0 for ComfyUI, free)."""
    info = CatalogModels().info(provider.model)
    return 0.0 if info.free else float(info.estimate(provider.duration, "720p", False) or 0.0)


def journaled(root: Path) -> int:
    return len(Journal(root / ".shotlist").entries())


def on_first_poll(fake: Any, do: Any) -> None:
    """Do ``do()`` just before the fake answers the first read of a job's status."""
    original, (method, pattern) = fake.dispatch, fake.poll_route
    done: list[bool] = []

    def dispatch(req: Any) -> Any:
        if not done and req.method == method and re.search(pattern, req.path):
            done.append(True)
            do()
        return original(req)

    fake.dispatch = dispatch


@each_provider
def test_a_provider_that_forgets_its_job_leaves_a_lost_paid_job_not_one_kept_forever(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    root = project(tmp_path / "p", provider)
    on_first_poll(serve, serve.forget)  # the provider restarts between the submit and the first read
    result = run(root)
    assert serve.submissions == 1 and set(result.failures) == {"s1"}, result.failures
    assert "left no clip" in result.failures["s1"], result.failures
    assert journaled(root) == 0  # not resumed forever: the provider said it does not know the job
    assert result.spent == pytest.approx(price(provider))
    if not price(provider):  # a free job is simply made again
        assert result.failures["s1"].endswith("the next build makes it again (free)")
        assert run(root).ok and serve.submissions == 2
        return
    assert result.failures["s1"].endswith(f"run `shotlist build --regenerate s1` (about ${price(provider):.2f})")
    assert result.spent_is_estimate and [s.action for s in plan(root).shots] == ["lost"]
    assert not run(root).made and serve.submissions == 1  # a plain build does not pay again unasked
    again = run(root, regenerate=["s1"])
    assert again.ok and again.made["s1"][0].take == 2 and serve.submissions == 2
