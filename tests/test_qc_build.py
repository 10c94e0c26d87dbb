"""QC in the build: every new take is checked as it is stored; `--pick best` pins the cleanest; takes and plan show it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.cli.build import qc_lines
from shotlist.cli.plan import plan_text
from shotlist.lock import read_lock
from shotlist.store import Store
from shotlist.takes import pick, rejected, set_rejected, shot_takes, takes_by_shot
from tests.tiny_project import ONE_SHOT, TinyProjects, fake, plan, report, run

pytestmark = pytest.mark.slow  # real (tiny) encodes


def test_pick_best_pins_the_take_with_the_fewest_qc_findings(tiny_project: TinyProjects) -> None:
    root = tiny_project(name="p", storyboard=ONE_SHOT)
    models = fake(root, looks={"door": ["black", "moving", "solid"]})
    result = run(root, models, takes=3, pick="best")
    assert read_lock(root).entries["door"].take == 2  # the moving one: black is an error, a still a warning
    assert {n: [f.rule for f in found] for n, found in result.qc["door"].items()} == {
        1: ["black"],
        2: [],
        3: ["frozen"],
    }
    assert qc_lines(result) == [
        "qc      take 1 of door: the whole clip is black",
        "qc      take 3 of door: the picture never moves",
    ]
    assert report(root)["shots"][0]["qc"]["1"][0]["rule"] == "black"


def test_without_pick_best_the_newest_take_is_pinned_and_the_plan_shows_its_qc(
    tiny_project: TinyProjects,
) -> None:
    root = tiny_project(name="p", storyboard=ONE_SHOT)
    models = fake(root, looks={"door": ["moving", "moving", "black"]})
    run(root, models, takes=3)
    assert read_lock(root).entries["door"].take == 3
    text = plan_text(plan(root, models))
    assert "qc: take 3 of door: the whole clip is black" in text


def test_takes_lists_qc_and_rejections_and_pick_accepts_a_clip_hash(tiny_project: TinyProjects) -> None:
    root = tiny_project(name="p", storyboard=ONE_SHOT)
    models = fake(root, looks={"door": ["moving", "black"]})
    run(root, models, takes=2)
    store = Store(root)
    first = next(t for _, t in takes_by_shot(store)["door"] if t.take == 1)
    set_rejected(store, "door", first.sha256, True)
    assert rejected(store) == {first.sha256: "door"}
    rows = shot_takes(store, takes_by_shot(store)["door"], read_lock(root).entries["door"].key, None)
    # listed oldest first: two takes made at once may be stored in either order, so compare by number
    assert sorted((r.take.take, r.rejected, r.findings is not None) for r in rows) == [
        (1, True, True),
        (2, False, True),
    ]
    # `shotlist takes` and `shotlist pick` are the same code the review app calls
    picked = pick(root, "door", first.sha256[:12], models=models)
    assert picked.entry.take == 1 and read_lock(root).entries["door"].clip == first.sha256
    out = CliRunner().invoke(app, ["takes", "door", str(root)])  # the catalog's animatic: another recipe
    assert "qc: the whole clip is black" in out.output and "(rejected in review)" in out.output
    assert "earlier recipe" in out.output
    set_rejected(store, "door", first.sha256, False)
    assert rejected(store) == {}


def test_of_two_takes_that_are_the_same_clip_only_the_one_the_lock_names_is_pinned(
    tiny_project: TinyProjects,
) -> None:
    """A deterministic model can make the same bytes twice: the lock pins one take, not every take of that clip."""
    root = tiny_project(name="p", storyboard=ONE_SHOT)
    models = fake(root, looks={"door": ["black", "black"]})  # black: the same bytes each take
    run(root, models, takes=2)
    store = Store(root)
    entry = read_lock(root).entries["door"]
    found = takes_by_shot(store)["door"]
    assert len({t.sha256 for _, t in found}) == 1 and len(found) == 2
    rows = shot_takes(store, found, entry.key, entry)
    assert {r.take.take: r.pinned for r in rows} == {1: entry.take == 1, 2: entry.take == 2}
    out = CliRunner().invoke(app, ["takes", "door", str(root)])
    assert out.output.count(" * take") == 1
    # picking that clip by its id (the review page sends the whole hash) is no ambiguity: it is one picture
    picked = pick(root, "door", found[0][1].sha256, models=models)
    assert picked.entry.clip == found[0][1].sha256
