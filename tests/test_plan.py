"""The plan: which shots a build generates, and why — keys follow what changes the clip and nothing else."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from PIL import Image
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.errors import ShotlistError
from shotlist.lock import read_lock
from tests.tiny_project import (
    STORYBOARD,
    Built,
    TinyProjects,
    actions,
    edit,
    fake,
    lock_text,
    plan,
    run,
    submits,
    unpinned,
)


def test_a_new_project_plans_every_shot_as_new(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    p = plan(root, fake(root))
    assert set(actions(p).values()) == {"generate"}
    walk = next(s for s in p.shots if s.shot == "walk")
    assert walk.waits_for == "street"
    assert "waits for street; its new clip decides this shot's input" in walk.summary()
    assert p.cost == pytest.approx(0.5)  # five 1 s shots at $0.10/s, the chained one counted too


def test_a_second_build_plans_nothing(built_project: Built) -> None:
    root, models = built_project
    assert set(actions(plan(root, models)).values()) == {"pinned"}


@pytest.mark.slow
def test_editing_one_prompt_regenerates_only_that_shot(built_project: Built) -> None:
    root, models = built_project
    edit(root, "swings slowly open", "swings slowly shut")
    p = plan(root, models)
    assert [(s.shot, s.action) for s in p.generating] == [("door", "generate")]
    assert p.generating[0].reasons == ["prompt changed"]
    before = len(submits(models))
    result = run(root, models)
    assert [*result.made] == ["door"]
    assert submits(models)[before:] == ["door"]


@pytest.mark.slow
def test_changing_a_source_image_regenerates_that_shot_and_the_shots_chained_from_it(
    built_project: Built,
) -> None:
    root, models = built_project
    Image.new("RGB", (64, 36), (10, 200, 10)).save(root / "assets" / "street.png")
    p = plan(root, models)
    assert unpinned(p) == {"street": "generate", "walk": "generate"}
    by_id = {s.shot: s for s in p.shots}
    assert by_id["street"].reasons == ["source image assets/street.png changed"]
    assert by_id["walk"].reasons == ["upstream shot street changes"]
    before = len(submits(models))
    run(root, models)
    assert sorted(submits(models)[before:]) == ["street", "walk"]


def test_renaming_reordering_notes_and_transitions_change_no_key(built_project: Built) -> None:
    root, models = built_project
    before = lock_text(root)
    shutil.move(root / "assets" / "street.png", root / "assets" / "renamed.png")
    edit(root, "image: assets/street.png", "image: assets/renamed.png")
    edit(
        root,
        "transition: {type: dissolve, duration: 0.25}",
        'transition: {type: wipeleft, duration: 0.5}\n    notes: "try it warmer"',
    )
    text = (root / "storyboard.yaml").read_text()
    kite = text[text.index("  - id: kite") : text.index("  - id: street")]
    (root / "storyboard.yaml").write_text(text.replace(kite, "") + kite)  # kite becomes the last shot
    p = plan(root, models)
    assert set(actions(p).values()) == {"pinned"}
    run(root, models)
    after = lock_text(root)
    assert after != before  # the order of the blocks follows the storyboard…
    assert sorted(b.strip() for b in after.split("\n\n")) == sorted(b.strip() for b in before.split("\n\n"))


@pytest.mark.slow
def test_reverting_a_prompt_reuses_the_earlier_take_for_free(built_project: Built) -> None:
    root, models = built_project
    first = lock_text(root)
    edit(root, "A red kite", "A yellow kite")
    run(root, models)
    assert lock_text(root) != first
    edit(root, "A yellow kite", "A red kite")
    p = plan(root, models)
    kite = p.shots[0]
    assert kite.action == "cached" and kite.cost == 0
    assert kite.reasons[-1] == "take 1 of this recipe is in the store: reused, free"
    before = len(submits(models))
    result = run(root, models)
    assert len(submits(models)) == before and result.spent == 0
    assert lock_text(root) == first


def test_model_override_and_new_take_say_why(built_project: Built) -> None:
    root, models = built_project
    by_id = {s.shot: s for s in plan(root, models, model="veo-3").shots}
    assert "model changed (animatic → veo-3)" in by_id["kite"].reasons
    by_id = {s.shot: s for s in plan(root, models, regenerate=["end"]).shots}
    assert by_id["end"].reasons == ["new take requested"] and by_id["end"].takes == [2]
    assert by_id["kite"].action == "pinned"


def test_only_skips_the_other_shots_and_unknown_ids_are_named(built_project: Built) -> None:
    root, models = built_project
    edit(root, "A red kite", "A green kite")
    edit(root, "A blue door", "A red door")
    p = plan(root, models, only=["door"])
    assert actions(p)["kite"] == "skip" and actions(p)["door"] == "generate"
    with pytest.raises(ShotlistError, match="no shot 'dor' — did you mean 'door'"):
        plan(root, models, only=["dor"])


def test_plan_command_prints_reasons_json_and_a_detailed_exit_code(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    runner = CliRunner()
    out = runner.invoke(app, ["plan", str(root), "--detailed-exitcode"])
    assert out.exit_code == 2, out.output
    assert "generate  kite" in out.output and "new shot" in out.output
    assert "5 to generate: free" in out.output
    data = json.loads(runner.invoke(app, ["plan", str(root), "--json"]).output)
    assert [s["action"] for s in data["shots"]] == ["generate"] * 5
    assert data["shots"][2]["waits_for"] == "street"


def test_a_broken_storyboard_exits_1_with_detailed_exitcode_not_2(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    edit(root, "camera: static", "camera: sideways")
    out = CliRunner().invoke(app, ["plan", str(root), "--detailed-exitcode"])
    assert out.exit_code == 1 and "camera" in out.output


@pytest.mark.slow
def test_a_pinned_clip_that_is_in_no_store_is_not_regenerated_unasked(built_project: Built) -> None:
    root, models = built_project
    street = read_lock(root).entries["street"].clip
    os.remove(root / ".shotlist" / "objects" / street[:2] / street)
    p = plan(root, models)
    assert unpinned(p) == {"street": "missing"}
    assert "will differ from the one the lock pins" in p.shots[1].summary() and p.cost == 0
    before = len(submits(models))
    result = run(root, models)
    assert result.missing == ["street"] and not result.made and len(submits(models)) == before
    assert read_lock(root).entries["street"].clip == street  # the pin is kept for whoever has the clip
    paid = run(root, models, regenerate_missing=True)
    assert sorted(paid.made) == ["street", "walk"] and not paid.missing  # walk starts from street's new clip


@pytest.mark.slow
def test_two_shots_sending_the_same_request_are_planned_paid_and_pinned_once(
    tiny_project: TinyProjects,
) -> None:
    twin = '  - id: twin\n    subject: "A red kite"\n    action: "rises slowly over a green hill"\n    camera: static\n'
    root = tiny_project(STORYBOARD + twin)
    models = fake(root)
    p = plan(root, models)
    shared = p.shots[-1]
    assert shared.shares == "kite" and shared.cost == 0 and shared.takes == []
    assert shared.reasons[-1] == "sends the same request as kite: pins its clip, free"
    assert p.cost == pytest.approx(0.5)  # five generations for six shots
    result = run(root, models)
    assert result.ok and result.shared == {"twin": "kite"} and submits(models).count("kite") == 1
    assert "twin" not in submits(models)
    lock = read_lock(root)
    assert lock.entries["twin"].clip == lock.entries["kite"].clip
    assert actions(plan(root, models))["twin"] == "pinned"
