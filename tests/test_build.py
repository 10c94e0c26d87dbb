"""The build: generation within budget, failures that do not stop the others, and a journal that never pays twice."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shotlist
from shotlist.backends.fake import FakeModels
from shotlist.cli import app
from shotlist.cli.plan import plan_text
from shotlist.errors import BuildError
from shotlist.journal import Journal
from shotlist.ledger import Ledger
from shotlist.lock import read_lock
from shotlist.pipeline import BudgetError, BuildOptions
from shotlist.plan import Plan
from shotlist.store import Store
from tests.tiny_project import (
    TinyProjects,
    actions,
    edit,
    fake,
    fake_jobs,
    lock_text,
    plan,
    report,
    run,
    submits,
)

DRIVER = """\
import sys
from pathlib import Path
from shotlist.backends.fake import FakeModels
from shotlist.pipeline import BuildOptions, build
root, jobs, latency = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
again = [s for s in sys.argv[4:5] for s in s.split(",") if s]
models = FakeModels(jobs, latency=latency, concurrency=2)
result = build(root, BuildOptions(models=models, yes=True, render=False, regenerate=again,
                                  on_wait=lambda message: print(message, flush=True)))
print("failures:", result.failures, flush=True)
sys.exit(0 if result.ok else 1)
"""


def submits_of(models: FakeModels, shot: str) -> list[dict[str, object]]:
    return [s for s in models.backend_instance.submits() if s["shot"] == shot]


def start(root: Path, latency: float, regenerate: str = "") -> subprocess.Popen[str]:
    """A build of ``root`` in a process of its own, with the fake models whose jobs are ``fake_jobs(root)``."""
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(root), str(fake_jobs(root)), str(latency), regenerate],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    """Wait for a build process; its output (the test fails if the build did)."""
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, output
    return output


@pytest.mark.slow
def test_build_generates_every_shot_pins_it_and_reports_costs(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    models = fake(root)
    result = shotlist.build(root, BuildOptions(models=models, yes=True, render=False))
    assert result.ok and sorted(result.made) == ["door", "end", "kite", "street", "walk"]
    assert result.spent == pytest.approx(0.5)
    assert sorted(submits(models)) == ["door", "end", "kite", "street", "walk"]
    assert list(read_lock(root).entries) == ["kite", "street", "walk", "door", "end"]
    data = report(root)
    assert data["spent"] == pytest.approx(0.5) and data["shots"][2]["generated_takes"] == [1]
    # the chained shot started from the last frame of street's clip, extracted into the store
    street = read_lock(root).entries["street"].clip
    assert (root / ".shotlist" / "frames" / f"{street}.last").is_file()


@pytest.mark.slow
def test_one_failing_shot_does_not_stop_the_others(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    result = run(root, fake(root, fail=["door"]))
    assert result.failures.keys() == {"door"}
    assert "take 1 failed at fake (job fake-" in result.failures["door"]
    assert result.failures["door"].endswith("the generation failed (fake); the next build tries it again")
    assert set(read_lock(root).entries) == {"kite", "street", "walk", "end"}
    models = fake(root)
    assert plan(root, models).shots[3].reasons == [
        "new shot",
        "take 1 failed at fake (the generation failed (fake)); trying again",
    ]
    again = run(root, models)
    assert again.ok and sorted(again.made) == ["door"] and again.made["door"][0].take == 2


@pytest.mark.slow
def test_a_refused_recipe_is_not_sent_again_until_asked_or_edited(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    result = run(root, fake(root, refuse=["kite"]))
    assert re.fullmatch(
        r"take 1 refused by fake \(job fake-\w+\): the prompt was flagged by moderation \(fake\); "
        r"edit the prompt, or run `shotlist build --regenerate kite` to try it again",
        result.failures["kite"],
    )
    models = fake(root)
    kite = plan(root, models).shots[0]
    assert kite.action == "refused" and kite.reasons == [
        '"the prompt was flagged by moderation (fake)"  edit the prompt, or --regenerate kite to try it again'
    ]
    assert re.search(
        r'^  refused   kite .*"the prompt was flagged by moderation \(fake\)"  edit',
        plan_text(plan(root, models)),
        re.M,
    )
    plain = run(root, models)
    assert not plain.made and submits(models).count("kite") == 1  # a plain build does not resubmit it
    edit(root, "A red kite", "A green kite")  # a new recipe: planned as usual
    assert plan(root, models).shots[0].action == "generate"
    edit(root, "A green kite", "A red kite")
    forced = run(root, models, regenerate=["kite"])
    assert forced.ok and forced.made["kite"][0].take == 2 and submits(models).count("kite") == 2


@pytest.mark.slow
def test_a_failed_upstream_fails_its_chain_with_the_reason(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    result = run(root, fake(root, fail=["street"]))
    assert result.failures["walk"] == "upstream shot street has no clip; this shot starts from its frame"


@pytest.mark.slow
def test_a_clip_that_is_not_what_was_asked_is_a_paid_job_held_until_asked(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    result = run(root, fake(root, wrong_duration=["end"]))
    assert "the clip from fake is not what was asked: it lasts 0.50 s, not 1 s" in result.failures["end"]
    assert result.failures["end"].endswith(
        "to pay for a new one, run `shotlist build --regenerate end` (about $0.10)"
    )
    assert result.spent == pytest.approx(0.45)  # four takes and the rejected clip: all paid
    assert "end" not in read_lock(root).entries
    assert Journal(root / ".shotlist").entries() == []  # not resumed forever
    models = fake(root)
    assert actions(plan(root, models))["end"] == "lost"
    assert not run(root, models).made
    assert run(root, models, regenerate=["end"]).made.keys() == {"end"}


@pytest.mark.slow
def test_a_build_over_budget_spends_nothing(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    models = fake(root)
    with pytest.raises(BudgetError, match=r"would cost about \$0.50 \(5 shots\) but the budget is \$0.30"):
        run(root, models, budget=0.3)
    assert submits(models) == []
    edit(root, "title: Tiny", "title: Tiny\nbudget: 0.3")  # the storyboard's budget counts the same
    with pytest.raises(BudgetError):
        run(root, models)
    assert run(root, models, budget=0.5).ok


def test_paid_generation_without_a_terminal_needs_yes_or_a_budget(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    models = fake(root)
    with pytest.raises(BuildError, match=r"would spend about \$0.50 on 5 shots; .* pass --yes"):
        shotlist.build(root, BuildOptions(models=models, render=False))
    asked: list[float | None] = []

    def decline(p: Plan) -> bool:
        asked.append(p.cost)
        return False

    with pytest.raises(BuildError, match="not confirmed"):
        shotlist.build(root, BuildOptions(models=models, render=False, confirm=decline))
    assert asked == [pytest.approx(0.5)] and submits(models) == []


@pytest.mark.slow
def test_an_unknown_submit_is_reported_alike_everywhere_and_not_sent_again_until_asked(
    tiny_project: TinyProjects,
) -> None:
    root = tiny_project()
    result = run(root, fake(root, lose=["door"], can_recover=False))
    door = result.failures["door"]
    assert door.startswith("take 1 was sent to fake at ")
    assert (
        "the answer was lost (the connection dropped after sending shot door); it may be running and billed"
        in door
    )
    step = "Check the fake dashboard; to send it again, run `shotlist build --regenerate door` (about $0.10)"
    assert door.endswith(step)
    assert result.spent == pytest.approx(0.5) and result.spent_is_estimate  # it may be billed: counted
    models = fake(root, can_recover=False)
    door_plan = plan(root, models).shots[3]
    assert door_plan.action == "unknown" and door_plan.reasons[0].endswith(step) and door_plan.cost == 0
    again = run(root, models)
    assert not again.made and submits(models).count("door") == 1  # a plain build does not send it blindly
    forced = run(root, models, regenerate=["door"])
    assert forced.ok and forced.made["door"][0].take == 2 and submits(models).count("door") == 2
    assert Journal(root / ".shotlist").entries() == []
    (record,) = Ledger(root / ".shotlist").all()  # the unanswered submit stays in the shot's history
    assert (record.shot, record.take, record.outcome) == ("door", 1, "unknown")
    assert actions(plan(root, models))["door"] == "pinned"


@pytest.mark.slow
def test_a_lost_submit_answer_is_looked_up_at_once_without_paying_twice(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    models = fake(root, lose=["door"])
    result = run(root, models)
    assert result.ok and submits(models).count("door") == 1
    assert result.made["door"][0].job == submits_of(models, "door")[0]["job"]


@pytest.mark.slow
def test_takes_option_makes_several_takes_and_pins_the_newest(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    models = fake(root)
    result = run(root, models, takes=2, only=["kite"])
    assert [t.take for t in result.made["kite"]] == [1, 2]
    assert read_lock(root).entries["kite"].take == 2
    assert actions(plan(root, models))["kite"] == "pinned"
    assert actions(plan(root, models, takes=3))["kite"] == "pinned"  # --takes is for shots being generated
    edit(
        root, "    camera: static\n", "    camera: static\n    takes: 3\n"
    )  # the storyboard's takes: is kept
    kite = plan(root, models).shots[0]
    assert (kite.action, kite.reasons, kite.takes) == ("generate", ["1 more take requested (takes: 3)"], [3])


@pytest.mark.slow
def test_the_example_builds_end_to_end_and_a_second_build_plans_nothing(
    tiny_project: TinyProjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tiny_project()
    monkeypatch.chdir(root.parent)  # a relative project path, as in the README's first command
    runner = CliRunner()
    out = runner.invoke(app, ["build", root.name])
    assert out.exit_code == 0, out.output
    assert "5 takes generated, nothing spent; 5/5 shots pinned" in out.output
    assert (root / "out" / "tiny.mp4").is_file() and (root / "out" / "tiny.build.json").is_file()
    assert runner.invoke(app, ["plan", str(root), "--detailed-exitcode"]).exit_code == 0
    assert "0 takes generated" in runner.invoke(app, ["build", str(root)]).output


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_a_build_killed_at_random_moments_never_submits_twice(tiny_project: TinyProjects, seed: int) -> None:
    reference = tiny_project(name="reference")
    assert run(reference, fake(reference)).ok
    root = tiny_project()
    rng = random.Random(seed)
    killed: set[int] = set()

    def submitted() -> int:
        return len(fake(root).backend_instance.submits())

    # Kill each build soon after its k-th submit: the moments depend on what the build is doing, not
    # on how fast the machine is (a timed kill lands after the end on a quiet machine). A job takes
    # 1 s, so a build is still waiting for its last one when the kill comes up to 0.3 s later.
    for target in sorted(rng.sample(range(1, 6), 3)):
        proc = start(root, 1.0)
        while proc.poll() is None and submitted() < target:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed.add(proc.pid)
        proc.communicate()
    assert len(killed) >= 2  # the test means nothing unless builds really died mid-way
    finish(start(root, 1.0))

    log = fake(root).backend_instance.submits()
    sent = Counter(str(s["take_key"]) for s in log)
    assert len(sent) == 5 and max(sent.values()) == 1, sent  # each take submitted once, however often killed
    assert {
        s["pid"] for s in log
    } & killed  # jobs sent by builds that were killed were finished by later ones
    assert lock_text(root) == lock_text(reference)
    stored = [t for r in Store(root).entries() for t in r.takes]
    assert sum(t.cost or 0 for t in stored) == pytest.approx(0.1 * len(log))  # every paid job counted once
    verify = CliRunner().invoke(app, ["cache", "verify", str(root)])
    assert verify.exit_code == 0 and "all intact" in verify.output, verify.output
    assert Journal(root / ".shotlist").entries() == []


@pytest.mark.slow
def test_a_plain_build_after_a_killed_regenerate_resumes_its_job(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    models = fake(root)
    assert run(root, models).ok
    proc = start(root, 30.0, regenerate="kite")
    journal = Journal(root / ".shotlist")
    while proc.poll() is None and not any(j.job for j in journal.entries()):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert submits(models).count("kite") == 2  # take 2 was sent and journaled, then the build died
    kite = plan(root, models).shots[0]
    assert kite.action == "generate" and kite.cost == 0 and "take 2 resumes job fake-" in kite.reasons[0]
    result = run(root, models)
    assert result.made["kite"][0].take == 2 and submits(models).count("kite") == 2
    assert read_lock(root).entries["kite"].take == 2
    assert Journal(root / ".shotlist").entries() == []


@pytest.mark.slow
def test_two_builds_at_once_do_not_corrupt_the_project(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    outputs = [finish(proc) for proc in [start(root, 0.5), start(root, 0.5)]]
    assert any("waiting for another shotlist (build, pid" in out for out in outputs), outputs
    sent = Counter(str(s["take_key"]) for s in fake(root).backend_instance.submits())
    assert len(sent) == 5 and max(sent.values()) == 1
    assert len(read_lock(root).entries) == 5
    assert CliRunner().invoke(app, ["cache", "verify", str(root)]).exit_code == 0
