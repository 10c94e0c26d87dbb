"""Read storyboard.yaml: YAML with the line and column of every node kept, then pydantic validation.

PyYAML's plain loaders forget where values came from and silently keep the last of two duplicate
keys; composing the node tree ourselves keeps both the marks and the chance to refuse duplicates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shotlist.errors import Loc, Problem, StoryboardError

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000  # an alias bomb expands past this long before memory is at risk
MAX_DEPTH = 64

Marks = dict[Loc, tuple[int, int]]


class _TooBig(Exception):
    pass


def read_yaml(path: Path) -> tuple[Any, Marks, str]:
    """Parse a YAML file into plain data and the (line, col) of every key and value; raise StoryboardError."""
    if not path.is_file():
        raise StoryboardError(path, [Problem((), f"no storyboard at {path}",
                                             "give a project folder that holds storyboard.yaml, or the file itself")])
    raw = path.read_bytes()
    if len(raw) > MAX_BYTES:
        raise StoryboardError(path, [Problem((), f"the file is {len(raw) // 1024} KiB; a storyboard is at most "
                                                 f"{MAX_BYTES // 1024 // 1024} MiB", "split it or remove pasted data")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise StoryboardError(path, [Problem((), f"byte 0x{raw[exc.start]:02x} is not UTF-8",
                                             "save the file as UTF-8", line, col)]) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip() or all(ln.lstrip().startswith("#") or not ln.strip() for ln in text.splitlines()):
        raise StoryboardError(path, [Problem((), "the storyboard is empty",
                                             "start with 'version: 1' and a list of shots (see `shotlist init`)", 1, 1)],
                              text)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or "invalid YAML").strip()
        fix = "check the indentation and quoting on this line"
        if "\t" in problem or "tab" in problem:
            fix = "indent with spaces, not tabs"
        elif "found character '\\t'" in str(exc):
            fix = "indent with spaces, not tabs"
        raise StoryboardError(path, [Problem((), f"invalid YAML: {problem}", fix,
                                             mark.line + 1 if mark else None, mark.column + 1 if mark else None)],
                              text) from None
    except yaml.YAMLError as exc:
        raise StoryboardError(path, [Problem((), f"invalid YAML: {exc}", "check the file's syntax")], text) from None
    marks: Marks = {}
    problems: list[Problem] = []
    counter = [0]
    try:
        data = _build(node, (), marks, problems, counter, 0)
    except _TooBig as exc:
        raise StoryboardError(path, [Problem((), str(exc), "remove the deep nesting or the repeated aliases", 1, 1)],
                              text) from None
    if problems:
        raise StoryboardError(path, problems, text)
    return data, marks, text


def _build(node: yaml.Node | None, loc: Loc, marks: Marks, problems: list[Problem], counter: list[int], depth: int) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise _TooBig(f"the document expands to more than {MAX_NODES} values (an alias bomb?)")
    if depth > MAX_DEPTH:
        raise _TooBig(f"the document nests deeper than {MAX_DEPTH} levels")
    if node is None:
        return None
    marks.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(loc, "YAML merge keys (<<) are not supported", "write the keys out",
                                        key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                continue
            key = yaml.SafeLoader("").construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                problems.append(Problem(loc, "a key must be a plain word", "write the key as text",
                                        key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                continue
            key = str(key)
            kloc = loc + (key,)
            if key in out:
                first = marks.get(kloc, (0, 0))[0]
                problems.append(Problem(kloc, f"duplicate key '{key}' (first on line {first})",
                                        "keep one of them; YAML would silently use the last",
                                        key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                continue
            marks[kloc] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, kloc, marks, problems, counter, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, loc + (i,), marks, problems, counter, depth + 1) for i, v in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return yaml.SafeLoader("").construct_object(node)


def locate(marks: Marks, loc: Loc) -> tuple[int, int] | None:
    """The line and column of the deepest part of ``loc`` that the file has."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in marks:
            return marks[loc[:n]]
    return None
