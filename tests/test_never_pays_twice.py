"""A build never pays twice and counts every job it paid for: the real engine against fake providers on
127.0.0.1 misbehaving the ways real ones do — a network outage (a TCP proxy that is cut), a provider
that forgets its jobs, lost submit answers, a refusal, result links that expire.

Each scenario checks what a user would: how many jobs the provider created per take (never two), that
the spent totals equal what the fake charged, and that every message names the one next step that
works. Timings are shrunk (retry pauses, poll patience) so that a three-minute outage takes a second.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shotlist import generate
from shotlist.backends import http
from shotlist.backends.fal import FalBackend
from shotlist.backends.runway import USD_PER_CREDIT, RunwayBackend
from shotlist.catalog.registry import CatalogModels
from shotlist.cli import app
from shotlist.cli.build import event_text, result_text
from shotlist.generate import ShotEvent, ShotState
from shotlist.journal import Journal
from shotlist.ledger import Ledger
from shotlist.load import load_project
from shotlist.lock import read_lock
from shotlist.pipeline import BuildOptions, BuildResult, build
from shotlist.plan import Plan, make_plan
from shotlist.store import Store
from tests.fakes import fal, runway
from tests.fakes.hosted import QuickPolicy
from tests.fakes.proxy import CuttableProxy
from tests.fakes.server import Response
from tests.media_factory import make_clip

pytestmark = pytest.mark.slow  # real servers, threads and encodes

PRICE = 0.25  # runway/gen4.5 in the catalog, dollars per second; the fake charges the same


@pytest.fixture
def clip(tmp_path: Path) -> Callable[[str, Any], bytes]:
    data = make_clip(tmp_path / "clip.mp4", "blue", size="320x180", seconds=2, audio=False).read_bytes()
    return lambda job, body: data


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "RetryPolicy", QuickPolicy)
    monkeypatch.setattr(RunwayBackend, "poll_interval", 0.01, raising=False)
    monkeypatch.setattr(FalBackend, "poll_interval", 0.01, raising=False)


@pytest.fixture
def provider(
    monkeypatch: pytest.MonkeyPatch, clip: Callable[[str, Any], bytes], quick: None
) -> Iterator[tuple[runway.RunwayFake, CuttableProxy]]:
    """Runway's fake behind a proxy that can be cut; it charges what the catalog estimates."""
    kinds, ratios, durations, extra, _ = runway.MODELS["gen4.5"]
    monkeypatch.setitem(runway.MODELS, "gen4.5", (kinds, ratios, durations, extra, int(PRICE * 100)))
    with runway.RunwayFake(video=clip) as fake:
        assert fake.server is not None
        with CuttableProxy(("127.0.0.1", int(fake.server.server_address[1]))) as proxy:
            monkeypatch.setenv("RUNWAYML_BASE_URL", proxy.url)
            monkeypatch.setenv("RUNWAYML_API_SECRET", runway.SECRET)
            yield fake, proxy


@pytest.fixture
def stalled(provider: tuple[runway.RunwayFake, CuttableProxy]) -> tuple[runway.RunwayFake, CuttableProxy]:
    """The provider, with jobs that run until the test finishes them (``finish_all``)."""
    provider[0].polls_to_finish = 10**6
    return provider


def project(
    root: Path, shots: int, model: str = "runway/gen4.5", duration: float = 2, prompt: str = ""
) -> Path:
    """A storyboard of ``shots`` static shots of ``model``; ``prompt`` is added to each subject."""
    root.mkdir(parents=True)
    body = "".join(
        f'  - id: s{i}\n    subject: "Lighthouse number {i} on a cliff{prompt and " " + prompt}"\n'
        f'    action: "stands still while waves roll slowly below"\n    camera: static\n'
        for i in range(1, shots + 1)
    )
    (root / "storyboard.yaml").write_text(
        'version: 1\ntitle: Storm\noutput: {resolution: 720p, aspect: "16:9", fps: 24}\n'
        f"defaults: {{model: {model}, duration: {duration:g}}}\nshots:\n{body}"
    )
    return root


def run(root: Path, events: list[ShotEvent] | None = None, **options: Any) -> BuildResult:
    progress = events.append if events is not None else None
    return build(root, BuildOptions(yes=True, render=False, progress=progress, **options))


