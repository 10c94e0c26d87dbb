"""The build: generation within budget, failures that do not stop the others, and a journal that never pays twice."""

from __future__ import annotations

import random
import re
import shutil
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
from shotlist.store import Store
from tests.tiny_project import actions, edit, fake, lock_text, make_project, plan, report, run, submits

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


def driver(tmp_path: Path) -> Path:
    path = tmp_path / "driver.py"
    path.write_text(DRIVER)
    return path


def start(
    tmp_path: Path, root: Path, jobs: Path, latency: float = 1.0, regenerate: str = ""
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(driver(tmp_path)), str(root), str(jobs), str(latency), regenerate],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_build_generates_every_shot_pins_it_and_reports_costs(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
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


def test_one_failing_shot_does_not_stop_the_others(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
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


def test_a_refused_recipe_is_not_sent_again_until_asked_or_edited(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
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


def test_a_failed_upstream_fails_its_chain_with_the_reason(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
    result = run(root, fake(root, fail=["street"]))
    assert result.failures["walk"] == "upstream shot street has no clip; this shot starts from its frame"


def test_a_clip_that_is_not_what_was_asked_is_a_paid_job_held_until_asked(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
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


def test_a_build_over_budget_spends_nothing(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
    models = fake(root)
    with pytest.raises(BudgetError, match=r"would cost about \$0.50 \(5 shots\) but the budget is \$0.30"):
        run(root, models, budget=0.3)
    assert submits(models) == []
    edit(root, "title: Tiny", "title: Tiny\nbudget: 0.3")  # the storyboard's budget counts the same
    with pytest.raises(BudgetError):
        run(root, models)
    assert run(root, models, budget=0.5).ok


def test_paid_generation_without_a_terminal_needs_yes_or_a_budget(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
    models = fake(root)
    with pytest.raises(BuildError, match=r"would spend about \$0.50 on 5 shots; .* pass --yes"):
        shotlist.build(root, BuildOptions(models=models, render=False))
    asked: list[float | None] = []
    with pytest.raises(BuildError, match="not confirmed"):
        shotlist.build(
            root,
            BuildOptions(models=models, render=False, confirm=lambda p: asked.append(p.cost) is not None),
        )
    assert asked == [pytest.approx(0.5)] and submits(models) == []


def test_an_unknown_submit_is_reported_alike_everywhere_and_not_sent_again_until_asked(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "film")
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


def test_a_lost_submit_answer_is_looked_up_at_once_without_paying_twice(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
    models = fake(root, lose=["door"])
    result = run(root, models)
    assert result.ok and submits(models).count("door") == 1
    assert result.made["door"][0].job == submits_of(models, "door")[0]["job"]


def test_takes_option_makes_several_takes_and_pins_the_newest(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
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
    assert (
        kite.action == "generate"
        and kite.reasons == ["1 more take requested (takes: 3)"]
        and kite.takes == [3]
    )


@pytest.mark.slow
def test_the_example_builds_end_to_end_and_a_second_build_plans_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "film")
    monkeypatch.chdir(tmp_path)  # a relative project path, as in the README's first command
    runner = CliRunner()
    out = runner.invoke(app, ["build", "film"])
    assert out.exit_code == 0, out.output
    assert "5 takes generated, nothing spent; 5/5 shots pinned" in out.output
    assert (root / "out" / "tiny.mp4").is_file() and (root / "out" / "tiny.build.json").is_file()
    assert runner.invoke(app, ["plan", str(root), "--detailed-exitcode"]).exit_code == 0
    assert "0 takes generated" in runner.invoke(app, ["build", str(root)]).output


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_a_build_killed_at_random_moments_never_submits_twice(tmp_path: Path, seed: int) -> None:
    reference = make_project(tmp_path / "reference")
    done = start(tmp_path, reference, tmp_path / "reference-jobs", 0.2)
    assert done.wait(120) == 0, done.stdout.read() if done.stdout else ""

    root = make_project(tmp_path / "film")
    jobs = tmp_path / "film-jobs"
    rng = random.Random(seed)
    killed: set[int] = set()

    def submitted() -> int:
        return len(FakeModels(jobs).backend_instance.submits()) if jobs.exists() else 0

    # Kill each build soon after its k-th submit: the moments depend on what the build is doing, not
    # on how fast the machine is (a timed kill lands after the end on a quiet machine).
    for target in sorted(rng.sample(range(1, 6), 3)):
        proc = start(tmp_path, root, jobs, 2.0)
        while proc.poll() is None and submitted() < target:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed.add(proc.pid)
        proc.wait()
    assert len(killed) >= 2  # the test means nothing unless builds really died mid-way
    final = start(tmp_path, root, jobs, 2.0)
    assert final.wait(120) == 0, final.stdout.read() if final.stdout else ""

    log = FakeModels(jobs).backend_instance.submits()
    sent = Counter(str(s["take_key"]) for s in log)
    assert sent and max(sent.values()) == 1, (
        sent
    )  # every take was submitted once, however often it was killed
    assert len(sent) == 5
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
def test_a_plain_build_after_a_killed_regenerate_resumes_its_job(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
    jobs = tmp_path / "jobs"
    models = FakeModels(jobs)
    assert run(root, models).ok
    proc = start(tmp_path, root, jobs, 30.0, regenerate="kite")
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
def test_two_builds_at_once_do_not_corrupt_the_project(tmp_path: Path) -> None:
    root = make_project(tmp_path / "film")
    jobs = tmp_path / "jobs"
    first, second = start(tmp_path, root, jobs, 0.5), start(tmp_path, root, jobs, 0.5)
    outputs = []
    for proc in (first, second):
        assert proc.wait(120) == 0
        outputs.append(proc.stdout.read() if proc.stdout else "")
    assert any("waiting for another shotlist (build, pid" in out for out in outputs), outputs
    sent = Counter(str(s["take_key"]) for s in FakeModels(jobs).backend_instance.submits())
    assert len(sent) == 5 and max(sent.values()) == 1
    assert len(read_lock(root).entries) == 5
    assert CliRunner().invoke(app, ["cache", "verify", str(root)]).exit_code == 0
    shutil.rmtree(root / ".shotlist" / "tmp", ignore_errors=True)
