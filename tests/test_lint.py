"""Prompt lint: every rule has a shot that triggers it and one that does not; ignores; the command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.lint import RULES, lint_project
from shotlist.load import load_project
from tests.tiny_project import KITSUNE_MASK, MIKA_LOOK, TinyProjects

runner = CliRunner()

# A shot that lints clean in the generic dialect: framing, light, qualified motion, something still.
GOOD: dict[str, Any] = {
    **KITSUNE_MASK,
    "id": "shot",
    "motion": ["leaves drift slowly downward", "mist swirls gently around the stone"],
    "camera": {"move": "dolly-in", "speed": "slow"},
    "style": "35mm film grain, muted teal and amber palette",
}
IMG2VID: dict[str, Any] = {
    "id": "shot",
    "mode": "img2vid",
    "image": "assets/still.png",
    "subject": "the woman",
    "action": "slowly turns her head toward the camera and smiles",
    "motion": ["her hair sways gently in a light breeze"],
    "still": ["the street lamps stay fixed"],
    "camera": {"move": "dolly-in", "speed": "slow"},
}


def board(*shots: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """A storyboard of these shots, made with the animatic, with the character ``mika``."""
    return {
        "version": 1,
        "defaults": {"model": "animatic", **(defaults or {})},
        "characters": {"mika": {"look": MIKA_LOOK}},
        "shots": list(shots),
    }


def line_at(root: Path, line: int | None) -> str:
    """Line ``line`` of the storyboard (the test fails if a finding has no line)."""
    assert line is not None
    return (root / "storyboard.yaml").read_text().splitlines()[line - 1]


Rules = Callable[..., set[str]]


@pytest.fixture
def rules(tiny_project: TinyProjects) -> Rules:
    """Call it with a shot (a dialect, storyboard defaults) for the ids of the rules that shot breaks."""

    def broken(shot: dict[str, Any], dialect: str | None = None, **top: Any) -> set[str]:
        report = lint_project(load_project(tiny_project(board(shot, **top))), dialect)
        return {f.rule for f in report.findings}

    return broken


def test_the_good_shots_lint_clean(rules: Rules) -> None:
    assert rules(GOOD) == set()
    assert rules(IMG2VID) == set()


# Each case: (rule, the changes that trigger it, the changes that fix it again).
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "word-count",
        {"motion": [], "style": None, "scene": None},
        {
            "motion": [],
            "scene": "a misty cedar forest at dawn where old stone lanterns line a narrow winding path",
        },
    ),
    (
        "char-limit",
        {"prompt": "Close-up. " + "Soft light on a mask. " * 100 + "No distortion. No jitter."},
        {"prompt": "Close-up. " + "Soft light on a mask. " * 10 + "No distortion. No jitter."},
    ),
    (
        "camera-moves",
        {"camera": "static", "motion": ["the camera pans left then zooms in slowly"]},
        {"camera": "static", "motion": ["the camera pans left slowly"]},
    ),
    (
        "camera-moves",
        {"motion": ["leaves drift slowly downward", "the camera orbits slowly around the mask"]},
        {"motion": ["leaves drift slowly downward", "the camera glides with the leaves"]},
    ),
    ("motion-unqualified", {"action": "walks"}, {"action": "walks slowly toward the camera"}),
    (
        "motion-unqualified",
        {"motion": ["a fox runs"]},
        {"motion": ["a single drop gathers on the leaf slowly"]},
    ),
    ("nothing-still", {"still": []}, {"still": [], "camera": "static"}),
    (
        "dialogue-long",
        {
            "audio": {
                "dialogue": {
                    "who": "mika",
                    "how": "softly",
                    "says": "I came back for the mask because I could not stop thinking",
                }
            }
        },
        {"audio": {"dialogue": {"who": "mika", "how": "softly", "says": "I came back for the mask"}}},
    ),
    (
        "dialogue-delivery",
        {"audio": {"dialogue": {"who": "mika", "says": "Hey, I missed you"}}},
        {"audio": {"dialogue": {"who": "mika", "says": "Hey, I missed you", "how": "whispering softly"}}},
    ),
    (
        "dialogue-fit",
        {
            "duration": 3,
            "audio": {
                "dialogue": {"who": "mika", "how": "softly", "says": "I came back for the mask, I missed you"}
            },
        },
        {
            "duration": 5,
            "audio": {
                "dialogue": {"who": "mika", "how": "softly", "says": "I came back for the mask, I missed you"}
            },
        },
    ),
    ("clip-long", {"duration": 10}, {"duration": 8}),
    (
        "vague-verb",
        {"motion": ["leaves drift slowly downward", "the mist moves gently"]},
        {"motion": ["leaves drift slowly downward", "the mist curls gently"]},
    ),
    (
        "negative-phrasing",
        {"scene": "a misty forest at dawn with no people"},
        {"scene": "an empty misty forest at dawn"},
    ),
    (
        "non-english",
        {"subject": "Un masque de kitsune", "scene": "dans une forêt est brumeuse et calme"},
        {"subject": "A kitsune mask", "scene": "in a misty calm forest"},
    ),
    ("non-english", {"subject": "狐の面 (a kitsune mask)"}, {"subject": "A kitsune mask"}),
    (
        "no-constraints",
        {"prompt": "Close-up. A mask glows softly in warm light while the camera holds still."},
        {
            "prompt": "Close-up. A mask glows softly in warm light while the camera holds still. No distortion. No jitter."
        },
    ),
    ("no-framing", {"framing": None}, {"framing": "wide"}),
    (
        "no-lighting",
        {"lighting": None, "scene": "a quiet forest"},
        {"lighting": None, "scene": "a forest at dusk"},
    ),
    ("unknown-rule", {"lint": ["word-cuont"]}, {"lint": ["word-count"]}),
]


@pytest.mark.parametrize(("rule", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_rule_fires_on_a_bad_shot_and_not_on_a_fixed_one(
    rules: Rules, rule: str, bad: dict[str, Any], good: dict[str, Any]
) -> None:
    def shot(changes: dict[str, Any]) -> dict[str, Any]:
        s = {**GOOD, **changes}
        return {k: v for k, v in s.items() if v is not None}

    assert rule in rules(shot(bad))
    assert rule not in rules(shot(good))


def test_img2vid_redescribing_the_image_is_flagged(rules: Rules) -> None:
    bad = {**IMG2VID, "action": "a young woman wearing a yellow raincoat slowly turns toward the camera"}
    assert "img2vid-redescribes" in rules(bad)
    bypass = {
        **IMG2VID,
        "prompt": "A young woman with a short black bob and a yellow raincoat smiles slowly. "
        "The lamps stay fixed. No distortion. No jitter.",
        "audio": {"dialogue": {"who": "mika", "says": "Hi", "how": "softly"}},
    }
    assert "img2vid-redescribes" in rules(bypass)
    assert "img2vid-redescribes" not in rules(IMG2VID)


def test_img2vid_shots_need_no_framing_or_lighting_of_their_own(rules: Rules) -> None:
    assert not {"no-framing", "no-lighting"} & rules(IMG2VID)


def test_every_rule_has_a_case_that_triggers_it() -> None:
    covered = {c[0] for c in CASES} | {"img2vid-redescribes", "same-request"}
    assert covered == set(RULES)


def test_dialogue_fit_counts_only_the_time_outside_the_transitions_and_says_the_duration_needed(
    tiny_project: TinyProjects,
) -> None:
    line = {
        "who": "mika",
        "how": "softly",
        "says": "I came back for the mask, I missed you",
    }  # 9 words: 4.1 s
    before = {**GOOD, "id": "before", "transition": {"type": "dissolve", "duration": 1.0}}
    speaking = {**GOOD, "id": "speaking", "duration": 5, "audio": {"dialogue": line}}
    after = {**GOOD, "id": "after"}
    alone = {(f.shot, f.rule) for f in lint_project(load_project(tiny_project(board(speaking)))).findings}
    assert ("speaking", "dialogue-fit") not in alone  # 5 s on its own holds 4.1 s
    speaking["transition"] = {"type": "dissolve", "duration": 1.0}
    report = lint_project(load_project(tiny_project(board(before, speaking, after))))
    [finding] = [f for f in report.findings if f.rule == "dialogue-fit"]
    # half of each dissolve belongs to the neighbour: 5 - 0.5 - 0.5 = 4 s, short of 4.1 s
    assert finding.shot == "speaking"
    assert "needs about 4.1 s" in finding.message and "on its own for 4.0 s" in finding.message
    assert "make it at least 6 s" in finding.message


def test_two_shots_sending_the_same_request_are_warned_about(tiny_project: TinyProjects) -> None:
    def same_request(*shots: dict[str, Any], **top: Any) -> list[tuple[str, str]]:
        root = tiny_project(board(*shots, **top), name=f"film{len(seen)}")
        seen.append(root)
        return [
            (f.shot, f.message) for f in lint_project(load_project(root)).findings if f.rule == "same-request"
        ]

    seen: list[Path] = []
    a, b = {**GOOD, "id": "a"}, {**GOOD, "id": "b"}
    paid = {"defaults": {"model": "runway/gen4.5"}}
    assert same_request(a, b, **paid) == [
        ("b", "shots a and b send the same request: they will share one clip; change one's text or seed")
    ]
    assert not same_request(a, {**b, "seed": 7}, **paid)  # a seed makes it another request
    assert not same_request(a, b)  # the animatic labels each clip with its shot: never the same request
    assert not same_request(a, {**b, "lint": ["same-request"]}, **paid)


def test_a_dialects_band_decides_the_word_count(rules: Rules) -> None:
    long = {
        **GOOD,
        "scene": "a misty cedar forest at dawn where old stone lanterns line a narrow path "
        "that winds uphill toward a small red shrine gate half hidden in ferns, "
        "where a thin stream runs beside moss-covered stones and fallen cedar needles",
    }
    assert "word-count" in rules(long, "generic")
    assert "word-count" not in rules(long, "veo")


def test_a_shot_ignores_a_rule_and_defaults_ignore_it_everywhere(rules: Rules) -> None:
    bad = {**GOOD, "duration": 10}
    assert "clip-long" in rules(bad)
    assert "clip-long" not in rules({**bad, "lint": ["clip-long"]})
    assert "clip-long" not in rules(bad, defaults={"lint": ["clip-long"]})
    # a shot with its own list keeps the project-wide ignores too
    assert "clip-long" not in rules({**bad, "lint": ["no-lighting"]}, defaults={"lint": ["clip-long"]})


def test_findings_point_at_the_shots_line_or_the_field_it_wrote(tiny_project: TinyProjects) -> None:
    first = {**GOOD, "id": "first"}
    second = {
        **GOOD,
        "id": "second",
        "duration": 10,
        "motion": ["leaves drift slowly downward", "a fox runs"],
    }
    root = tiny_project(board(first, second))
    report = lint_project(load_project(root))
    by_rule = {f.rule: f for f in report.findings}
    assert set(by_rule) == {"clip-long", "motion-unqualified"} and {f.shot for f in report.findings} == {
        "second"
    }
    assert "duration: 10" in line_at(root, by_rule["clip-long"].line)
    assert "a fox runs" in line_at(root, by_rule["motion-unqualified"].line)


def test_findings_from_defaults_point_at_the_shot(tiny_project: TinyProjects) -> None:
    root = tiny_project(board({**GOOD, "id": "only"}, defaults={"duration": 12}))
    [finding] = lint_project(load_project(root)).findings
    line = line_at(root, finding.line)
    assert finding.rule == "clip-long" and "id: only" in line


def test_a_card_is_not_linted(rules: Rules) -> None:
    assert rules({"id": "title", "mode": "card", "card": {"title": "Kitsune Dawn"}, "duration": 12}) == set()


# -- the command ------------------------------------------------------------------------------------


def test_lint_exits_1_on_errors_and_groups_findings_by_shot(tiny_project: TinyProjects) -> None:
    bad = {**GOOD, "id": "busy", "camera": "static", "motion": ["the camera pans left then zooms in slowly"]}
    root = tiny_project(board({**GOOD, "id": "calm"}, bad))
    result = runner.invoke(app, ["lint", str(root)])
    assert result.exit_code == 1, result.output
    assert "shot 'busy' (generic)" in result.output and "shot 'calm'" not in result.output
    assert "error [camera-moves] 2 camera moves (pan, zoom)" in result.output
    assert "fix: keep one camera move per shot" in result.output


def test_lint_passes_warnings_unless_strict(tiny_project: TinyProjects) -> None:
    root = tiny_project(board({**GOOD, "duration": 10}))
    assert runner.invoke(app, ["lint", str(root)]).exit_code == 0
    assert runner.invoke(app, ["lint", str(root), "--strict"]).exit_code == 1
    tiny_project(board(GOOD))
    assert runner.invoke(app, ["lint", str(root), "--strict"]).exit_code == 0


def test_lint_json_lists_every_finding_with_its_line(tiny_project: TinyProjects) -> None:
    root = tiny_project(board({**GOOD, "duration": 10}))
    result = runner.invoke(app, ["lint", str(root), "--json", "--dialect", "kling"])
    data = json.loads(result.output)
    assert data["warnings"] == 1 and data["errors"] == 0
    [f] = data["findings"]
    assert (f["shot"], f["rule"], f["level"], f["dialect"]) == ("shot", "clip-long", "warning", "kling")
    assert isinstance(f["line"], int) and f["fix"]


def test_the_readme_table_lists_every_rule() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert all(f"| `{rule}` | {RULES[rule].level} |" in readme for rule in RULES)


@pytest.mark.slow
def test_the_cli_starts_without_importing_jinja_or_the_lint() -> None:
    code = "import sys, shotlist.cli; print(sorted(m for m in ('jinja2', 'shotlist.prompt', 'shotlist.lint') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
