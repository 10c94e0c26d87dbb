"""Every path a storyboard names stays inside the project: `../`, absolute paths and escaping symlinks are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from shotlist.errors import StoryboardError
from shotlist.load import load_project
from shotlist.resolve import ImageInfo, confine
from tests.tiny_project import TinyProjects


@pytest.fixture
def project(tiny_project: TinyProjects) -> Path:
    """A tiny project (its pictures under assets/) with a picture outside it, beside the folder."""
    root = tiny_project()
    Image.new("RGB", (8, 6), "blue").save(root.parent / "outside.png")
    return root


def _board(root: Path, image: str) -> None:
    """Make the storyboard one shot whose image is ``image`` (written on line 4, column 12)."""
    (root / "storyboard.yaml").write_text(f"version: 1\nshots:\n  - id: a\n    image: {image}\n")


def _message(root: Path) -> str:
    with pytest.raises(StoryboardError) as info:
        load_project(root)
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert (problem.line, problem.col) == (4, 12)
    return problem.message


def test_a_relative_path_inside_the_project_resolves(project: Path) -> None:
    path, why = confine(project, "assets/street.png")
    assert why is None and path == (project / "assets" / "street.png").resolve()


def test_dot_dot_out_of_the_project_is_refused(project: Path) -> None:
    assert confine(project, "../outside.png") == (None, "'../outside.png' is outside the project folder")
    _board(project, "../outside.png")
    assert _message(project) == "'../outside.png' is outside the project folder"


def test_dot_dot_that_comes_back_inside_is_fine(project: Path) -> None:
    path, why = confine(project, "assets/../assets/street.png")
    assert why is None and path is not None and path.name == "street.png"


def test_an_absolute_path_outside_the_project_is_refused(project: Path) -> None:
    outside = project.parent / "outside.png"
    _board(project, str(outside))
    assert _message(project) == f"'{outside}' is outside the project folder"


def test_an_absolute_path_inside_the_project_is_fine(project: Path) -> None:
    path, why = confine(project, str(project / "assets" / "street.png"))
    assert why is None and path is not None


def test_a_symlink_that_escapes_the_project_is_refused(project: Path) -> None:
    (project / "assets" / "link.png").symlink_to(project.parent / "outside.png")
    _board(project, "assets/link.png")
    assert _message(project) == "'assets/link.png' is a symlink to a file outside the project folder"


def test_a_symlinked_folder_that_escapes_the_project_is_refused(project: Path) -> None:
    (project / "shared").symlink_to(project.parent, target_is_directory=True)
    _board(project, "shared/outside.png")
    assert _message(project) == "'shared/outside.png' is a symlink to a file outside the project folder"


def test_a_symlink_that_stays_inside_the_project_is_fine(project: Path) -> None:
    (project / "frame.png").symlink_to(project / "assets" / "street.png")
    _board(project, "frame.png")
    shot = load_project(project).shots[0]
    assert isinstance(shot.image, ImageInfo) and shot.image.rel == "assets/street.png"


def test_a_symlink_loop_is_refused_without_a_traceback(project: Path) -> None:
    (project / "loop.png").symlink_to(project / "loop.png")
    _board(project, "loop.png")
    assert _message(project) == "'loop.png' is a symlink loop"


def test_a_project_reached_through_a_symlink_still_accepts_its_own_files(
    project: Path, tmp_path: Path
) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(project, target_is_directory=True)
    _board(project, "assets/street.png")
    assert load_project(alias).shots[0].image is not None


def test_the_music_file_is_confined_too(project: Path) -> None:
    (project / "storyboard.yaml").write_text(
        "version: 1\nshots: [{id: a}]\nsoundtrack:\n  music: {file: ../score.wav}\n"
    )
    with pytest.raises(StoryboardError) as info:
        load_project(project)
    assert [p.message for p in info.value.problems] == ["'../score.wav' is outside the project folder"]


def _output_problem(root: Path, file: str) -> tuple[str, int | None]:
    (root / "storyboard.yaml").write_text(f"version: 1\noutput: {{file: '{file}'}}\nshots:\n  - id: a\n")
    with pytest.raises(StoryboardError) as info:
        load_project(root)
    [problem] = info.value.problems
    assert problem.loc == ("output", "file")
    return problem.message, problem.line


@pytest.mark.parametrize("where", ["../../elsewhere/x.mp4", "ABSOLUTE"])
def test_the_cut_is_never_written_outside_the_project(project: Path, where: str) -> None:
    file = str(project.parent / "elsewhere" / "x.mp4") if where == "ABSOLUTE" else where
    message, line = _output_problem(project, file)
    assert message == f"'{file}' is outside the project folder" and line == 2


@pytest.mark.parametrize("name", ["out/cut.gif", "out/cut", "out/cut.wav"])
def test_the_cut_must_be_named_as_a_video_file(project: Path, name: str) -> None:
    message, line = _output_problem(project, name)
    assert message.startswith(f"'{name}' is not a video file name") and line == 2


@pytest.mark.parametrize("name", ["out/cut.mp4", "film.mov", "out/v2/cut.MKV", "cut.m4v"])
def test_a_video_file_inside_the_project_is_fine(project: Path, name: str) -> None:
    (project / "storyboard.yaml").write_text(f"version: 1\noutput: {{file: '{name}'}}\nshots:\n  - id: a\n")
    assert load_project(project).board.output.file == name
