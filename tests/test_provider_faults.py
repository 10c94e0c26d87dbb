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
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist import generate
from shotlist.backends import http
from shotlist.backends.ark import ArkBackend, token_cost
from shotlist.backends.base import Recoverable
from shotlist.backends.comfyui import ComfyUIBackend
from shotlist.backends.fal import FalBackend
from shotlist.backends.kling import KlingBackend
from shotlist.backends.luma import LumaBackend
from shotlist.backends.minimax import MiniMaxBackend
from shotlist.backends.replicate import ReplicateBackend
from shotlist.backends.runway import USD_PER_CREDIT, RunwayBackend
from shotlist.backends.veo import VeoBackend
from shotlist.catalog import get_model
from shotlist.catalog.registry import CatalogModels
from shotlist.cli.build import event_text, result_text
from shotlist.generate import ShotEvent, ShotState
from shotlist.journal import Journal
from shotlist.ledger import Ledger
from tests.fakes import runway
from tests.fakes.hosted import QuickPolicy
from tests.fakes.providers import PROVIDERS, Provider, Refusal
from tests.fakes.proxy import CuttableProxy
from tests.fakes.server import Response
from tests.media_factory import make_clip
from tests.test_never_pays_twice import plan, run
from tests.test_never_pays_twice import project as storyboard

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
    502,
    b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    {"Content-Type": "text/html"},
)
HTML_503 = Response(
    503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", {"Content-Type": "text/html"}
)
HTML_504 = Response(
    504, b"<html><head><title>504 Gateway Time-out</title></head></html>", {"Content-Type": "text/html"}
)
HTML_200 = Response(200, b"<html><body>Sign in to continue</body></html>", {"Content-Type": "text/html"})


@functools.cache
def clip(seconds: float) -> bytes:
    """A real H.264 clip of this length (16:9), as every provider delivers it here."""
    with tempfile.TemporaryDirectory() as tmp:
        return make_clip(
            Path(tmp) / "c.mp4", "blue", size="320x180", seconds=seconds, audio=False
        ).read_bytes()


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
    """A storyboard of ``shots`` shots of the provider's contract model."""
    return storyboard(root, shots, provider.model, provider.duration, prompt)


def price(provider: Provider[Any]) -> float:
    """What the catalog estimates one job of the contract's model costs (0 for ComfyUI, free)."""
    info = CatalogModels().info(provider.model)
    return 0.0 if info.free else float(info.estimate(provider.duration, "720p", False) or 0.0)


def billed(provider: Provider[Any], fake: Any) -> float:
    """What the jobs the fake finished cost as its provider reports it (Runway's credits, Ark's tokens),
    else the catalog's estimate (what shotlist counts when a provider does not say)."""
    if provider.name == "runway":
        return sum(
            runway.MODELS[j.kind][4] * int(j.body["duration"]) * USD_PER_CREDIT for j in fake.jobs.values()
        )
    if provider.name == "ark":
        entry = get_model(provider.model)
        return sum(token_cost(entry, t.tokens, False) or 0.0 for t in fake.tasks.values())
    return price(provider) * int(fake.submissions)


def journaled(root: Path) -> int:
    return len(Journal(root / ".shotlist").entries())


def on_first_poll(fake: Any, do: Any, route: tuple[str, str] | None = None) -> None:
    """Do ``do()`` just before the fake answers the first read of a job's status (or of ``route``)."""
    original, (method, pattern) = fake.dispatch, route or fake.poll_route
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
    assert result.failures["s1"].endswith(
        f"run `shotlist build --regenerate s1` (about ${price(provider):.2f})"
    )
    assert result.spent_is_estimate and [s.action for s in plan(root).shots] == ["lost"]
    assert not run(root).made and serve.submissions == 1  # a plain build does not pay again unasked
    again = run(root, regenerate=["s1"])
    assert again.ok and again.made["s1"][0].take == 2 and serve.submissions == 2


