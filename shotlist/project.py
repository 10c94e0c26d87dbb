"""Load a project: read the YAML, validate it, resolve it; every user mistake becomes a StoryboardError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shotlist.errors import Loc, Problem, StoryboardError
from shotlist.resolve import Project, did_you_mean, project_root, resolve
from shotlist.source import Marks, locate, read_yaml
from shotlist.storyboard import Storyboard


def load_project(path: str | Path = ".") -> Project:
    """Read, validate and resolve a project (a folder or a storyboard file); raise StoryboardError."""
    root, file = project_root(Path(path))
    data, marks, text = read_yaml(file)
    board = validate(data, marks, file, text)
    shots, problems = resolve(root, board)
    if problems:
        raise StoryboardError(file, _placed(problems, marks), text)
    project = Project(root=root, path=file, board=board, shots=shots)
    from shotlist.catalog import check_project

    problems = check_project(project)
    if problems:
        raise StoryboardError(file, _placed(problems, marks), text)
    return project


def load(path: str | Path = ".") -> Storyboard:
    """The validated Storyboard of a project; raise StoryboardError naming file:line for any mistake."""
    return load_project(path).board


def validate(data: Any, marks: Marks, file: Path, text: str) -> Storyboard:
    """Validate parsed YAML into a Storyboard, or raise every problem at once."""
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"'{data}'" if data is not None else "nothing"
        raise StoryboardError(file, [Problem((), f"the top level is {kind}, not a mapping",
                                             "start the file with 'version: 1' and 'shots:'", 1, 1)], text)
    if "version" not in data:
        raise StoryboardError(file, [Problem(("version",), "the storyboard has no version",
                                             "add 'version: 1' as the first line", 1, 1)], text)
    try:
        return Storyboard.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err, data) for err in exc.errors(include_url=False)]
        raise StoryboardError(file, _placed(_dedupe(problems), marks), text) from None


def _placed(problems: list[Problem], marks: Marks) -> list[Problem]:
    out = []
    for p in problems:
        if p.line is None:
            where = locate(marks, p.loc)
            if where:
                p = Problem(p.loc, p.message, p.fix, where[0], where[1])
        out.append(p)
    return sorted(out, key=lambda p: (p.line or 0, p.col or 0))


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[Loc, str]] = set()
    out = []
    for p in problems:
        if (p.loc, p.message) not in seen:
            seen.add((p.loc, p.message))
            out.append(p)
    return out


def _data_loc(loc: tuple[int | str, ...], data: Any) -> tuple[Loc, Any, Any]:
    """Drop pydantic's union/validator names from a loc; return (loc, the parent value, the value)."""
    out: list[str | int] = []
    node: Any = data
    parent: Any = None
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            parent, node = node, node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parent, node = node, node[part]
            out.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and not any(c in part for c in "[]-,"):
            # a missing or an unknown field: name it, there is no value
            out.append(part)
            return tuple(out), node, None
    return tuple(out), parent, node


def _fields_at(loc: Loc) -> list[str]:
    model: type[BaseModel] | None = Storyboard
    from shotlist import storyboard as sb

    for part in loc[:-1]:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = str(field.annotation)
        model = None
        for name in ("ShotFields", "Shot", "Output", "Character", "Soundtrack", "Music", "Placement", "Captions",
                     "Camera", "FrameRef", "ShotAudio", "Dialogue", "Transition", "Trim", "Card"):
            if f"{name}]" in ann or f".{name}" in ann or ann.endswith(name) or f"{name} |" in ann or f"[{name}" in ann:
                model = getattr(sb, name)
                break
        if part in ("characters",):
            model = sb.Character
        if part == "shots":
            model = sb.Shot
    return list(model.model_fields) if model else []


def _problem(err: Any, data: Any) -> Problem:
    loc, parent, value = _data_loc(tuple(err["loc"]), data)
    kind = err["type"]
    name = loc[-1] if loc else ""
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        fields = _fields_at(loc)
        return Problem(loc, f"unknown key '{name}'{did_you_mean(str(name), fields)}",
                       f"the keys allowed here are: {', '.join(fields)}" if fields else "remove it")
    if kind == "missing":
        return Problem(loc, f"'{name}' is required", f"add {name}: to this item")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ", ").split(",") if c.strip()]
        return Problem(loc, f"'{value}' is not allowed here{did_you_mean(str(value), choices)}",
                       f"use one of: {', '.join(choices)}")
    if kind == "string_pattern_mismatch" and name == "id":
        return Problem(loc, f"'{value}' is not a valid shot id",
                       "use lowercase letters, digits, '-' and '_' (a slug like 'mika-turns')")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return Problem(loc, f"{value!r}: {msg.lower()}", "change the number")
    if kind == "too_short" and name == "shots":
        return Problem(loc, "the storyboard has no shots", "add at least one shot under shots:")
    if kind.endswith("_type") or kind in ("model_type", "model_attributes_type", "dict_type", "list_type"):
        return Problem(loc, f"{value!r} is the wrong kind of value: {msg.lower()}", "see `shotlist schema` for the shape")
    return Problem(loc, msg, None)
