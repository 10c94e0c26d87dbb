"""`shotlist revise` on the kitsune-dawn example against a fake OpenAI-compatible server: the change lands
in the edited shot only, every other byte stays, the plan regenerates exactly the edited shots."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from shotlist.draft.revise import apply, plan_effect
from shotlist.load import load_project
from tests.drafts import UMBRELLA_REVISION
from tests.fakes.chat import Reply
from tests.test_draft import no_provider, run, serve  # noqa: F401 (no_provider: the autouse fixture)

EXAMPLE = Path(__file__).resolve().parents[1] / "projects" / "kitsune-dawn"
INSTRUCTION = "make the umbrella shot a close-up and add rain"


@pytest.fixture
def kitsune(tmp_path: Path) -> Path:
    shutil.copytree(
        EXAMPLE, tmp_path / "kitsune", ignore=shutil.ignore_patterns(".shotlist", "out", "shotlist.lock")
    )
    return tmp_path / "kitsune"


def block(text: str, shot_id: str) -> tuple[int, int]:
    """The line range of one shot in a storyboard: from its '- id:' to the next shot's."""
    lines = text.splitlines()
    start = lines.index(f"  - id: {shot_id}")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("  - id:"))
    return start, end


def test_a_revision_changes_only_its_shot_keeps_every_other_byte_and_plans_only_that_shot(
    kitsune: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (kitsune / "storyboard.yaml").read_text()
    with serve("openai", [Reply(UMBRELLA_REVISION)], monkeypatch) as fake:
        result = run("revise", str(kitsune), INSTRUCTION, "--yes")
    assert result.exit_code == 0, result.output
    after = (kitsune / "storyboard.yaml").read_text()
    # outside the umbrella shot, every line (comments, blank lines, quotes, flow mappings) is as it was
    b0, b1 = block(before, "umbrella")
    a0, a1 = block(after, "umbrella")
    assert after.splitlines()[:a0] == before.splitlines()[:b0]
    assert after.splitlines()[a1:] == before.splitlines()[b1:]
    assert [line for line in after.splitlines() if "#" in line] == [
        line for line in before.splitlines() if "#" in line
    ]
    # inside it, the changed values only, in the file's own style
    changed = sorted(set(after.splitlines()[a0:a1]) - set(before.splitlines()[b0:b1]))
    assert changed == [
        "    framing: close-up",
        '    motion: ["raindrops fall gently onto the umbrella", "rain streaks slowly across the frame"]',
    ]
    assert "--- a/storyboard.yaml" in result.stdout and "+    framing: close-up" in result.stdout
    assert "plan: 1 shot will regenerate (umbrella), free" in result.stdout
    # the model was shown the storyboard and the instruction
    assert INSTRUCTION in fake.chats[0]["messages"][-1]["content"]
    assert "# continuity: starts where the last shot ended" in fake.chats[0]["messages"][-1]["content"]


def test_the_plan_effect_names_exactly_the_edited_shots_and_what_continues_from_them(kitsune: Path) -> None:
    project = load_project(kitsune)
    text = (kitsune / "storyboard.yaml").read_text()
    rev = apply(text, UMBRELLA_REVISION)
    (kitsune / "revised.yaml").write_text(rev.text)
    effect = plan_effect(project, load_project(kitsune / "revised.yaml"))
    assert effect.regenerate == ["umbrella"] and rev.changed == {"umbrella"}
    # mika-turns changes: walk-away starts from its last frame, so it regenerates too
    turned = copy.deepcopy(UMBRELLA_REVISION)
    turned["shots"][0] = {
        **turned["shots"][0],
        "id": "mika-turns",
        "mode": "img2vid",
        "refs": None,
        "image": "assets/mika-street.png",
    }
    (kitsune / "revised.yaml").write_text(apply(text, turned).text)
    assert plan_effect(project, load_project(kitsune / "revised.yaml")).regenerate == [
        "mika-turns",
        "walk-away",
    ]


def test_without_yes_or_a_terminal_nothing_is_written(kitsune: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (kitsune / "storyboard.yaml").read_bytes()
    with serve("openai", [Reply(UMBRELLA_REVISION)], monkeypatch):
        result = run("revise", str(kitsune), INSTRUCTION)
    assert result.exit_code == 0, result.output
    assert "+    framing: close-up" in result.stdout and "not written" in result.stdout
    assert (kitsune / "storyboard.yaml").read_bytes() == before


def test_with_shot_a_change_to_another_shot_is_sent_back(
    kitsune: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wider = copy.deepcopy(UMBRELLA_REVISION)
    wider["shots"].append(
        {**UMBRELLA_REVISION["shots"][0], "id": "mask", "intent": "x", "refs": None, "mode": "txt2vid"}
    )
    with serve("openai", [Reply(wider), Reply(UMBRELLA_REVISION)], monkeypatch) as fake:
        result = run("revise", str(kitsune), INSTRUCTION, "--shot", "umbrella", "--yes")
    assert result.exit_code == 0, result.output
    assert "only the shot 'umbrella' may change, not 'mask'" in fake.chats[1]["messages"][-1]["content"]
    assert "Change only the shot 'umbrella'" in fake.chats[0]["messages"][-1]["content"]
    assert load_project(kitsune).board.shot("mask").framing == "close-up"  # as it was


def test_a_revision_that_never_validates_leaves_the_file_alone(
    kitsune: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = copy.deepcopy(UMBRELLA_REVISION)
    bad["shots"][0]["camera"] = {"move": "pan-left, tilt-up", "speed": "slow"}
    before = (kitsune / "storyboard.yaml").read_bytes()
    with serve("openai", [Reply(bad)], monkeypatch) as fake:
        result = run("revise", str(kitsune), INSTRUCTION, "--yes")
    assert result.exit_code == 1 and len(fake.chats) == 4
    assert "one camera move per shot" in result.stderr
    assert (kitsune / "storyboard.yaml").read_bytes() == before


def test_new_and_removed_shots_keep_the_blank_lines_and_the_intent_comment(kitsune: Path) -> None:
    text = (kitsune / "storyboard.yaml").read_text()
    new = {**UMBRELLA_REVISION["shots"][0], "id": "rain", "intent": "Rain on the steps.", "after": "umbrella"}
    rev = apply(text, {"shots": [new], "removed": ["walk-away"]})
    assert rev.changed == {"rain"} and rev.removed == {"walk-away"} and not rev.problems
    assert "- id: walk-away" not in rev.text
    assert "transition: {type: dissolve, duration: 0.8}\n\n  # Rain on the steps.\n  - id: rain\n" in rev.text
    assert "\n\n  - id: mask-and-mika\n" in rev.text
    last = {**new, "id": "coda", "after": None}
    tail = apply(text, {"shots": [last], "removed": []}).text
    assert tail.index("  - id: coda") > tail.index("  - id: end") and "\n\nsoundtrack:" in tail


#: A storyboard written the ways people write YAML: anchors, block scalars, flow shots, end comments.
ODD = """\
# yaml-language-server: $schema=shotlist.schema.json
# A top comment   with  odd   spacing
version: 1
title: 'Odd  film'   # trailing comment
output: {resolution: 160x90, fps: 12, file: out/odd.mp4}
defaults: &defs {model: animatic, duration: 2}
styles:
  film: &film "35mm grain"
shots:
  # first shot: its intent
  - id: a
    subject: "A red kite 🪁"   # a note on the subject
    action: >-
      rises slowly
      over a green hill
    style: film

  - id: b    # the door
    subject: A blue door
    action: |
      swings slowly open
    camera: static

  - {id: c, subject: "A bench", action: "sits under a tree"}
# a comment at the end
"""

ODD_FORMS = {
    "as-written": ODD,
    "crlf": ODD.replace("\n", "\r\n"),
    "byte-order-mark": "\ufeff" + ODD,
    "no-final-newline": ODD.rstrip("\n"),
    "document-markers": "---\n" + ODD + "...\n",
    "unindented-shots": ODD.replace("\n  - ", "\n- ")
    .replace("\n    ", "\n  ")
    .replace("\n  # first", "\n# first"),
}


@pytest.mark.parametrize("form", list(ODD_FORMS))
def test_a_revision_that_changes_nothing_gives_back_the_file_byte_for_byte(form: str) -> None:
    text = ODD_FORMS[form]
    assert apply(text, {"shots": [], "removed": []}).text == text
    same = {"id": "b", "subject": "A blue door", "action": "swings slowly open", "camera": "static"}
    unchanged = apply(text, {"shots": [same], "removed": []})  # the block scalar's final newline is no change
    assert unchanged.text == text and unchanged.changed == set()


@pytest.mark.parametrize("form", list(ODD_FORMS))
def test_a_revision_of_one_shot_changes_only_that_shots_lines_in_any_yaml_form(form: str) -> None:
    text = ODD_FORMS[form]
    new = {"id": "b", "subject": "A green door", "action": "swings slowly open", "camera": "static"}
    rev = apply(text, {"shots": [new], "removed": []})
    assert rev.problems == [] and rev.changed == {"b"}
    before, after = text.splitlines(keepends=True), rev.text.splitlines(keepends=True)
    gone = [line for line in before if line not in after]
    assert len(before) == len(after) and len(gone) == 1 and "A blue door" in gone[0]
    assert rev.text.startswith(text[:40]) and rev.text.endswith(text[-30:])


def test_a_shot_inserted_between_two_keeps_one_blank_line_on_each_side() -> None:
    new = {
        "id": "d",
        "intent": "A lake between.",
        "subject": "A lake",
        "action": "ripples slowly",
        "after": "a",
    }
    text = apply(ODD, {"shots": [new], "removed": []}).text
    assert "    style: film\n\n  # A lake between.\n  - id: d\n" in text
    assert '    action: "ripples slowly"\n\n  - id: b    # the door\n' in text


@pytest.mark.slow
def test_a_revision_that_touches_nothing_says_so_and_leaves_the_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "odd" / "storyboard.yaml"
    path.parent.mkdir()
    path.write_bytes(ODD_FORMS["crlf"].encode())
    before = path.read_bytes()
    nothing: dict[str, Any] = {"shots": [], "removed": [], "title": None, "styles": None, "characters": None}
    with serve("openai", [Reply(nothing)], monkeypatch):
        result = run("revise", str(path.parent), "make it better", "--yes")
    assert result.exit_code == 0, result.output
    assert "the model changed nothing" in result.stdout and "---" not in result.stdout
    assert path.read_bytes() == before


@pytest.mark.slow
def test_a_revision_that_sets_a_field_the_form_leaves_out_is_sent_back(
    kitsune: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loose server lets a model add `model:` (a paid one) or `lint:` to a shot: sent back, as in a draft."""
    sneaky = copy.deepcopy(UMBRELLA_REVISION)
    sneaky["shots"][0] = {**sneaky["shots"][0], "model": "ark/seedance-1.0-pro", "lint": ["word-count"]}
    with serve("openai", [Reply(sneaky), Reply(UMBRELLA_REVISION)], monkeypatch) as fake:
        result = run("revise", str(kitsune), INSTRUCTION, "--yes")
    assert result.exit_code == 0, result.output
    said = fake.chats[1]["messages"][-1]["content"]
    assert "shots[0].model" in said and "shots[0].lint" in said and "not written by a draft" in said
    text = (kitsune / "storyboard.yaml").read_text()
    assert "seedance" not in text and "plan: 1 shot will regenerate (umbrella), free" in result.stdout


def test_a_field_the_form_leaves_out_that_a_shot_already_has_may_be_echoed() -> None:
    """A model shown the file may echo a shot's `seed:` whole: that is no change, so no problem."""
    text = ODD.replace("    camera: static\n", "    camera: static\n    seed: 7\n")
    echo = {
        "id": "b",
        "subject": "A green door",
        "action": "swings slowly open",
        "camera": "static",
        "seed": 7,
    }
    rev = apply(text, {"shots": [echo], "removed": []})
    assert rev.problems == [] and "    seed: 7\n" in rev.text
    changed = apply(text, {"shots": [{**echo, "seed": 8}], "removed": []})
    assert [p.loc for p in changed.problems] == [("shots", 0, "seed")]
