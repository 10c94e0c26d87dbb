"""Load a project: read the YAML, validate it, resolve it; every user mistake becomes a StoryboardError.

The result is a ``Project``: the folder, the storyboard file, the validated board and the resolved
shots, with the line where each part of the storyboard was written (for later messages).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shotlist.diagnostics import problems_of, shown
from shotlist.errors import Loc, Problem, StoryboardError
from shotlist.resolve import ImageInfo, ResolvedShot, from_defaults, input_files, project_root, resolve
from shotlist.source import Marks, Source, locate, parse_source, read_source
from shotlist.storyboard import STORYBOARD_VERSION, Storyboard, version_problem


@dataclass(frozen=True)
class Project:
    """A loaded project: its folder, its storyboard file, the validated board and the resolved shots.

    ``root`` is absolute, so no later stage depends on the working folder; ``path`` is the storyboard
    as the user named it, for messages.
    """

    root: Path
    path: Path
    board: Storyboard
    shots: list[ResolvedShot]
    #: where each part of the storyboard was written: ("shots", 3) -> (line, col), for messages
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def shot(self, shot_id: str) -> ResolvedShot:
        for s in self.shots:
            if s.id == shot_id:
                return s
        raise KeyError(shot_id)

    def line_of(self, loc: Loc) -> int | None:
        """The storyboard line where ``loc`` (or the nearest enclosing part of it) was written."""
        where = locate(self.marks, loc)
        return where[0] if where else None

    def file(self, rel: str) -> Path:
        """A project-relative path as an absolute one (rel was confined at load)."""
        return self.root / rel

    def reads(self, path: Path) -> str | None:
        """What ``path`` is to the project when the project reads it ("is the storyboard", …), else None."""
        target = path.resolve()
        if target == self.path.resolve():
            return "is the storyboard"
        if target == (self.root / "shotlist.lock").resolve():
            return "is the lock (shotlist.lock)"
        if target.is_relative_to((self.root / ".shotlist").resolve()):
            return "is inside the project's store (.shotlist/)"
        if target.is_relative_to((self.root / "templates").resolve()):
            return "is inside the project's templates/"
        images = [i for s in self.shots for i in (s.image, s.end_image) if isinstance(i, ImageInfo)]
        images += [i for s in self.shots for r in (*s.refs, *s.characters) for i in r.images]
        if target in input_files(self.root, self.board, images):
            return "is an image or sound the storyboard names"
        return None


def load_project(path: str | Path = ".") -> Project:
    """Read, validate and resolve a project (a folder or a storyboard file); raise StoryboardError."""
    root, file = project_root(Path(path))
    return _load(root, file, read_source(file))


def load_text(path: Path, text: str) -> Project:
    """Load storyboard text as if it were the file at ``path``: a draft or a revision checked before it is
    written, with its images and templates found beside ``path``."""
    root, file = project_root(path)
    return _load(root, file, parse_source(file, text))


def _load(root: Path, file: Path, source: Source) -> Project:
    board, problems = _validate(source)
    if board is None:
        raise StoryboardError(file, _placed(source, problems), source.text)
    shots, found = resolve(root, board)
    problems += found
    if problems:
        raise StoryboardError(file, _placed(source, problems), source.text)
    project = Project(root=root.absolute(), path=file, board=board, shots=shots, marks=source.marks)
    from shotlist.catalog import check_project

    problems = from_defaults(board, check_project(project))  # a model named in defaults: said once, there
    if problems:
        raise StoryboardError(file, _placed(source, problems), source.text)
    return project


def refused(project: Project, problems: list[Problem]) -> StoryboardError:
    """The error for problems found in a loaded project (a later stage's checks), each at its storyboard line."""
    source = read_source(project.path)
    return StoryboardError(project.path, _placed(source, problems), source.text)


def load(path: str | Path = ".") -> Storyboard:
    """The validated Storyboard of a project; raise StoryboardError naming file:line for any mistake."""
    return load_project(path).board


def validate(data: Any, marks: Marks, file: Path, text: str) -> Storyboard:
    """Validate parsed YAML into a Storyboard, or raise every problem at once."""
    source = Source(path=file, text=text, data=data, marks=marks)
    board, problems = _validate(source)
    if board is None or problems:
        raise StoryboardError(file, _placed(source, problems), text)
    return board


def _validate(source: Source) -> tuple[Storyboard | None, list[Problem]]:
    """The Storyboard (None when the document does not fit the models) and every problem found so far."""
    data = source.data
    problems = list(source.problems)  # duplicate keys and the like: reported with everything else
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the value {shown(data)}"
        problems.append(
            Problem(
                (),
                f"the top level is {kind}, not a mapping of keys",
                "start the file with 'version: 1' and 'shots:'",
                1,
                1,
            )
        )
        return None, problems
    if "version" not in data:
        problems.append(
            Problem(
                ("version",),
                "the storyboard has no version",
                f"add 'version: {STORYBOARD_VERSION}' as the first line",
                at_key=True,
            )
        )
    elif (
        isinstance(data["version"], int)
        and not isinstance(data["version"], bool)
        and data["version"] > STORYBOARD_VERSION
    ):
        # A newer file may use keys this shotlist does not know: the version is the one thing to say.
        message, fix = version_problem(data["version"])
        problems = [p for p in problems if p.loc[:1] == ("version",)]
        problems.append(Problem(("version",), message, fix))
        return None, problems
    elif isinstance(data["version"], bool):  # pydantic would take `version: true` for 1
        problems.append(Problem(("version",), *version_problem(data["version"])))
    try:
        return Storyboard.model_validate(data), problems
    except ValidationError as exc:
        found = problems_of(exc.errors(include_url=False), data)
        return None, problems + [p for p in found if "version" in data or p.loc != ("version",)]


def _placed(source: Source, problems: list[Problem]) -> list[Problem]:
    """Problems with their line and column, in file order, each said once."""
    out: dict[tuple[Loc, str], Problem] = {}
    for p in problems:
        if p.line is None:
            where = source.where(p.loc, at_value=not p.at_key)
            if where:
                p = dataclasses.replace(p, line=where[0], col=where[1])
        out.setdefault((p.loc, p.message), p)
    return sorted(out.values(), key=lambda p: (p.line or 0, p.col or 0))
