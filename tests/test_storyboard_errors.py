"""Storyboard errors are for people: each bad input under tests/golden/bad gives its pinned message.

Each case is a folder with expected.txt, the whole output of `shotlist validate` run inside a copy of
that folder, and the storyboard.yaml and files it needs; what git cannot hold (a named pipe, a
200 KB file of brackets) is made by MADE below. Every case runs under a deadline: a traceback, a
hang or a success fails it. To re-pin after a deliberate wording change:
SHOTLIST_UPDATE_GOLDEN=1 pytest tests/test_storyboard_errors.py, then read the diff.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from shotlist.errors import StoryboardError
from tests.shotlist_cli import run_shotlist
from tests.tiny_project import TinyProjects

GOLDEN = Path(__file__).parent / "golden" / "bad"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "expected.txt").is_file())


def _fifos(*names: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        for name in names:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(folder / name)  # opening one blocks until something writes to it

    return make


def _nested(levels: int) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / "storyboard.yaml").write_text(
            "version: 1\nshots:\n  - id: mask\n    notes: " + "[" * levels + "]" * levels + "\n"
        )

    return make


#: Inputs git cannot hold, made in the case's copy before it runs.
MADE: dict[str, Callable[[Path], None]] = {
    "deep-nesting-100k": _nested(100_000),
    "fifo-storyboard": _fifos("storyboard.yaml"),
    "fifo-inputs": _fifos("assets/pipe.png", "assets/pipe.wav"),
    "fifo-template": _fifos("templates/piped.j2"),
}


def test_there_are_at_least_twenty_golden_cases() -> None:
    assert len(CASES) >= 20


def test_every_made_case_is_a_golden_case() -> None:
    assert set(MADE) <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_bad_storyboard_gives_its_pinned_message(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / case
    shutil.copytree(GOLDEN / case, folder)  # a copy: validate may write caches in .shotlist/
    if case in MADE:
        MADE[case](folder)
    monkeypatch.chdir(folder)
    code, out, err = run_shotlist("validate", timeout=20)
    expected = GOLDEN / case / "expected.txt"
    if os.environ.get("SHOTLIST_UPDATE_GOLDEN"):
        expected.write_text(out + err, encoding="utf-8")
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES)
def test_every_problem_names_file_line_and_column_and_a_fix(case: str) -> None:
    text = (GOLDEN / case / "expected.txt").read_text(encoding="utf-8")
    heads = [ln for ln in text.splitlines() if ln.startswith("storyboard.yaml")]
    fixes = [ln for ln in text.splitlines() if ln.startswith("  fix: ")]
    count = int(text.splitlines()[-1].split()[0])
    assert len(heads) == count == len(fixes)
    if heads == [h for h in heads if h.startswith("storyboard.yaml: ")] and count == 1:
        return  # the file as a whole cannot be read (a named pipe): there is no line to name
    for head in heads:
        assert head.split(":")[1].isdigit() and head.split(":")[2].isdigit(), head


def test_all_problems_of_a_file_are_reported_in_one_run() -> None:
    text = (GOLDEN / "wrong-types" / "expected.txt").read_text(encoding="utf-8")
    assert text.splitlines()[-1] == "9 problems in storyboard.yaml"


@pytest.mark.slow
def test_an_invalid_storyboard_exits_2_without_a_traceback_from_the_console_script(
    tiny_project: TinyProjects,
) -> None:
    root = tiny_project("version: 1\nshots:\n  - id: a\n    camera: pan-left, tilt-up\n")
    run = subprocess.run(
        [sys.executable, "-m", "shotlist", "validate", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "SHOTLIST_DEBUG": ""},
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert (
        "storyboard.yaml:4:13: shots[0].camera: 'pan-left, tilt-up' — one camera move per shot" in run.stderr
    )


def test_debug_lets_the_error_through_with_its_traceback(tiny_project: TinyProjects) -> None:
    root = tiny_project("version: 1\nshots: []\n")
    with pytest.raises(StoryboardError, match="the storyboard has no shots"):
        run_shotlist("--debug", "validate", str(root))


def test_a_huge_file_is_refused_before_it_is_parsed(tiny_project: TinyProjects) -> None:
    root = tiny_project("version: 1\nnotes: " + "x" * (6 * 1024 * 1024) + "\n")
    code, _, err = run_shotlist("validate", str(root))
    assert code == 2
    assert (
        err.splitlines()[0]
        == f"{root / 'storyboard.yaml'}: the file is 6144 KiB; a storyboard is at most 5 MiB"
    )


def test_a_folder_without_a_storyboard_says_so(tmp_path: Path) -> None:
    code, _, err = run_shotlist("validate", str(tmp_path))
    assert code == 2
    assert err.splitlines()[0] == f"{tmp_path / 'storyboard.yaml'}: no storyboard here"


def test_validate_prints_a_short_summary_on_success(tiny_project: TinyProjects) -> None:
    root = tiny_project(
        "version: 1\nshots:\n  - id: a\n    duration: 4\n    transition: {type: dissolve, duration: 1}\n"
        "  - id: b\n    duration: 3\n"
    )
    code, out, err = run_shotlist("validate", str(root / "storyboard.yaml"))
    assert (code, err) == (0, "")
    assert out == f"{root / 'storyboard.yaml'}: ok — 2 shots (txt2vid 2), 6 s cut, 0 images\n"


def test_schema_file_at_the_repo_root_is_up_to_date() -> None:
    code, out, _ = run_shotlist("schema")
    assert code == 0
    root = Path(__file__).resolve().parent.parent
    assert (root / "shotlist.schema.json").read_text(encoding="utf-8") == out, (
        "regenerate it: shotlist schema > shotlist.schema.json"
    )


def test_schema_accepts_the_shorthands_the_loader_accepts() -> None:
    import json

    _, out, _ = run_shotlist("schema")
    shot = json.loads(out)["$defs"]["Shot"]["properties"]
    camera = json.dumps(shot["camera"])
    assert '"pan-left"' in camera and "#/$defs/Camera" in camera
    assert {"type": "string"} in shot["motion"]["anyOf"]


@pytest.mark.parametrize("template", ["narrative", "product"])
def test_init_writes_a_starter_project_that_validates(template: str, tmp_path: Path) -> None:
    target = tmp_path / "film"
    code, out, err = run_shotlist("init", str(target), "--template", template)
    assert (code, err) == (0, "")
    board = (target / "storyboard.yaml").read_text(encoding="utf-8")
    assert board.startswith("# yaml-language-server: $schema=shotlist.schema.json\n")
    assert (target / ".gitignore").read_text().splitlines() == [".shotlist/", "out/"]
    assert (target / "README.md").is_file() and (target / "shotlist.schema.json").is_file()
    images = list((target / "assets").glob("*.png"))
    assert len(images) == 1 and images[0].stat().st_size < 50_000
    code, out, err = run_shotlist("validate", str(target))
    assert code == 0 and ": ok — 3 shots" in out
    code, out, err = run_shotlist("lint", "--strict", str(target))
    assert code == 0, out + err


def test_init_refuses_to_overwrite_a_storyboard(tiny_project: TinyProjects) -> None:
    root = tiny_project("version: 1\n")
    code, _, err = run_shotlist("init", str(root))
    assert code == 1
    assert "already exists" in err
    assert (root / "storyboard.yaml").read_text() == "version: 1\n"


# --- inputs that used to hang or to pass validate and fail the build ----------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pure-python"])
def test_a_storyboard_nested_100000_levels_deep_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    import time

    import yaml

    from shotlist import source

    if not fast:
        monkeypatch.setattr(source, "_FAST_LOADER", yaml.SafeLoader)  # a machine without libyaml
    _nested(100_000)(tmp_path)  # 200 KB of brackets: 5,000 levels took 4.9 s, 20,000 took 22 s
    began = time.monotonic()
    with pytest.raises(StoryboardError, match="the document nests deeper than 64 levels"):
        source.read_source(tmp_path / "storyboard.yaml")
    assert time.monotonic() - began < 2


def test_a_device_named_as_the_storyboard_is_refused_without_reading_it() -> None:
    code, out, err = run_shotlist("validate", "/dev/zero", timeout=10)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == "/dev/zero: this is a device, not a file"


def test_each_sound_file_is_probed_once_per_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shotlist import media
    from tests.media_factory import make_tone

    (tmp_path / "assets").mkdir()
    make_tone(tmp_path / "assets" / "score.wav", seconds=1)
    (tmp_path / "storyboard.yaml").write_text(
        "version: 1\nshots:\n  - id: a\n    subject: 'A kite'\nsoundtrack:\n  music: {file: assets/score.wav}\n"
        "  effects:\n    - {file: assets/score.wav, at: 0.5}\n"
    )
    probed: list[str] = []
    real = media.sound_problem

    def counted(path: Path) -> str | None:
        probed.append(path.name)
        return real(path)

    monkeypatch.setattr(media, "sound_problem", counted)
    assert run_shotlist("validate", str(tmp_path))[0] == 0
    assert not (tmp_path / ".shotlist").exists()  # validating a project never built makes no folder in it
    (tmp_path / ".shotlist").mkdir()  # as a first plan or build makes it
    probed.clear()
    assert run_shotlist("validate", str(tmp_path))[0] == 0
    assert run_shotlist("validate", str(tmp_path))[0] == 0
    assert probed == ["score.wav"]  # named twice, validated twice: probed once
    (tmp_path / "assets" / "score.wav").write_text("not a sound any more")
    code, _, err = run_shotlist("validate", str(tmp_path))
    assert code == 2 and "'assets/score.wav' is not a sound file ffmpeg can read" in err
    assert probed == ["score.wav", "score.wav"]  # new content: probed again


def test_the_presets_validate_accepts_are_the_ones_every_encoder_maps() -> None:
    from shotlist.pieces import SVT_PRESETS
    from shotlist.storyboard import PRESETS

    assert tuple(SVT_PRESETS) == PRESETS