@each_provider
def test_error_pages_from_a_proxy_while_polling_are_ridden_through(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.answer(*serve.poll_route, HTML_502, times=7)  # more than one poll's worth of retries (ComfyUI: 6)
    events: list[ShotEvent] = []
    result = run(project(tmp_path / "p", provider), events)
    assert result.ok, result.failures
    assert serve.submissions == 1 and journaled(tmp_path / "p") == 0
    assert result.spent == pytest.approx(billed(provider, serve))
    [shown, *_] = [event_text(e) for e in events if e.state is ShotState.RETRYING]
    assert shown.startswith(f"retrying: {provider} answers with an error (") and "<html>" not in shown
    assert "HTTP 502: an HTML page (502 Bad Gateway)" in shown and shown.endswith("the job keeps running")


@each_provider
def test_a_download_that_keeps_failing_keeps_the_paid_job_for_the_next_build(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    root = project(tmp_path / "p", provider)
    trap = serve.answer(*serve.download_route, HTML_503, times=10**6)  # the CDN is down for this build
    first = run(root)
    assert serve.submissions == 1 and set(first.failures) == {"s1"}
    assert first.failures["s1"].endswith("; the next build downloads it (already paid)"), first.failures
    assert "<html>" not in first.failures["s1"]  # an error page is named, not pasted
    assert journaled(root) == 1 and first.spent == 0 and not Ledger(root / ".shotlist").all()
    trap.times = 0
    second = run(root)
    assert second.ok and serve.submissions == 1  # downloaded from the same job, not paid again
    assert second.spent == pytest.approx(billed(provider, serve))  # counted once, by the build that stored it


@each_provider
def test_a_download_cut_short_is_fetched_again_from_the_same_job(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.truncate(*serve.download_route)
    result = run(project(tmp_path / "p", provider))
    assert result.ok and serve.submissions == 1 and len(serve.downloads()) == 2
    assert result.spent == pytest.approx(billed(provider, serve))


@each_provider
def test_a_download_that_is_not_a_video_once_is_fetched_again(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.answer(*serve.download_route, HTML_200)  # a sign-in page where the clip should be
    result = run(project(tmp_path / "p", provider))
    assert result.ok, result.failures
    assert serve.submissions == 1 and len(serve.downloads()) == 2


@each_provider
def test_a_result_that_is_never_a_video_is_a_lost_paid_job_with_its_cost(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.answer(*serve.download_route, HTML_200, times=10**6)
    root = project(tmp_path / "p", provider)
    result = run(root)
    assert serve.submissions == 1 and "is not a video" in result.failures["s1"], result.failures
    assert result.spent == pytest.approx(billed(provider, serve)) and journaled(root) == 0
    if price(provider):
        assert result.failures["s1"].endswith(
            f"run `shotlist build --regenerate s1` (about ${price(provider):.2f})"
        )
        assert not run(root).made and serve.submissions == 1


@each_provider
@pytest.mark.parametrize("body", [[], "ok", None], ids=["a list", "a string", "null"])
def test_a_status_answer_of_an_unexpected_shape_keeps_the_job_without_a_traceback(
    provider: Provider[Any], serve: Any, tmp_path: Path, body: Any
) -> None:
    root = project(tmp_path / "p", provider)
    trap = serve.answer(*serve.poll_route, Response(200, body if body is not None else b"null"), times=10**6)
    result = run(root)
    assert set(result.failures) == {"s1"} and serve.submissions == 1
    assert result.failures["s1"].endswith("; the next build resumes it"), result.failures
    assert journaled(root) == 1
    trap.times = 0
    assert run(root).ok and serve.submissions == 1


@each_provider
def test_a_lost_submit_answer_is_never_paid_twice_by_a_build(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.lose_answers(*serve.submit_route)  # the provider makes the job; its answer never arrives
    root = project(tmp_path / "p", provider)
    first = run(root)
    assert serve.submissions == 1
    if first.ok:  # the adapter found its job by an id of its own (Kling, ComfyUI)
        assert first.spent == pytest.approx(billed(provider, serve))
        return
    why = first.failures["s1"]
    assert "to send it again, run `shotlist build --regenerate s1`" in why and first.spent_is_estimate
    assert first.spent == pytest.approx(price(provider))
    assert [s.action for s in plan(root).shots] == ["unknown"]
    assert not run(root).made and serve.submissions == 1
    again = run(root, regenerate=["s1"])
    assert again.ok and serve.submissions == 2 and again.made["s1"][0].take == 2


@each_provider
@pytest.mark.parametrize("retry_after", ["1", None], ids=["retry-after", "no retry-after"])
def test_429s_on_submit_and_poll_are_waited_out_and_pay_once(
    provider: Provider[Any], serve: Any, tmp_path: Path, retry_after: str | None
) -> None:
    serve.rate_limit(*serve.submit_route, times=2, retry_after=retry_after)
    serve.rate_limit(*serve.poll_route, times=4, retry_after=retry_after)
    result = run(project(tmp_path / "p", provider))
    assert result.ok, result.failures
    assert serve.submissions == 1 and len(serve.submits()) == 3
    assert result.spent == pytest.approx(billed(provider, serve))


#: How the providers whose fakes do not refuse at submit turn a request down for its content (their
#: documented error shapes), answered by a trap in front of the fake.
SUBMIT_REFUSALS: dict[str, tuple[Response, str]] = {
    "fal": (
        Response(
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "prompt"],
                        "msg": "The content was flagged by a content checker.",
                        "type": "content_policy_violation",
                    }
                ]
            },
        ),
        "flagged by a content checker",
    ),
    "runway": (
        Response(400, {"error": "Your prompt was flagged by our content moderation system."}),
        "content moderation",
    ),
    "luma": (Response(400, {"detail": "Prompt failed moderation check"}), "failed moderation"),
    "replicate": (
        Response(422, {"detail": "The input was flagged as sensitive (E005)"}),
        "flagged as sensitive",
    ),
}
REFUSING = [
    (p, when)
    for p in PROVIDERS
    for when in ("refused_submit", "refused_job")
    if getattr(p, when) or (when == "refused_submit" and p.name in SUBMIT_REFUSALS)
]


@pytest.mark.parametrize("provider,when", REFUSING, ids=[f"{p}-{w}" for p, w in REFUSING])
def test_a_refusal_is_remembered_and_only_regenerate_sends_it_again(
    provider: Provider[Any], serve: Any, tmp_path: Path, when: str
) -> None:
    refusal = getattr(provider, when)
    if refusal is None:  # the trap answers the first submit as the provider refuses content
        answer, reason = SUBMIT_REFUSALS[provider.name]
        serve.answer(*serve.submit_route, answer)
        refusal = Refusal("", reason)
    root = project(tmp_path / "p", provider, prompt=refusal.prompt)
    result = run(root)
    made = serve.submissions
    assert result.failures["s1"].startswith("take 1 refused by "), result.failures
    assert refusal.reason in result.failures["s1"]
    assert result.failures["s1"].endswith(
        "edit the prompt, or run `shotlist build --regenerate s1` to try it again"
    )
    [shot] = plan(root).shots
    assert shot.action == "refused" and journaled(root) == 0
    assert not run(root).made and serve.submissions == made and len(serve.submits()) == 1
    run(root, regenerate=["s1"])
    assert len(serve.submits()) == 2  # asked for: sent again


@each_provider
def test_no_key_reaches_a_file_a_log_line_or_a_message(
    provider: Provider[Any], serve: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    root = project(tmp_path / "p", provider, shots=2)
    serve.lose_answers(*serve.submit_route)
    serve.answer(*serve.poll_route, HTML_502, times=2)
    on_first_poll(serve, serve.forget)
    result = run(root)
    keys = [v for name, v in provider.env(serve).items() if name in provider.keys]
    assert keys and result.failures
    written = [p for p in root.rglob("*") if p.is_file() and p.suffix not in (".mp4", ".png", ".jpg")]
    texts = [p.read_bytes().decode("utf-8", "replace") for p in written]
    texts += [caplog.text, *result.failures.values()]
    assert not [k for k in keys for t in texts if k in t]


#: Each provider's answer for a job that finished without naming a video (its status read(s)).
FINISHED_WITHOUT_VIDEO: dict[str, Any] = {
    "fal": {"status": "COMPLETED", "video": None},  # the status read, then the result read
    "runway": {"id": "t", "status": "SUCCEEDED", "output": []},
    "luma": {"id": "g", "state": "completed", "assets": {}},
    "replicate": {"id": "p", "status": "succeeded", "output": None},
    "ark": {"id": "t", "status": "succeeded", "content": {}},
    "kling": {
        "code": 0,
        "message": "ok",
        "data": {"task_id": "t", "task_status": "succeed", "task_result": {}},
    },
    "minimax": {
        "task_id": "t",
        "status": "Success",
        "base_resp": {"status_code": 0, "status_msg": "success"},
    },
    "veo": {"name": "operations/o", "done": True, "response": {"generateVideoResponse": {}}},
}
#: Each provider's answer for a job in a state no documentation names.
UNKNOWN_STATE: dict[str, Any] = {
    "fal": {"status": "IN_REVIEW"},
    "runway": {"id": "t", "status": "ASSETS_PENDING"},
    "luma": {"id": "g", "state": "upscaling"},
    "replicate": {"id": "p", "status": "paused"},
    "ark": {"id": "t", "status": "expired"},
    "kling": {"code": 0, "message": "ok", "data": {"task_id": "t", "task_status": "archived"}},
    "minimax": {
        "task_id": "t",
        "status": "Archived",
        "base_resp": {"status_code": 0, "status_msg": "success"},
    },
    "veo": {"name": "operations/o", "done": "soon"},
}
PAID = [p for p in PROVIDERS if p.name in FINISHED_WITHOUT_VIDEO]


@pytest.mark.parametrize("provider", PAID, ids=str)
def test_a_job_that_finished_without_a_video_is_a_lost_paid_job_not_a_failure_sent_again(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.answer(*serve.poll_route, Response(200, FINISHED_WITHOUT_VIDEO[provider.name]), times=10**6)
    root = project(tmp_path / "p", provider)
    result = run(root)
    assert serve.submissions == 1 and "left no clip" in result.failures["s1"], result.failures
    assert result.failures["s1"].endswith(
        f"run `shotlist build --regenerate s1` (about ${price(provider):.2f})"
    )
    assert result.spent == pytest.approx(price(provider)) and result.spent_is_estimate
    assert journaled(root) == 0 and [s.action for s in plan(root).shots] == ["lost"]
    assert not run(root).made and serve.submissions == 1  # billed once: not sent again unasked


@pytest.mark.parametrize("provider", PAID, ids=str)
def test_a_job_in_a_state_nobody_documented_is_kept_and_resumed_by_the_next_build(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    trap = serve.answer(*serve.poll_route, Response(200, UNKNOWN_STATE[provider.name]), times=10**6)
    root = project(tmp_path / "p", provider)
    result = run(root)
    assert serve.submissions == 1 and result.failures["s1"].endswith("; the next build resumes it"), (
        result.failures
    )
    assert journaled(root) == 1 and result.spent == 0
    trap.times = 0
    assert run(root).ok and serve.submissions == 1


@each_provider
@pytest.mark.parametrize(
    "answer",
    [Response(200, []), Response(200, "accepted"), HTML_200, HTML_504],
    ids=["a list", "a string", "a page", "a gateway timeout"],
)
def test_a_submit_answered_without_a_job_it_can_name_is_never_sent_again_blindly(
    provider: Provider[Any], serve: Any, tmp_path: Path, answer: Response
) -> None:
    serve.answer(*serve.submit_route, answer)  # a 200 whose job, if any, cannot be named
    root = project(tmp_path / "p", provider)
    result = run(root)
    assert len(serve.submits()) == 1 and set(result.failures) == {"s1"}, result.failures
    why = result.failures["s1"]
    if isinstance(provider.backend(tmp_path / "w"), Recoverable):  # it looks its own id up first
        assert why.endswith("the next build looks it up again before anything is sent (never paid twice)")
        assert run(root).ok and serve.submissions == 1 and len(serve.submits()) == 2
    elif price(provider):
        assert why.endswith(
            f"to send it again, run `shotlist build --regenerate s1` (about ${price(provider):.2f})"
        )
        assert not run(root).made and len(serve.submits()) == 1


@each_provider
def test_an_outage_longer_than_the_builds_patience_keeps_the_job_and_the_next_build_resumes_it(
    provider: Provider[Any], serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CuttableProxy(("127.0.0.1", int(serve.server.server_address[1]))) as proxy:
        for name, value in provider.env(serve).items():  # the API through a network that can go down
            monkeypatch.setenv(name, value.replace(serve.url, proxy.url))
        on_first_poll(serve, proxy.cut)  # connections drop, then are refused
        root = project(tmp_path / "p", provider)
        first = run(root)
        assert proxy.cuts == 1 and serve.submissions == 1 and set(first.failures) == {"s1"}
        assert first.failures["s1"].startswith(f"take 1 is still running at {provider} (job "), first.failures
        assert first.failures["s1"].endswith("; the next build resumes it")
        assert journaled(root) == 1 and first.spent == 0
        proxy.restore()
        second = run(root)
    assert second.ok and serve.submissions == 1, second.failures  # polled the same job: paid once
    assert second.spent == pytest.approx(billed(provider, serve))


@each_provider
def test_a_link_that_expired_before_the_download_is_read_again_or_counted_as_lost(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    on_first_poll(serve, serve.expire_links, serve.download_route)  # the link dies as it is fetched
    root = project(tmp_path / "p", provider)
    result = run(root)
    assert serve.submissions == 1 and journaled(root) == 0
    if provider.fresh_links:  # the job gives a fresh link: the paid clip is had
        assert result.ok, result.failures
        assert result.spent == pytest.approx(billed(provider, serve))
        return
    assert "left no clip" in result.failures["s1"], result.failures
    assert result.spent == pytest.approx(billed(provider, serve))
    if price(provider):
        assert result.failures["s1"].endswith(
            f"run `shotlist build --regenerate s1` (about ${price(provider):.2f})"
        )
        assert [s.action for s in plan(root).shots] == ["lost"] and not run(root).made


@each_provider
def test_a_submit_the_provider_keeps_turning_down_with_5xx_charges_nothing_and_says_so(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    trap = serve.answer(*serve.submit_route, HTML_503, times=10**6)
    root = project(tmp_path / "p", provider)
    result = run(root)
    assert serve.submissions == 0 and result.spent == 0 and journaled(root) == 0
    assert result.failures["s1"].endswith("nothing was charged, the next build sends it again"), (
        result.failures
    )
    assert "<html>" not in result.failures["s1"] and "503 Service Unavailable" in result.failures["s1"]
    trap.times = 0
    assert run(root).ok and serve.submissions == 1


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p.name == "fal"], ids=str)
def test_a_completed_fal_request_whose_result_is_gone_is_a_lost_paid_job(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    # the status says COMPLETED, the result read answers 404: fal kept the request's result no longer
    serve.answer("GET", r"/requests/\w+$", Response(404, {"detail": "Request not found"}), times=10**6)
    root = project(tmp_path / "p", provider)
    result = run(root)
    assert "no longer has its result" in result.failures["s1"], result.failures
    assert result.failures["s1"].endswith(
        f"run `shotlist build --regenerate s1` (about ${price(provider):.2f})"
    )
    assert result.spent == pytest.approx(price(provider)) and journaled(root) == 0
    assert not run(root).made and serve.submissions == 1  # not a failure the next build pays for again


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p.name == "runway"], ids=str)
def test_a_submit_answer_the_adapter_cannot_read_is_held_as_unknown_not_a_crash(
    provider: Provider[Any], serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(self: Any, answer: Any, *path: str) -> str:
        raise KeyError(path[0])  # an adapter reading a field its provider renamed

    monkeypatch.setattr(RunwayBackend, "created", unreadable)
    root = project(tmp_path / "p", provider)
    result = run(root)  # returns: no traceback
    assert serve.submissions == 1 and "KeyError" in result.failures["s1"], result.failures
    assert result.failures["s1"].endswith(
        f"run `shotlist build --regenerate s1` (about ${price(provider):.2f})"
    )
    assert [s.action for s in plan(root).shots] == ["unknown"]
    assert not run(root).made and serve.submissions == 1


def after_first(fake: Any, route: tuple[str, str], do: Any) -> None:
    """Do ``do()`` once the fake has carried out the first request of ``route``, before it answers."""
    original, (method, pattern) = fake.dispatch, route
    done: list[bool] = []

    def dispatch(req: Any) -> Any:
        answer = original(req)
        if not done and req.method == method and re.search(pattern, req.path):
            done.append(True)
            do()
        return answer

    fake.dispatch = dispatch


KILLED_BUILD = """
from shotlist.backends import {modules}
for module, name in {classes}:
    setattr(getattr(globals()[module], name), "poll_interval", 0.01)
from shotlist.pipeline import BuildOptions, build
build({root!r}, BuildOptions(yes=True, render=False))
"""


@each_provider
@pytest.mark.parametrize("moment", ["submit", "poll", "download"])
def test_a_build_killed_at_each_moment_is_resumed_by_the_next_without_paying_twice(
    provider: Provider[Any], serve: Any, tmp_path: Path, moment: str
) -> None:
    root = project(tmp_path / "p", provider)
    classes = [(b.__module__.rsplit(".", 1)[-1], b.__name__) for b in BACKENDS]
    code = KILLED_BUILD.format(modules=", ".join(m for m, _ in classes), classes=classes, root=str(root))
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=dict(os.environ), cwd=Path(__file__).parent.parent
    )
    killed = threading.Event()

    def kill() -> None:
        child.send_signal(signal.SIGKILL)  # kill -9: no handler runs, the answer never arrives
        killed.set()

    route = {"submit": serve.submit_route, "poll": serve.poll_route, "download": serve.download_route}[moment]
    after_first(serve, route, kill)
    try:
        assert killed.wait(60), f"the build never reached its {moment}"
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL and serve.submissions == 1
    result = run(root)
    if moment == "submit" and not isinstance(provider.backend(tmp_path / "w"), Recoverable):
        if price(provider):  # killed before the job id was journaled: held, never sent blindly
            assert not result.made and serve.submissions == 1
            assert [s.action for s in plan(root).shots] == ["unknown"]
            assert "and the answer was lost (" in result_text(result)
            assert (
                f"to send it again, run `shotlist build --regenerate s1` (about ${price(provider):.2f})"
                in (result_text(result))
            )
            return
        assert result.ok and serve.submissions == 2  # free: simply made again
        return
    assert result.ok, result.failures
    assert serve.submissions == 1 and journaled(root) == 0
    assert result.spent == pytest.approx(billed(provider, serve))
