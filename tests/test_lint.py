"""Prompt lint: every rule has a shot that triggers it and one that does not; ignores; the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.lint import RULES, lint_project
from shotlist.load import load_project

runner = CliRunner()

# A shot that lints clean in the generic dialect: framing, light, qualified motion, something still.
GOOD: dict[str, Any] = {
    "id": "shot",
    "mode": "txt2vid",
    "framing": "close-up",
    "subject": "A carved kitsune mask",
    "action": "rests on moss-covered stone",
    "scene": "a misty forest at dawn",
    "lighting": "soft volumetric light rays through the trees",
    "motion": ["leaves drift slowly downward", "mist swirls gently around the stone"],
    "still": ["the mask stays fixed in frame"],
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


def write(tmp: Path, *shots: dict[str, Any], defaults: dict[str, Any] | None = None) -> Path:
    (tmp / "assets").mkdir(exist_ok=True)
    Image.new("RGB", (64, 36), (40, 90, 160)).save(tmp / "assets" / "still.png")
    board = {
        "version": 1,
        "defaults": {"model": "animatic", **(defaults or {})},
        "characters": {"mika": {"look": "a young woman with a short black bob and a yellow raincoat"}},
        "shots": list(shots),
    }
    (tmp / "storyboard.yaml").write_text(yaml.safe_dump(board, sort_keys=False), encoding="utf-8")
    return tmp


def rules(tmp: Path, shot: dict[str, Any], dialect: str | None = None, **kw: Any) -> set[str]:
    """The rule ids one shot breaks."""
    report = lint_project(load_project(write(tmp, shot, **kw)), dialect)
    return {f.rule for f in report.findings}


def test_the_good_shots_lint_clean(tmp_path: Path) -> None:
    assert rules(tmp_path, GOOD) == set()
    assert rules(tmp_path, IMG2VID) == set()


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
    tmp_path: Path, rule: str, bad: dict[str, Any], good: dict[str, Any]
) -> None:
    def shot(changes: dict[str, Any]) -> dict[str, Any]:
        s = {**GOOD, **changes}
        return {k: v for k, v in s.items() if v is not None}

    assert rule in rules(tmp_path, shot(bad))
    assert rule not in rules(tmp_path, shot(good))


def test_img2vid_redescribing_the_image_is_flagged(tmp_path: Path) -> None:
    bad = {**IMG2VID, "action": "a young woman wearing a yellow raincoat slowly turns toward the camera"}
    assert "img2vid-redescribes" in rules(tmp_path, bad)
    bypass = {
        **IMG2VID,
        "prompt": "A young woman with a short black bob and a yellow raincoat smiles slowly. "
        "The lamps stay fixed. No distortion. No jitter.",
        "audio": {"dialogue": {"who": "mika", "says": "Hi", "how": "softly"}},
    }
    assert "img2vid-redescribes" in rules(tmp_path, bypass)
    assert "img2vid-redescribes" not in rules(tmp_path, IMG2VID)


def test_img2vid_shots_need_no_framing_or_lighting_of_their_own(tmp_path: Path) -> None:
    assert not {"no-framing", "no-lighting"} & rules(tmp_path, IMG2VID)


def test_every_rule_has_a_case_that_triggers_it() -> None:
    covered = {c[0] for c in CASES} | {"img2vid-redescribes", "same-request"}
    assert covered == set(RULES)


def test_two_shots_sending_the_same_request_are_warned_about(tmp_path: Path) -> None:
    a, b = {**GOOD, "id": "a"}, {**GOOD, "id": "b"}
    write(tmp_path, a, b, defaults={"model": "runway/gen4.5"})
    found = [f for f in lint_project(load_project(tmp_path)).findings if f.rule == "same-request"]
    assert [(f.shot, f.message) for f in found] == [
        ("b", "shots a and b send the same request: they will share one clip; change one's text or seed")
    ]
    write(
        tmp_path, a, {**b, "seed": 7}, defaults={"model": "runway/gen4.5"}
    )  # a seed makes it another request
    assert not [f for f in lint_project(load_project(tmp_path)).findings if f.rule == "same-request"]
    write(tmp_path, a, b)  # the animatic labels each clip with its shot: never the same request
    assert not [f for f in lint_project(load_project(tmp_path)).findings if f.rule == "same-request"]
    write(tmp_path, a, {**b, "lint": ["same-request"]}, defaults={"model": "runway/gen4.5"})
    assert not [f for f in lint_project(load_project(tmp_path)).findings if f.rule == "same-request"]


def test_a_dialects_band_decides_the_word_count(tmp_path: Path) -> None:
    long = {
        **GOOD,
        "scene": "a misty cedar forest at dawn where old stone lanterns line a narrow path "
        "that winds uphill toward a small red shrine gate half hidden in ferns, "
        "where a thin stream runs beside moss-covered stones and fallen cedar needles",
    }
    assert "word-count" in rules(tmp_path, long, "generic")
    assert "word-count" not in rules(tmp_path, long, "veo")


def test_a_shot_ignores_a_rule_and_defaults_ignore_it_everywhere(tmp_path: Path) -> None:
    bad = {**GOOD, "duration": 10}
    assert "clip-long" in rules(tmp_path, bad)
    assert "clip-long" not in rules(tmp_path, {**bad, "lint": ["clip-long"]})
    assert "clip-long" not in rules(tmp_path, bad, defaults={"lint": ["clip-long"]})
    # a shot with its own list keeps the project-wide ignores too
    assert "clip-long" not in rules(
        tmp_path, {**bad, "lint": ["no-lighting"]}, defaults={"lint": ["clip-long"]}
    )


def test_findings_point_at_the_shots_line_or_the_field_it_wrote(tmp_path: Path) -> None:
    first = {**GOOD, "id": "first"}
    second = {
        **GOOD,
        "id": "second",
        "duration": 10,
        "motion": ["leaves drift slowly downward", "a fox runs"],
    }
    write(tmp_path, first, second)
    lines = (tmp_path / "storyboard.yaml").read_text().splitlines()
    report = lint_project(load_project(tmp_path))
    by_rule = {f.rule: f for f in report.findings}
    assert set(by_rule) == {"clip-long", "motion-unqualified"} and {f.shot for f in report.findings} == {
        "second"
    }
    assert "duration: 10" in lines[by_rule["clip-long"].line - 1]  # type: ignore[operator]
    assert "a fox runs" in lines[by_rule["motion-unqualified"].line - 1]  # type: ignore[operator]


def test_findings_from_defaults_point_at_the_shot(tmp_path: Path) -> None:
    write(tmp_path, {**GOOD, "id": "only"}, defaults={"duration": 12})
    [finding] = lint_project(load_project(tmp_path)).findings
    line = (tmp_path / "storyboard.yaml").read_text().splitlines()[finding.line - 1]  # type: ignore[operator]
    assert finding.rule == "clip-long" and "id: only" in line


def test_a_card_is_not_linted(tmp_path: Path) -> None:
    assert (
        rules(tmp_path, {"id": "title", "mode": "card", "card": {"title": "Kitsune Dawn"}, "duration": 12})
        == set()
    )


# -- the command ------------------------------------------------------------------------------------


def test_lint_exits_1_on_errors_and_groups_findings_by_shot(tmp_path: Path) -> None:
    bad = {**GOOD, "id": "busy", "camera": "static", "motion": ["the camera pans left then zooms in slowly"]}
    write(tmp_path, {**GOOD, "id": "calm"}, bad)
    result = runner.invoke(app, ["lint", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "shot 'busy' (generic)" in result.output and "shot 'calm'" not in result.output
    assert "error [camera-moves] 2 camera moves (pan, zoom)" in result.output
    assert "fix: keep one camera move per shot" in result.output


def test_lint_passes_warnings_unless_strict(tmp_path: Path) -> None:
    write(tmp_path, {**GOOD, "duration": 10})
    assert runner.invoke(app, ["lint", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["lint", str(tmp_path), "--strict"]).exit_code == 1
    write(tmp_path, GOOD)
    assert runner.invoke(app, ["lint", str(tmp_path), "--strict"]).exit_code == 0


def test_lint_json_lists_every_finding_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, {**GOOD, "duration": 10})
    result = runner.invoke(app, ["lint", str(tmp_path), "--json", "--dialect", "kling"])
    data = json.loads(result.output)
    assert data["warnings"] == 1 and data["errors"] == 0
    [f] = data["findings"]
    assert (f["shot"], f["rule"], f["level"], f["dialect"]) == ("shot", "clip-long", "warning", "kling")
    assert isinstance(f["line"], int) and f["fix"]


def test_the_readme_table_lists_every_rule() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert all(f"| `{rule}` | {RULES[rule].level} |" in readme for rule in RULES)


def test_the_cli_starts_without_importing_jinja_or_the_lint() -> None:
    import subprocess
    import sys

    code = "import sys, shotlist.cli; print(sorted(m for m in ('jinja2', 'shotlist.prompt', 'shotlist.lint') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
