"""The example projects: good prompts in every dialect, media drawn by the script kept beside them."""

from __future__ import annotations

import importlib.util
import wave
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.lint import lint_project
from shotlist.load import load_project
from shotlist.prompt import dialects, render_prompt

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ROOT / "projects"
EXAMPLES = sorted(p for p in PROJECTS.iterdir() if (p / "storyboard.yaml").is_file())
runner = CliRunner()


def make_assets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_assets", PROJECTS / "make_assets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_a_narrative_short_and_a_vertical_teaser() -> None:
    assert {p.name for p in EXAMPLES} >= {"kitsune-dawn", "product-teaser"}
    short = load_project(PROJECTS / "kitsune-dawn")
    assert 9 <= len(short.shots) <= 12
    assert {s.mode for s in short.shots} >= {"txt2vid", "img2vid", "ref2vid"}
    assert any(s.upstream for s in short.shots), "a shot starts from another shot's frame"
    assert any(s.audio.dialogue for s in short.shots)
    assert len({s.transition.type for s in short.shots} - {"cut"}) >= 3
    assert short.board.soundtrack.music is not None and short.board.characters["mika"].ref
    teaser = load_project(PROJECTS / "product-teaser")
    assert teaser.board.output.aspect == "9:16" and 5 <= len(teaser.shots) <= 6


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_an_example_lints_without_warnings_by_default_and_without_errors_in_every_dialect(
    example: Path,
) -> None:
    project = load_project(example)
    assert lint_project(project).findings == []
    for dialect in dialects():
        report = lint_project(project, dialect)
        assert report.count("error") == 0, report.format()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_prompts_prints_an_example_in_every_dialect(example: Path) -> None:
    shots = [s.id for s in load_project(example).shots]
    for dialect in dialects():
        result = runner.invoke(app, ["prompts", str(example), "--dialect", dialect])
        assert result.exit_code == 0, result.output
        assert all(f"# {shot}  " in result.output for shot in shots)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_an_examples_prompts_read_cleanly_in_every_dialect(example: Path) -> None:
    project = load_project(example)
    for dialect in dialects():
        for shot in project.shots:
            r = render_prompt(project, shot, dialect)
            if r is None:
                continue
            assert not any(g in r.text for g in (",:", ",.", "..", " ,", " .", "  ")), (dialect, r.text)
            assert r.text.endswith(shot.constraints), (dialect, r.text)
            if shot.framing:
                assert (
                    r.text.split(".")[0].lower().replace("-", " ").startswith(shot.framing.replace("-", " "))
                ), r.text


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_an_example_writes_its_cut_under_out(example: Path) -> None:
    board = load_project(example).board
    assert board.output.file.startswith("out/")
    assert board.defaults.model == "animatic"


def test_every_shipped_picture_is_what_the_script_draws() -> None:
    script = make_assets()
    shipped = sorted(p.relative_to(PROJECTS).as_posix() for p in PROJECTS.glob("*/assets/*.png"))
    assert shipped == sorted(script.PICTURES)
    for rel, draw in script.PICTURES.items():
        with Image.open(PROJECTS / rel) as im:
            assert im.convert("RGB").tobytes() == draw().convert("RGB").tobytes(), rel


@pytest.mark.slow  # seconds of sample-by-sample synthesis in Python
def test_every_shipped_sound_is_what_the_script_synthesises(tmp_path: Path) -> None:
    script = make_assets()
    shipped = sorted(p.relative_to(PROJECTS).as_posix() for p in PROJECTS.glob("*/assets/*.wav"))
    assert shipped == sorted(script.SOUNDS)
    for rel, write in script.SOUNDS.items():
        write(tmp_path / "out.wav")
        assert (tmp_path / "out.wav").read_bytes() == (PROJECTS / rel).read_bytes(), rel
        with wave.open(str(PROJECTS / rel)) as w:
            assert w.getframerate() == 48_000 and 2 <= w.getnframes() / 48_000 <= 10


def test_shipped_media_stay_under_5_mb_and_each_file_has_its_provenance() -> None:
    media = [p for p in PROJECTS.glob("*/assets/*") if p.is_file()]
    assert sum(p.stat().st_size for p in media) < 5 * 1024 * 1024
    for p in media:
        readme = (p.parent.parent / "README.md").read_text(encoding="utf-8")
        assert f"assets/{p.name}" in readme, f"{p} has no provenance line in its project's README"