def plan(root: Path) -> Plan:
    """The plan `shotlist plan` prints, with the catalog's models."""
    project = load_project(root)
    store = Store(project.root)
    return make_plan(project, store, read_lock(project.root), CatalogModels())


def charged(fake: runway.RunwayFake) -> float:
    """What the fake billed: every task it created that did not fail, at its credits per second."""
    return round(
        sum(
            runway.MODELS[j.kind][4] * int(j.body["duration"]) * USD_PER_CREDIT
            for j in fake.jobs.values()
            if j.outcome == "ok"
        ),
        4,
    )


def per_take(fake: runway.RunwayFake) -> Counter[str]:
    """Jobs created per prompt: a prompt sent twice for one take would show as 2."""
    return Counter(str(j.body["promptText"]) for j in fake.jobs.values())


def when(condition: Callable[[], bool], then: Callable[[], None], timeout: float = 60) -> threading.Thread:
    """Do ``then`` (in a thread) as soon as ``condition`` holds: faults land at moments of the build, not of the clock."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.005)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def polling(fake: runway.RunwayFake, n: int) -> Callable[[], bool]:
    """Every one of ``n`` jobs is submitted and has been polled."""
    return lambda: fake.submissions == n and all(j.polls >= 1 for j in list(fake.jobs.values()))


def finish_all(fake: runway.RunwayFake) -> None:
    for job in fake.jobs.values():
        job.polls_left = 1  # the provider finishes them while nobody is watching


def test_an_outage_longer_than_the_builds_patience_keeps_every_job_and_the_next_build_resumes_them(
    stalled: tuple[runway.RunwayFake, CuttableProxy], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, proxy = stalled
    monkeypatch.setattr(generate, "POLL_PATIENCE_S", 1.0)  # stands for the default three minutes
    root = project(tmp_path / "p", 4)
    when(polling(fake, 4), proxy.cut)
    out = CliRunner().invoke(app, ["build", str(root), "--yes"])
    assert out.exit_code == 1 and proxy.cuts == 1
    for i in range(1, 5):
        assert f"failed  s{i}: take 1 is still running at runway (job " in out.output
    print(out.output)
    assert out.output.count("; the next build resumes it") == 8  # as it happens, and in the summary
    assert "0 takes generated, nothing spent" in out.output
    assert len(Journal(root / ".shotlist").entries()) == 4  # no job forgotten
    p = plan(root)
    assert p.cost == 0 and all("resumes job" in s.reasons[-1] for s in p.shots)

    finish_all(fake)  # the fake stayed up and finished the jobs during the outage
    proxy.restore()
    result = run(root)
    assert result.ok and len(result.made) == 4
    assert fake.submissions == 4 and max(per_take(fake).values()) == 1
    assert result.spent == charged(fake) == 4 * 2 * PRICE and not result.spent_is_estimate
    assert Journal(root / ".shotlist").entries() == []


def test_a_short_outage_is_ridden_through_and_shown_as_it_happens(
    stalled: tuple[runway.RunwayFake, CuttableProxy], tmp_path: Path
) -> None:
    fake, proxy = stalled
    root = project(tmp_path / "p", 2)

    def outage() -> None:
        proxy.cut()
        time.sleep(0.8)
        finish_all(fake)
        proxy.restore()

    when(polling(fake, 2), outage)
    events: list[ShotEvent] = []
    result = run(root, events)
    assert result.ok and fake.submissions == 2
    trouble = [e for e in events if e.state is ShotState.RETRYING]
    assert trouble and trouble[0].elapsed is not None
    assert event_text(trouble[0]).startswith("retrying: runway does not answer (runway: cannot reach ")
    assert event_text(trouble[0]).endswith("; retry 1, the job keeps running")
    assert result.spent == charged(fake)


def test_a_provider_that_forgets_its_jobs_leaves_lost_paid_jobs_counted_and_held(
    stalled: tuple[runway.RunwayFake, CuttableProxy], tmp_path: Path
) -> None:
    fake, _ = stalled
    root = project(tmp_path / "p", 3)
    billed: list[float] = []

    def restart() -> None:
        billed.append(charged(fake))
        fake.jobs.clear()

    when(polling(fake, 3), restart)
    result = run(root)
    assert set(result.failures) == {"s1", "s2", "s3"}
    step = "to pay for a new one, run `shotlist build --regenerate s1` (about $0.50)"
    assert "cost $0.50 (estimate) and left no clip: runway no longer knows the job" in result.failures["s1"]
    assert result.failures["s1"].endswith(step)
    assert result.spent == billed[0] == 3 * 2 * PRICE and result.spent_is_estimate
    summary = result_text(result)
    assert "0 takes generated, spent $1.50 (estimate); 0/3 shots pinned" in summary
    assert "of which $1.50 for 3 jobs that left no clip (`shotlist takes ID` lists them)" in summary
    assert Journal(root / ".shotlist").entries() == []

    p = plan(root)
    assert [s.action for s in p.shots] == ["lost"] * 3 and p.cost == 0
    assert p.shots[0].reasons[0].endswith("to pay for a new one, --regenerate s1 (about $0.50)")
    assert not run(root).made and fake.submissions == 0  # a plain build does not pay again unasked
    takes = CliRunner().invoke(app, ["takes", "s1", str(root)])
    assert "take 1   lost" in takes.output and step in takes.output
    fake.polls_to_finish = 2
    again = run(root, regenerate=["s1"])
    assert again.made["s1"][0].take == 2 and fake.submissions == 1


def test_lost_submit_answers_are_never_resent_blindly_and_are_counted(
    provider: tuple[runway.RunwayFake, CuttableProxy], tmp_path: Path
) -> None:
    fake, _ = provider
    fake.faults.rate_lost_answer = 0.3
    root = project(tmp_path / "p", 10)
    result = run(root)
    lost = set(result.failures)
    assert len(fake.lost_answers) == len(lost) >= 2  # seeded: the same three every run
    assert fake.submissions == 10 and max(per_take(fake).values()) == 1
    assert result.spent == charged(fake) == 10 * 2 * PRICE and result.spent_is_estimate
    p = plan(root)
    for sp in p.shots:
        if sp.shot in lost:  # the plan's words are the build's words
            assert sp.action == "unknown" and sp.reasons == [result.failures[sp.shot]]
            assert (
                "Check the runway dashboard; to send it again, run `shotlist build --regenerate"
                in sp.reasons[0]
            )
    fake.faults.rate_lost_answer = 0.0
    assert not run(root).made and fake.submissions == 10
    again = run(root, regenerate=sorted(lost))
    assert again.ok and {t[0].take for t in again.made.values()} == {2} and fake.submissions == 10 + len(lost)
    assert (
        again.spent == len(lost) * 2 * PRICE
    )  # the unanswered ones were counted by the build that sent them
    kept = [r for r in Ledger(root / ".shotlist").all() if r.outcome == "unknown"]
    assert sorted(r.shot for r in kept) == sorted(lost)  # each stays in its shot's history
    shot = sorted(lost)[0]
    takes = CliRunner().invoke(app, ["takes", shot, str(root)])
    assert "take 1   unknown" in takes.output and "* take 2" in takes.output


def test_a_refusal_is_remembered_against_the_recipe(
    provider: tuple[runway.RunwayFake, CuttableProxy], tmp_path: Path
) -> None:
    fake, _ = provider
    root = project(tmp_path / "p", 2)
    text = (root / "storyboard.yaml").read_text().replace("number 2", "number 2 [refuse]")
    (root / "storyboard.yaml").write_text(text)
    result = run(root)
    assert result.failures["s2"].startswith("take 1 refused by runway (job ")
    assert result.spent == charged(fake) == 2 * PRICE  # Runway charges nothing for a refusal
    out = CliRunner().invoke(app, ["plan", str(root)])
    assert (
        '  refused   s2  runway/gen4.5             "runway: Your prompt was flagged by our content moderation '
        'system. (SAFETY.INPUT.TEXT)"  edit the prompt, or --regenerate s2 to try it again'
    ) in out.output
    assert not run(root).made and fake.submissions == 2
    (root / "storyboard.yaml").write_text(text.replace(" [refuse]", " at dusk"))
    assert plan(root).shots[1].action == "generate"


def test_an_expired_result_link_is_a_lost_paid_job_with_its_cost_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clip: Callable[[str, Any], bytes], quick: None
) -> None:
    class Always(set[str]):
        def __contains__(self, token: object) -> bool:
            return True  # every link is expired, and asking the request again gives no fresh one

    with fal.FalFake(video=make_fal_clip(tmp_path)) as fake:
        fake.expired = Always()
        fake.polls_to_finish = 4  # queued, queued, running, done
        monkeypatch.setenv("SHOTLIST_FAL_URL", fake.url)
        monkeypatch.setenv("FAL_KEY", fal.KEY)
        root = project(tmp_path / "p", 2, model="fal/veo3.1-fast", duration=4)
        events: list[ShotEvent] = []
        result = run(root, events)
        assert set(result.failures) == {"s1", "s2"} and fake.submissions == 2
        assert "the job's result link has expired and the job gives no fresh one" in result.failures["s1"]
        assert result.failures["s1"].endswith(
            "to pay for a new one, run `shotlist build --regenerate s1` (about $0.40)"
        )
        assert result.spent == 2 * 0.40 and result.spent_is_estimate  # fal bills a completed request
        report = json.loads((root / ".shotlist" / "last-build.json").read_text())
        assert report["spent"] == 0.8 and report["spent_is_estimate"] is True
        (ended,) = report["shots"][0]["ended_without_take"]
        assert (ended["outcome"], ended["cost"], ended["cost_is_estimate"]) == ("lost", 0.4, True)
        queued = [e for e in events if e.state is ShotState.QUEUED]
        assert queued and event_text(queued[0]).startswith("queued (position ")
        assert [s.action for s in plan(root).shots] == ["lost", "lost"]
        assert not run(root).made and fake.submissions == 2
        out = CliRunner().invoke(app, ["build", str(root), "--yes"])
        assert "lost  s1: take 1 (job fal-ai/veo3.1/fast::" in out.output and out.exit_code == 1


def test_a_request_refused_at_submit_is_recorded_as_a_refusal(
    provider: tuple[runway.RunwayFake, CuttableProxy], tmp_path: Path
) -> None:
    fake, _ = provider
    flagged = Response(400, {"error": "Your prompt was flagged by our content moderation system."})
    fake.routes.insert(0, ("POST", re.compile(r"^/v1/text_to_video$"), lambda req, m: flagged))
    root = project(tmp_path / "p", 1)
    result = run(root)
    assert result.failures["s1"] == (
        "take 1 refused by runway: runway: Your prompt was flagged by our content moderation system.; "
        "edit the prompt, or run `shotlist build --regenerate s1` to try it again"
    )
    assert plan(root).shots[0].action == "refused" and Journal(root / ".shotlist").entries() == []


def make_fal_clip(tmp_path: Path) -> Callable[[str, Any], bytes]:
    data = make_clip(tmp_path / "fal.mp4", "green", size="320x180", seconds=4, audio=False).read_bytes()
    return lambda job, body: data


def test_throttled_and_queued_jobs_say_so_with_their_elapsed_time(
    provider: tuple[runway.RunwayFake, CuttableProxy], tmp_path: Path
) -> None:
    fake, _ = provider
    fake.throttle = True
    root = project(tmp_path / "p", 1)
    events: list[ShotEvent] = []
    assert run(root, events).ok
    throttled = next(e for e in events if e.state is ShotState.THROTTLED)
    assert (
        event_text(throttled) == "throttled by runway (account concurrency)" and throttled.elapsed is not None
    )


def test_verbose_logs_each_request_and_decision_without_the_key(
    provider: tuple[runway.RunwayFake, CuttableProxy], tmp_path: Path
) -> None:
    root = project(tmp_path / "p", 1)
    logger = logging.getLogger("shotlist")
    before = list(logger.handlers)
    try:
        out = CliRunner().invoke(app, ["-v", "build", str(root), "--yes"])
    finally:
        logger.handlers[:] = before
        logger.setLevel(logging.NOTSET)
    assert out.exit_code == 0, out.output
    assert "runway POST 127.0.0.1/v1/text_to_video → HTTP 200 in " in out.output
    assert "runway GET 127.0.0.1/v1/tasks/" in out.output
    assert "s1 take 1: submitting to runway ($0.50)" in out.output
    assert "s1 take 1: stored " in out.output
    assert runway.SECRET not in out.output
