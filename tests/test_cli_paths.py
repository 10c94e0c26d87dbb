"""Every command works where the README says: inside the project, from its parent, and by absolute path."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from tests.tiny_project import make_project

runner = CliRunner()

#: Each command a project is given to, in the order a newcomer meets them (build before what needs clips):
#: (words before the project argument, options after it).
COMMANDS: list[tuple[list[str], list[str]]] = [
    (["validate"], []),
    (["prompts"], []),
    (["lint"], []),
    (["plan"], []),
    (["build"], []),
    (["takes", "kite"], []),
    (["pick", "kite", "1"], []),
    (["render"], []),
    (["render"], ["--preview"]),
    (["export"], []),
    (["status"], []),
    (["push"], []),
    (["pull"], []),
    (["cache", "ls"], []),
    (["cache", "verify"], []),
    (["cache", "gc"], ["--yes"]),
]
WHERE = ["inside", "parent", "absolute"]


def _run(words: list[str], project: str | None, options: list[str] = []) -> None:  # noqa: B006
    full = words + ([project] if project is not None else []) + options
    result = runner.invoke(app, full)
    assert result.exit_code == 0, f"shotlist {' '.join(full)}: {result.output}{result.exception!r}"


@pytest.mark.slow
@pytest.mark.parametrize("where", WHERE)
def test_every_command_works_from_inside_from_the_parent_and_by_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    root = make_project(tmp_path / "studio" / "film")
    with (root / "storyboard.yaml").open("a") as f:
        f.write("remote: ../shared\n")
    (tmp_path / "studio" / "shared").mkdir()  # a folder remote must exist: shotlist never creates one
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd, project = {
        "inside": (root, None),
        "parent": (root.parent, "film"),
        "absolute": (elsewhere, str(root)),
    }[where]
    monkeypatch.chdir(cwd)
    for words, options in COMMANDS:
        _run(words, project, options)
    assert (root / "out" / "tiny.mp4").is_file() and (root / "out" / "tiny.preview.mp4").is_file()
    assert (root / "out" / "tiny.otio").is_file()
    assert list((tmp_path / "studio" / "shared" / "objects").glob("*/*"))
    # `export -o` writes where the user says, even outside the project: that is their choice.
    outside = tmp_path / "for-the-editor" / "cut.otio"
    _run(["export"], project, ["--output", str(outside)])
    assert outside.is_file()


@pytest.mark.parametrize("where", WHERE)
def test_init_works_from_inside_from_the_parent_and_by_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    target = tmp_path / "new-film"
    target.mkdir()
    cwd, arg = {
        "inside": (target, None),
        "parent": (tmp_path, "new-film"),
        "absolute": (tmp_path / "..", str(target)),
    }[where]
    monkeypatch.chdir(cwd)
    _run(["init"], arg)
    _run(["validate"], arg)
    assert (target / "storyboard.yaml").is_file()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_project import make_built_project

    return make_built_project(tmp_path_factory.mktemp("built") / "film")


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("storyboard.yaml", "is the storyboard"),
        ("shotlist.lock", "is the lock (shotlist.lock)"),
        ("assets/street.png", "is an image or sound the storyboard names"),
        (".shotlist/hashes.json", "is inside the project's store (.shotlist/)"),
        ("assets", "is a folder"),
        ("storyboard.yaml/sheet.png", "is in '{root}/storyboard.yaml', which is a file, not a folder"),
    ],
)
@pytest.mark.parametrize("command", ["export", "sheet"])
def test_an_output_named_on_the_command_line_never_overwrites_what_the_project_reads(
    built: Path, command: str, target: str, said: str
) -> None:
    from tests.shotlist_cli import run_shotlist

    dest = built / target
    kept = [p for p in built.rglob("*") if p.is_file() and (".shotlist" not in p.parts or p == dest)]
    before = {p: p.read_bytes() for p in kept}
    code, out, err = run_shotlist(command, str(built), "--output", str(dest))
    assert code == 1 and "Traceback" not in err, err
    first, fix = err.splitlines()
    assert first == f"{dest} {said.format(root=built)}: {command} writes nothing there", err
    assert fix.startswith("  fix: name another file, like "), err
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize("where", ["notes.txt", "notes.txt/film"])
def test_init_into_a_path_through_a_file_names_the_file(tmp_path: Path, where: str) -> None:
    from tests.shotlist_cli import run_shotlist

    (tmp_path / "notes.txt").write_text("mine\n")
    code, out, err = run_shotlist("init", str(tmp_path / where))
    assert code == 1 and "Traceback" not in err, err
    assert (
        err
        == f"{tmp_path / 'notes.txt'} is a file, not a folder; give init the folder to make the project in\n"
    )
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
