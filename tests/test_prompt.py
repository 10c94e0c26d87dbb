"""Prompt rendering: dialects, determinism, overrides, the bypass, the sandbox, template errors."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shotlist import prompt, templating
from shotlist.cli import app, main
from shotlist.load import load_project
from shotlist.prompt import (
    TemplateError,
    dialect_for_model,
    dialects,
    render_prompt,
    word_count,
)
from tests.tiny_project import KITSUNE_MASK, MIKA_LOOK, TinyProjects

runner = CliRunner()

MASK: dict[str, Any] = {
    **KITSUNE_MASK,
    "angle": "low",
    "motion": ["leaves drift slowly downward"],
    "camera": "static",
    "style": "film",
    "negative": "blurry, watermark",
}

Project = Callable[..., Path]


@pytest.fixture
def project(tiny_project: TinyProjects) -> Project:
    """Call it with shots (``MASK`` if none), extra ``files`` (path → text) and storyboard keys for a
    project folder with the style ``film`` and the character ``mika`` (whose reference is assets/still.png)."""

    def make(*shots: dict[str, Any], files: dict[str, str] | None = None, **top: Any) -> Path:
        board = {
            "version": 1,
            "defaults": {"model": "animatic"},
            "styles": {"film": "35mm film grain, muted teal and amber palette"},
            "characters": {"mika": {"look": MIKA_LOOK, "ref": "assets/still.png"}},
            "shots": list(shots) or [MASK],
            **top,
        }
        return tiny_project(board, files={rel: textwrap.dedent(text) for rel, text in (files or {}).items()})

    return make


def rendered(root: Path, dialect: str | None = None, index: int = 0) -> str:
    p = load_project(root)
    r = render_prompt(p, p.shots[index], dialect)
    assert r is not None
    return r.text


def test_the_same_shot_renders_byte_identical_text(project: Project) -> None:
    root = project()
    first = {d: rendered(root, d) for d in dialects()}
    templating.environment.cache_clear()  # a fresh environment, as in a new process
    prompt._KEPT.clear()  # and no prompt kept from the first render
    again = {d: rendered(root, d) for d in dialects()}
    assert first == again
    assert all("  " not in t and "\n" not in t for t in first.values())


@pytest.mark.parametrize(
    "dialect", ["generic", "seedance", "veo", "kling", "runway", "luma", "minimax", "wan"]
)
def test_every_dialect_opens_with_the_framing_and_closes_with_the_constraints(
    project: Project, dialect: str
) -> None:
    text = rendered(project(), dialect)
    assert text.startswith("Close-up from a low angle.")
    assert text.endswith("No distortion. No jitter.")
    for part in ("kitsune mask", "misty forest", "volumetric light", "35mm film grain", "stays fixed"):
        assert part in text


def test_clauses_follow_subject_action_scene_lighting_style_camera_in_generic(project: Project) -> None:
    text = rendered(project(), "generic")
    order = [
        text.index(p)
        for p in ("kitsune mask", "rests on", "misty forest", "volumetric", "35mm", "Static camera")
    ]
    assert order == sorted(order)


def test_each_dialect_writes_the_camera_its_own_way(project: Project) -> None:
    root = project({**MASK, "camera": {"move": "dolly-in", "speed": "slow"}})
    assert "[Push in]" in rendered(root, "minimax")
    assert "Camera language: the camera pushes in slowly." in rendered(root, "kling")
    assert "A slow dolly-in toward the subject." in rendered(root, "veo")
    assert rendered(root, "runway").startswith(
        "Close-up from a low angle. The camera dollies slowly in: a carved"
    )
    # Kling puts the camera before the light; Luma describes it last, before the constraints
    kling = rendered(root, "kling")
    assert kling.index("Camera language") < kling.index("volumetric")
    luma = rendered(root, "luma")
    assert luma.index("volumetric") < luma.index("The camera pushes in")


def test_dialogue_is_written_with_its_delivery_label(project: Project) -> None:
    root = project(
        {
            **MASK,
            "audio": {"dialogue": {"who": "mika", "says": "Hey, I missed you", "how": "whispering softly"}},
        },
    )
    assert 'Mika (whispering softly): "Hey, I missed you."' in rendered(root, "generic")
    assert '[Mika, whispering softly]: "Hey, I missed you."' in rendered(root, "kling")
    assert 'Mika, whispering softly, says: "Hey, I missed you."' in rendered(root, "veo")
    assert 'Mika says, whispering softly: "Hey, I missed you."' in rendered(root, "seedance")
    for dialect in dialects():
        text = rendered(root, dialect)
        assert "whispering softly" in text and '"Hey, I missed you."' in text
        assert not any(glitch in text for glitch in (",:", ",.", "..", " ,", " .")), (dialect, text)


def test_an_img2vid_prompt_describes_motion_not_what_the_image_shows(project: Project) -> None:
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
        text = rendered(project(shot), dialect)
        assert "turns her head" in text and "hair sways gently" in text
        for shown in ("yellow raincoat", "narrow street", "warm dawn light", "35mm"):
            assert shown not in text, (dialect, text)


def test_a_character_look_stands_in_for_a_missing_subject(project: Project) -> None:
    shot = {**MASK, "mode": "ref2vid", "refs": ["mika"]}
    del shot["subject"]
    text = rendered(project(shot))
    assert "A young woman with a short black bob and a yellow raincoat rests on" in text
    assert "Mika looks exactly as in the reference image." in text


def test_a_projects_template_overrides_the_builtin_dialect_by_name(project: Project) -> None:
    root = project(files={"templates/generic.j2": "HOUSE {{ shot.subject | upper }}. {{ shot.constraints }}"})
    p = load_project(root)
    r = render_prompt(p, p.shots[0])
    assert r is not None
    assert r.text == "HOUSE A CARVED KITSUNE MASK. No distortion. No jitter."
    assert r.template == "templates/generic.j2"
    assert rendered(root, "veo").startswith("Close-up")  # other dialects stay built in


def test_a_shot_can_name_its_template_and_import_the_builtin_macros(project: Project) -> None:
    files = {
        "templates/noir.j2": '{% import "_macros.j2" as m %}{{ m.opening(shot) }} Noir: {{ shot.subject }}.'
    }
    root = project({**MASK, "template": "noir"}, files=files)
    assert rendered(root, "kling") == "Close-up from a low angle. Noir: A carved kitsune mask."


def test_a_prompt_on_the_shot_bypasses_every_template(project: Project) -> None:
    root = project({**MASK, "prompt": "  Close-up of a mask.\n  It glows softly. No distortion. No jitter. "})
    p = load_project(root)
    for dialect in dialects():
        r = render_prompt(p, p.shots[0], dialect)
        assert r is not None and r.bypassed
        assert r.text == "Close-up of a mask. It glows softly. No distortion. No jitter."


def test_a_card_has_no_prompt(project: Project) -> None:
    root = project({"id": "title", "mode": "card", "card": {"title": "Kitsune Dawn"}})
    p = load_project(root)
    assert render_prompt(p, p.shots[0]) is None


def test_the_negative_goes_only_to_models_that_take_one(project: Project) -> None:
    p = load_project(project())
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
def test_a_sandbox_escape_in_a_project_template_fails_cleanly(project: Project, escape: str) -> None:
    root = project({**MASK, "template": "evil"}, files={"templates/evil.j2": "Close-up.\n" + escape})
    with pytest.raises(TemplateError) as err:
        rendered(root)
    assert str(err.value).startswith("templates/evil.j2:2: ")
    assert "rendering shot 'mask'" in str(err.value)


def test_a_template_syntax_error_names_the_file_and_line(project: Project) -> None:
    files = {"templates/generic.j2": "Close-up.\n{{ shot.subject }}\n{% if shot.action %}no end\n"}
    root = project(files=files)
    with pytest.raises(TemplateError, match=r"^templates/generic\.j2:3: .*'endif'"):
        rendered(root)


def test_an_undefined_name_in_a_template_names_the_file_and_line(project: Project) -> None:
    root = project(files={"templates/generic.j2": "Close-up.\n\n{{ shot.subjcet }}"})
    with pytest.raises(TemplateError, match=r"^templates/generic\.j2:3: .*subjcet"):
        rendered(root)


def test_an_unknown_template_says_which_exist(project: Project) -> None:
    root = project({**MASK, "template": "kilng"})
    with pytest.raises(TemplateError, match="no template 'kilng'.*did you mean 'kling'"):
        rendered(root)


def test_a_template_symlinked_outside_the_project_is_refused(project: Project) -> None:
    root = project()
    outside = root.parent / "outside.j2"
    outside.write_text("stolen", encoding="utf-8")
    (root / "templates").mkdir()
    (root / "templates" / "generic.j2").symlink_to(outside)
    with pytest.raises(TemplateError, match="outside the project"):
        rendered(root)


def test_an_unknown_dialect_is_an_error(project: Project) -> None:
    p = load_project(project())
    with pytest.raises(TemplateError, match="did you mean 'kling'"):
        render_prompt(p, p.shots[0], "klingg")


# -- the command ------------------------------------------------------------------------------------


def test_prompts_prints_each_shot_with_its_word_count(project: Project) -> None:
    root = project(MASK, {"id": "title", "mode": "card", "card": {"title": "T"}})
    result = runner.invoke(app, ["prompts", str(root), "--dialect", "minimax"])
    assert result.exit_code == 0, result.output
    assert "# mask  txt2vid, minimax," in result.output and "[Static shot]" in result.output
    assert "# title  (card: no prompt)" in result.output


def test_prompts_json_for_one_shot_and_a_model(project: Project) -> None:
    root = project()
    result = runner.invoke(app, ["prompts", str(root), "--shot", "mask", "--model", "kling-v2-1", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["dialect"] == "kling" and row["negative"] == "blurry, watermark"
    assert row["words"] == word_count(row["prompt"])


def test_prompts_refuses_an_unknown_shot_and_both_model_and_dialect(project: Project) -> None:
    root = project()
    assert runner.invoke(app, ["prompts", str(root), "--shot", "mask2"]).exit_code == 2
    assert runner.invoke(app, ["prompts", str(root), "--model", "veo-3", "--dialect", "kling"]).exit_code == 2


def test_prompts_on_an_invalid_storyboard_exits_2_with_the_line(
    tiny_project: TinyProjects, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tiny_project("version: 1\nshots:\n  - id: a\n    camera: pan-left, zoom-in\n")
    monkeypatch.setattr(sys, "argv", ["shotlist", "prompts", str(root)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert "storyboard.yaml:4:13: shots[0].camera:" in capsys.readouterr().err


def test_the_catalog_names_each_models_dialect() -> None:
    from shotlist.catalog import catalog

    assert catalog(), "the catalog lists models"
    for model_id, entry in catalog().items():
        assert dialect_for_model(model_id) == entry.dialect, model_id


def test_the_models_own_prompt_limit_applies_when_it_is_smaller(project: Project) -> None:
    from shotlist.catalog import catalog

    model_id, entry = next((m, e) for m, e in sorted(catalog().items()) if e.dialect == "veo")
    root = project(
        {
            **MASK,
            "model": model_id,
            "duration": entry.durations[0] if isinstance(entry.durations, list) else 4,
        },
    )
    p = load_project(root)
    r = render_prompt(p, p.shots[0])
    assert r is not None and r.dialect == "veo"
    assert r.max_chars == min(dialects()["veo"].max_chars, entry.prompt_chars)
    forced = render_prompt(p, p.shots[0], "veo")
    assert forced is not None and forced.max_chars == dialects()["veo"].max_chars


# -- the budget of a template: loops, time and output -------------------------------------------------------

ENDLESS = "Close-up.\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"


@pytest.mark.parametrize("command", ["prompts", "lint"])
def test_nested_loops_over_huge_ranges_stop_prompts_and_lint_at_the_template_line(
    project: Project, command: str
) -> None:
    from tests.shotlist_cli import run_shotlist

    root = project({**MASK, "template": "endless"}, files={"templates/endless.j2": ENDLESS})
    began = time.monotonic()
    code, out, err = run_shotlist(command, str(root), timeout=30)
    assert time.monotonic() - began < 10
    assert code == 2 and out == ""
    assert err == (
        "templates/endless.j2:2: the template's loops and calls ran more than 10,000 steps (rendering shot 'mask')\n"
        "  fix: loop over the shot's own lists (motion, still, characters), not over large ranges\n"
    )


def test_a_template_that_writes_without_end_is_stopped_at_the_output_limit(project: Project) -> None:
    flood = "Close-up.\n{% for i in range(9000) %}{{ 'word ' * 2000 }}{% endfor %}\n"
    root = project({**MASK, "template": "flood"}, files={"templates/flood.j2": flood})
    with pytest.raises(
        TemplateError, match=r"^templates/flood\.j2: the template wrote more than 100,000 char"
    ):
        rendered(root)


def test_loops_over_a_shots_own_lists_are_not_limited_by_the_budget(project: Project) -> None:
    many = {**MASK, "motion": [f"leaf {i} drifts slowly down" for i in range(60)], "template": "lists"}
    lists = "Close-up.{% for m in shot.motion %}{% for s in shot.motion %}{% endfor %} {{ m }}.{% endfor %}"
    root = project(many, files={"templates/lists.j2": lists})
    assert rendered(root).count("drifts slowly down") == 60  # 3,660 loop steps: far more than a prompt needs


def test_an_empty_template_is_an_error_not_a_zero_word_prompt(project: Project) -> None:
    root = project(files={"templates/generic.j2": "{# nothing yet #}\n"})
    with pytest.raises(TemplateError, match=r"^templates/generic\.j2: the template writes an empty prompt"):
        rendered(root)


def test_a_template_that_is_a_named_pipe_is_refused_without_waiting_on_it(project: Project) -> None:
    root = project()
    (root / "templates").mkdir()
    os.mkfifo(root / "templates" / "generic.j2")  # would shadow the built-in dialect; reading it blocks
    with pytest.raises(TemplateError, match=r"^templates/generic\.j2: this is a named pipe \(FIFO\)"):
        rendered(root)


def test_validate_renders_every_prompt_and_names_each_failing_shot_once(project: Project) -> None:
    from tests.shotlist_cli import run_shotlist

    shots = [{**MASK, "id": f"s{i}"} for i in range(5)]
    root = project(*shots, files={"templates/generic.j2": "{{ shot.subjcet }}"})
    code, out, err = run_shotlist("validate", str(root))
    assert code == 2 and out == ""
    first, *_, last = err.splitlines()
    assert first.endswith(
        "storyboard.yaml:11:3: shots[0]: templates/generic.j2:1: 'dict object' has no attribute 'subjcet' "
        "(in shots 's0', 's1', 's2' and 2 more)"
    )
    assert last.endswith("1 problem in " + str(root / "storyboard.yaml"))


#: One expression each that builds far more than a prompt from a few characters, or computes for ever
#: without a loop; each must stop in a moment with the template's line, not fill the memory first.
BOMBS = {
    "a huge width": "{{ 'x'|center(1000000000) }}",
    "a huge width to a method": "{{ shot.subject.rjust(1000000000) }}",
    "a huge width named in a format": "{{ '{:>{w}}'.format('x', w=1000000000) }}",
    "a huge width in a format": "{{ '{:>1000000000}'.format('x') }}",
    "a huge width with %": "{{ '%1000000000s' % 'x' }}",
    "a huge width with % and *": "{{ '%*s' % (1000000000, 'x') }}",
    "a huge width with the format filter": "{{ '%1000000000s'|format('x') }}",
    "a string replaced into itself": "{% set a = 'y' * 9999 %}{% set b = a|replace('y', a) %}"
    "{{ b|replace('y', b)|length }}",
    "a join with a long separator": "{{ range(99999)|join('y' * 9999)|length }}",
    "a string doubled with ~": "{% set ns = namespace(x='ab') %}{% for i in range(64) %}"
    "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x|length }}",
    "a string doubled with +": "{% set ns = namespace(x='ab') %}{% for i in range(64) %}"
    "{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x|length }}",
    "a string doubled by a join": "{% set ns = namespace(x='ab') %}{% for i in range(64) %}"
    "{% set ns.x = [ns.x, ns.x]|join %}{% endfor %}{{ ns.x|length }}",
    "a block doubled": "{% set ns = namespace(x='ab') %}{% for i in range(64) %}"
    "{% set ns.x %}{{ ns.x }}{{ ns.x }}{% endset %}{% endfor %}{{ ns.x|length }}",
    "a number squared in a loop": "{% set ns = namespace(x=9 ** 64) %}{% for i in range(40) %}"
    "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x > 1 }}",
    "a tower of powers": "{{ ((((9 ** 64) ** 64) ** 64) ** 64) > 1 }}",
    "a macro that calls itself twice": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% else %}x"
    "{% endif %}{% endmacro %}{{ f(60)|length }}",
    "a billion empty slices": "{{ [1]|slice(1000000000)|list|length }}",
    "filler text": "{{ lipsum(100000) }}",
}


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_template_expression_that_would_build_gigabytes_stops_at_once_at_its_line(
    project: Project, bomb: str
) -> None:
    from tests.shotlist_cli import run_shotlist

    root = project({**MASK, "template": "bomb"}, files={"templates/bomb.j2": "Close-up.\n" + BOMBS[bomb]})
    began = time.monotonic()
    code, out, err = run_shotlist("prompts", str(root), timeout=60)
    assert time.monotonic() - began < 5, err
    assert code == 2 and out == "", err
    first, fix = err.splitlines()
    assert first.startswith("templates/bomb.j2:2: ") and first.endswith(" (rendering shot 'mask')"), err
    assert fix.startswith("  fix: "), err


@pytest.mark.parametrize(
    ("source", "what"),
    [("{{ ['red', 'blue', 'teal']|random }} bottle", "random"), ("{{ lipsum(1) }}", "lipsum")],
)
def test_a_template_whose_words_change_on_every_render_is_refused(
    project: Project, source: str, what: str
) -> None:
    # a prompt that differs each time is a new recipe each time: every build would pay for the shot again
    root = project({**MASK, "template": "dice"}, files={"templates/dice.j2": "Close-up.\n" + source})
    with pytest.raises(TemplateError) as err:
        rendered(root)
    assert str(err.value).startswith(f"templates/dice.j2:2: {what} ")
    assert "a different prompt on every render" in str(err.value)


@pytest.mark.parametrize("junk", [b"caf\xe9 {{ shot.subject }}", b"\xff\xfe{\x00{\x00"])
def test_a_template_that_is_not_utf8_names_the_file_and_line(project: Project, junk: bytes) -> None:
    from tests.shotlist_cli import run_shotlist

    root = project({**MASK, "template": "latin"})
    (root / "templates").mkdir()
    (root / "templates" / "latin.j2").write_bytes(b"Close-up.\n" + junk)
    code, out, err = run_shotlist("validate", str(root))
    assert code == 2 and "Traceback" not in err
    assert ": templates/latin.j2:2: byte 0x" in err and " is not UTF-8" in err
    assert "fix: save templates/latin.j2 as UTF-8" in err


def test_ordinary_uses_of_widths_numbers_and_joins_still_render(project: Project) -> None:
    ordinary = (
        "{{ shot.subject|center(80)|trim }}. {{ '%05.1f'|format(12.5) }} {{ '{:>6}'.format('ab') }} "
        "{{ '%d' % 1234567890123 }} {{ (2 ** 64) * 3 }} {{ range(3)|join(', ') }} "
        "{{ (shot.motion * 2)|join(' ') }} {{ [1, 2, 3]|slice(2)|list|length }}"
    )
    root = project({**MASK, "template": "ok"}, files={"templates/ok.j2": ordinary})
    text = rendered(root)
    assert "A carved kitsune mask" in text and "012.5" in text and "1234567890123" in text
    assert str(2**64 * 3) in text and "0, 1, 2" in text


@pytest.mark.parametrize(
    "deep",
    ["{% if true %}" * 5000 + "x" + "{% endif %}" * 5000, "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"],
)
def test_a_template_nested_too_deeply_to_compile_is_named(project: Project, deep: str) -> None:
    from tests.shotlist_cli import run_shotlist

    root = project({**MASK, "template": "deep"}, files={"templates/deep.j2": "Close-up.\n" + deep})
    code, out, err = run_shotlist("validate", str(root))
    assert code == 2 and "Traceback" not in err, err
    assert "shots[0].template: templates/deep.j2: the template nests too deeply to compile" in err
    assert "fix: nest fewer blocks and brackets" in err


@pytest.mark.parametrize("name", ["../../etc/passwd", "a b", "noir.j2"])
def test_a_template_name_that_is_no_file_name_is_not_told_to_be_added(project: Project, name: str) -> None:
    root = project({**MASK, "template": name})
    with pytest.raises(TemplateError) as err:
        rendered(root)
    assert err.value.fix.startswith("name one of: generic, kling,") and "add templates/" not in str(err.value)
