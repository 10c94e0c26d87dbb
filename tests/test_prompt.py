"""Prompt rendering: dialects, determinism, overrides, the bypass, the sandbox, template errors."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.load import load_project
from shotlist.prompt import (
    TemplateError,
    _environment,
    dialect_for_model,
    dialects,
    render_prompt,
    word_count,
)

runner = CliRunner()

MASK: dict[str, Any] = {
    "id": "mask",
    "mode": "txt2vid",
    "framing": "close-up",
    "angle": "low",
    "subject": "A carved kitsune mask",
    "action": "rests on moss-covered stone",
    "scene": "a misty forest at dawn",
    "lighting": "soft volumetric light rays through the trees",
    "motion": ["leaves drift slowly downward"],
    "still": ["the mask stays fixed in frame"],
    "camera": "static",
    "style": "film",
    "negative": "blurry, watermark",
}


def project(tmp: Path, *shots: dict[str, Any], files: dict[str, str] | None = None, **top: Any) -> Path:
    """A project folder with this storyboard, a PNG at assets/still.png and any extra text files."""
    (tmp / "assets").mkdir(exist_ok=True)
    Image.new("RGB", (64, 36), (200, 120, 40)).save(tmp / "assets" / "still.png")
    board = {
        "version": 1,
        "defaults": {"model": "animatic"},
        "styles": {"film": "35mm film grain, muted teal and amber palette"},
        "characters": {
            "mika": {
                "look": "a young woman with a short black bob and a yellow raincoat",
                "ref": "assets/still.png",
            }
        },
        "shots": list(shots) or [MASK],
        **top,
    }
    (tmp / "storyboard.yaml").write_text(yaml.safe_dump(board, sort_keys=False), encoding="utf-8")
    for rel, text in (files or {}).items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp


def rendered(tmp: Path, dialect: str | None = None, index: int = 0) -> str:
    p = load_project(tmp)
    r = render_prompt(p, p.shots[index], dialect)
    assert r is not None
    return r.text


def test_the_same_shot_renders_byte_identical_text(tmp_path: Path) -> None:
    project(tmp_path)
    first = {d: rendered(tmp_path, d) for d in dialects()}
    _environment.cache_clear()  # a fresh environment, as in a new process
    again = {d: rendered(tmp_path, d) for d in dialects()}
    assert first == again
    assert all("  " not in t and "\n" not in t for t in first.values())


@pytest.mark.parametrize(
    "dialect", ["generic", "seedance", "veo", "kling", "runway", "luma", "minimax", "wan"]
)
def test_every_dialect_opens_with_the_framing_and_closes_with_the_constraints(
    tmp_path: Path, dialect: str
) -> None:
    text = rendered(project(tmp_path), dialect)
    assert text.startswith("Close-up from a low angle.")
    assert text.endswith("No distortion. No jitter.")
    for part in ("kitsune mask", "misty forest", "volumetric light", "35mm film grain", "stays fixed"):
        assert part in text


def test_clauses_follow_subject_action_scene_lighting_style_camera_in_generic(tmp_path: Path) -> None:
    text = rendered(project(tmp_path), "generic")
    order = [
        text.index(p)
        for p in ("kitsune mask", "rests on", "misty forest", "volumetric", "35mm", "Static camera")
    ]
    assert order == sorted(order)


def test_each_dialect_writes_the_camera_its_own_way(tmp_path: Path) -> None:
    project(tmp_path, {**MASK, "camera": {"move": "dolly-in", "speed": "slow"}})
    assert "[Push in]" in rendered(tmp_path, "minimax")
    assert "Camera language: the camera pushes in slowly." in rendered(tmp_path, "kling")
    assert "A slow dolly-in toward the subject." in rendered(tmp_path, "veo")
    assert rendered(tmp_path, "runway").startswith(
        "Close-up from a low angle. The camera dollies slowly in: a carved"
    )
    # Kling puts the camera before the light; Luma describes it last, before the constraints
    kling = rendered(tmp_path, "kling")
    assert kling.index("Camera language") < kling.index("volumetric")
    luma = rendered(tmp_path, "luma")
    assert luma.index("volumetric") < luma.index("The camera pushes in")


def test_dialogue_is_written_with_its_delivery_label(tmp_path: Path) -> None:
    project(
        tmp_path,
        {
            **MASK,
            "audio": {"dialogue": {"who": "mika", "says": "Hey, I missed you", "how": "whispering softly"}},
        },
    )
    assert 'Mika (whispering softly): "Hey, I missed you."' in rendered(tmp_path, "generic")
    assert '[Mika, whispering softly]: "Hey, I missed you."' in rendered(tmp_path, "kling")
    assert 'Mika, whispering softly, says: "Hey, I missed you."' in rendered(tmp_path, "veo")
    assert 'Mika says, whispering softly: "Hey, I missed you."' in rendered(tmp_path, "seedance")
    for dialect in dialects():
        text = rendered(tmp_path, dialect)
        assert "whispering softly" in text and '"Hey, I missed you."' in text
        assert not any(glitch in text for glitch in (",:", ",.", "..", " ,", " .")), (dialect, text)


def test_an_img2vid_prompt_describes_motion_not_what_the_image_shows(tmp_path: Path) -> None:
    shot = {
        "id": "turn",
        "mode": "img2vid",
        "image": "assets/still.png",
        "subject": "a young woman in a yellow raincoat on a wet street",
        "scene": "a narrow street at dawn",
        "lighting": "warm dawn light",
        "style": "film",
        "action": "slowly turns her head toward the camera",
        "motion": ["her hair sways gently"],
        "camera": {"move": "dolly-in"},
    }
    for dialect in dialects():
        text = rendered(project(tmp_path, shot), dialect)
        assert "turns her head" in text and "hair sways gently" in text
        for shown in ("yellow raincoat", "narrow street", "warm dawn light", "35mm"):
            assert shown not in text, (dialect, text)


def test_a_character_look_stands_in_for_a_missing_subject(tmp_path: Path) -> None:
    shot = {**MASK, "mode": "ref2vid", "refs": ["mika"]}
    del shot["subject"]
    text = rendered(project(tmp_path, shot))
    assert "A young woman with a short black bob and a yellow raincoat rests on" in text
    assert "Mika looks exactly as in the reference image." in text


def test_a_projects_template_overrides_the_builtin_dialect_by_name(tmp_path: Path) -> None:
    project(
        tmp_path, files={"templates/generic.j2": "HOUSE {{ shot.subject | upper }}. {{ shot.constraints }}"}
    )
    p = load_project(tmp_path)
    r = render_prompt(p, p.shots[0])
    assert r is not None
    assert r.text == "HOUSE A CARVED KITSUNE MASK. No distortion. No jitter."
    assert r.template == "templates/generic.j2"
    assert rendered(tmp_path, "veo").startswith("Close-up")  # other dialects stay built in


def test_a_shot_can_name_its_template_and_import_the_builtin_macros(tmp_path: Path) -> None:
    files = {
        "templates/noir.j2": '{% import "_macros.j2" as m %}{{ m.opening(shot) }} Noir: {{ shot.subject }}.'
    }
    project(tmp_path, {**MASK, "template": "noir"}, files=files)
    assert rendered(tmp_path, "kling") == "Close-up from a low angle. Noir: A carved kitsune mask."


def test_a_prompt_on_the_shot_bypasses_every_template(tmp_path: Path) -> None:
    project(
        tmp_path, {**MASK, "prompt": "  Close-up of a mask.\n  It glows softly. No distortion. No jitter. "}
    )
    p = load_project(tmp_path)
    for dialect in dialects():
        r = render_prompt(p, p.shots[0], dialect)
        assert r is not None and r.bypassed
        assert r.text == "Close-up of a mask. It glows softly. No distortion. No jitter."


def test_a_card_has_no_prompt(tmp_path: Path) -> None:
    project(tmp_path, {"id": "title", "mode": "card", "card": {"title": "Kitsune Dawn"}})
    p = load_project(tmp_path)
    assert render_prompt(p, p.shots[0]) is None


def test_the_negative_goes_only_to_models_that_take_one(tmp_path: Path) -> None:
    p = load_project(project(tmp_path))
    negatives = {d: getattr(render_prompt(p, p.shots[0], d), "negative", None) for d in dialects()}
    assert negatives["generic"] == negatives["kling"] == "blurry, watermark"
    assert negatives["luma"] is None and negatives["runway"] is None


def test_word_count_counts_words_not_punctuation() -> None:
    assert word_count('Close-up. Mika (whispering): "Hey, I missed you." [Push in]') == 9


@pytest.mark.parametrize(
    ("model", "dialect"),
    [
        ("animatic", "generic"),
        ("bytedance/seedance-1-pro", "seedance"),
        ("veo-3.1-generate-preview", "veo"),
        ("kling-v2-1-master", "kling"),
        ("gen4_turbo", "runway"),
        ("runway-gen4.5", "runway"),
        ("luma-ray-2", "luma"),
        ("ray-flash-2", "luma"),
        ("MiniMax-Hailuo-02", "minimax"),
        ("T2V-01-Director", "minimax"),
        ("wan2.1-t2v-14b", "wan"),
        ("fal-ai/wan/v2.2", "wan"),
        ("gray-model", "generic"),
        ("swan", "generic"),
    ],
)
def test_a_model_id_picks_its_family_dialect(model: str, dialect: str) -> None:
    assert dialect_for_model(model) == dialect


def test_every_dialect_declares_its_band_and_limit() -> None:
    assert set(dialects()) == {"generic", "seedance", "veo", "kling", "runway", "luma", "minimax", "wan"}
    assert dialects()["generic"].words == (50, 80)
    assert dialects()["veo"].words[1] == 200
    assert dialects()["kling"].max_chars == 2500


# -- the sandbox and template errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ shot.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ('x' * 100000) }}",
    ],
)
def test_a_sandbox_escape_in_a_project_template_fails_cleanly(tmp_path: Path, escape: str) -> None:
    project(tmp_path, {**MASK, "template": "evil"}, files={"templates/evil.j2": "Close-up.\n" + escape})
    with pytest.raises(TemplateError) as err:
        rendered(tmp_path)
    assert str(err.value).startswith("templates/evil.j2:2: ")
    assert "rendering shot 'mask'" in str(err.value)


def test_a_template_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    files = {"templates/generic.j2": "Close-up.\n{{ shot.subject }}\n{% if shot.action %}no end\n"}
    project(tmp_path, files=files)
    with pytest.raises(TemplateError, match=r"^templates/generic\.j2:3: .*'endif'"):
        rendered(tmp_path)


def test_an_undefined_name_in_a_template_names_the_file_and_line(tmp_path: Path) -> None:
    project(tmp_path, files={"templates/generic.j2": "Close-up.\n\n{{ shot.subjcet }}"})
    with pytest.raises(TemplateError, match=r"^templates/generic\.j2:3: .*subjcet"):
        rendered(tmp_path)


def test_an_unknown_template_says_which_exist(tmp_path: Path) -> None:
    project(tmp_path, {**MASK, "template": "kilng"})
    with pytest.raises(TemplateError, match="no template 'kilng'.*did you mean 'kling'"):
        rendered(tmp_path)


def test_a_template_symlinked_outside_the_project_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.j2"
    outside.write_text("stolen", encoding="utf-8")
    root = tmp_path / "p"
    root.mkdir()
    project(root)
    (root / "templates").mkdir()
    (root / "templates" / "generic.j2").symlink_to(outside)
    with pytest.raises(TemplateError, match="outside the project"):
        rendered(root)


def test_an_unknown_dialect_is_an_error(tmp_path: Path) -> None:
    p = load_project(project(tmp_path))
    with pytest.raises(TemplateError, match="did you mean 'kling'"):
        render_prompt(p, p.shots[0], "klingg")


# -- the command ------------------------------------------------------------------------------------


def test_prompts_prints_each_shot_with_its_word_count(tmp_path: Path) -> None:
    project(tmp_path, MASK, {"id": "title", "mode": "card", "card": {"title": "T"}})
    result = runner.invoke(app, ["prompts", str(tmp_path), "--dialect", "minimax"])
    assert result.exit_code == 0, result.output
    assert "# mask  txt2vid, minimax," in result.output and "[Static shot]" in result.output
    assert "# title  (card: no prompt)" in result.output


def test_prompts_json_for_one_shot_and_a_model(tmp_path: Path) -> None:
    project(tmp_path)
    result = runner.invoke(
        app, ["prompts", str(tmp_path), "--shot", "mask", "--model", "kling-v2-1", "--json"]
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["dialect"] == "kling" and row["negative"] == "blurry, watermark"
    assert row["words"] == word_count(row["prompt"])


def test_prompts_refuses_an_unknown_shot_and_both_model_and_dialect(tmp_path: Path) -> None:
    project(tmp_path)
    assert runner.invoke(app, ["prompts", str(tmp_path), "--shot", "mask2"]).exit_code == 2
    assert (
        runner.invoke(app, ["prompts", str(tmp_path), "--model", "veo-3", "--dialect", "kling"]).exit_code
        == 2
    )


def test_prompts_on_an_invalid_storyboard_exits_2_with_the_line(tmp_path: Path) -> None:
    (tmp_path / "storyboard.yaml").write_text(
        "version: 1\nshots:\n  - id: a\n    camera: pan-left, zoom-in\n"
    )
    from shotlist.cli import main

    with pytest.raises(SystemExit) as exit_:
        import sys

        sys.argv = ["shotlist", "prompts", str(tmp_path)]
        main()
    assert exit_.value.code == 2


def test_the_catalog_names_each_models_dialect() -> None:
    from shotlist.catalog import catalog

    assert catalog(), "the catalog lists models"
    for model_id, entry in catalog().items():
        assert dialect_for_model(model_id) == entry.dialect, model_id


def test_the_models_own_prompt_limit_applies_when_it_is_smaller(tmp_path: Path) -> None:
    from shotlist.catalog import catalog

    model_id, entry = next((m, e) for m, e in sorted(catalog().items()) if e.dialect == "veo")
    project(
        tmp_path,
        {
            **MASK,
            "model": model_id,
            "duration": entry.durations[0] if isinstance(entry.durations, list) else 4,
        },
    )
    p = load_project(tmp_path)
    r = render_prompt(p, p.shots[0])
    assert r is not None and r.dialect == "veo"
    assert r.max_chars == min(dialects()["veo"].max_chars, entry.prompt_chars)
    forced = render_prompt(p, p.shots[0], "veo")
    assert forced is not None and forced.max_chars == dialects()["veo"].max_chars


# -- the budget of a template: loops, time and output -------------------------------------------------------

ENDLESS = "Close-up.\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"


@pytest.mark.parametrize("command", ["prompts", "lint"])
def test_nested_loops_over_huge_ranges_stop_prompts_and_lint_at_the_template_line(
    tmp_path: Path, command: str
) -> None:
    from tests.shotlist_cli import run_shotlist

    project(tmp_path, {**MASK, "template": "endless"}, files={"templates/endless.j2": ENDLESS})
    began = time.monotonic()
    code, out, err = run_shotlist(command, str(tmp_path), timeout=30)
    assert time.monotonic() - began < 10
    assert code == 2 and out == ""
    assert err == (
        "templates/endless.j2:2: the template's loops ran more than 10,000 steps (rendering shot 'mask')\n"
        "  fix: loop over the shot's own lists (motion, still, characters), not over large ranges\n"
    )


def test_a_template_that_writes_without_end_is_stopped_at_the_output_limit(tmp_path: Path) -> None:
    flood = "Close-up.\n{% for i in range(9000) %}{{ 'word ' * 2000 }}{% endfor %}\n"
    project(tmp_path, {**MASK, "template": "flood"}, files={"templates/flood.j2": flood})
    with pytest.raises(
        TemplateError, match=r"^templates/flood\.j2: the template wrote more than 100,000 char"
    ):
        rendered(tmp_path)


def test_loops_over_a_shots_own_lists_are_not_limited_by_the_budget(tmp_path: Path) -> None:
    many = {**MASK, "motion": [f"leaf {i} drifts slowly down" for i in range(60)], "template": "lists"}
    lists = "Close-up.{% for m in shot.motion %}{% for s in shot.motion %}{% endfor %} {{ m }}.{% endfor %}"
    project(tmp_path, many, files={"templates/lists.j2": lists})
    assert (
        rendered(tmp_path).count("drifts slowly down") == 60
    )  # 3,660 loop steps: far more than a prompt needs


def test_an_empty_template_is_an_error_not_a_zero_word_prompt(tmp_path: Path) -> None:
    project(tmp_path, files={"templates/generic.j2": "{# nothing yet #}\n"})
    with pytest.raises(TemplateError, match=r"^templates/generic\.j2: the template writes an empty prompt"):
        rendered(tmp_path)


def test_a_template_that_is_a_named_pipe_is_refused_without_waiting_on_it(tmp_path: Path) -> None:
    project(tmp_path)
    (tmp_path / "templates").mkdir()
    os.mkfifo(tmp_path / "templates" / "generic.j2")  # would shadow the built-in dialect; reading it blocks
    with pytest.raises(TemplateError, match=r"^templates/generic\.j2: this is a named pipe \(FIFO\)"):
        rendered(tmp_path)


def test_validate_renders_every_prompt_and_names_each_failing_shot_once(tmp_path: Path) -> None:
    from tests.shotlist_cli import run_shotlist

    shots = [{**MASK, "id": f"s{i}"} for i in range(5)]
    project(tmp_path, *shots, files={"templates/generic.j2": "{{ shot.subjcet }}"})
    code, out, err = run_shotlist("validate", str(tmp_path))
    assert code == 2 and out == ""
    first, *_, last = err.splitlines()
    assert first.endswith(
        "storyboard.yaml:11:3: shots[0]: templates/generic.j2:1: 'dict object' has no attribute 'subjcet' "
        "(in shots 's0', 's1', 's2' and 2 more)"
    )
    assert last.endswith("1 problem in " + str(tmp_path / "storyboard.yaml"))
