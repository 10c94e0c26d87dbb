"""Write a storyboard as YAML the way a person writes it, not the way a serialiser dumps it.

Short mappings and short lists go on one line (``camera: {move: dolly-in, speed: slow}``), free text is
double-quoted, identifiers are plain, each shot opens with a comment saying what it is for and shots
are separated by one blank line; the file starts with the schema line editors read. Everything written
here loads back through shotlist's own loader as the same data (a property test holds it to that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

SCHEMA_LINE = "# yaml-language-server: $schema=shotlist.schema.json"
#: The order a person reads a storyboard and a shot in; keys not named here keep their own order after.
TOP_ORDER = ("version", "title", "output", "defaults", "styles", "characters", "shots")
SHOT_ORDER = (
    "id",
    "mode",
    "card",
    "image",
    "end_image",
    "refs",
    "framing",
    "angle",
    "subject",
    "action",
    "scene",
    "lighting",
    "motion",
    "still",
    "camera",
    "style",
    "duration",
    "audio",
    "caption",
    "transition",
)
WIDTH = 100  # a line this long still reads in a terminal beside a diff

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
# Characters YAML cannot carry raw in a double-quoted scalar: controls, NEL, line/paragraph separators
# (read as line breaks and folded), surrogates and non-characters. They travel as escapes.
_ESCAPE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_NAMED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}


def scalar(value: Any) -> str:
    """One scalar as YAML text that reads back as the same value (plain when that is safe, else quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = repr(value)  # YAML 1.1 reads 1e+16 as a string: its floats need a dot in the mantissa
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    text = str(value)
    if _PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return quoted(text)


def quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar."""
    out = "".join(_NAMED.get(c, c) for c in text)
    return '"' + _ESCAPE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", out) + '"'


def flow(value: Any) -> str | None:
    """``value`` on one line (``{a: b}``, ``["x", "y"]``), or None when it holds a list of mappings."""
    if isinstance(value, Mapping):
        parts = []
        for k, v in value.items():
            inner = flow(v)
            if inner is None:
                return None
            parts.append(f"{scalar(k)}: {inner}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list):
        if any(isinstance(v, Mapping) for v in value):
            return None
        items = [flow(v) for v in value]
        return None if None in items else "[" + ", ".join(str(i) for i in items) + "]"
    return scalar(value)


def _nested_depth(value: Any) -> int:
    if isinstance(value, Mapping):
        return 1 + max((_nested_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((_nested_depth(v) for v in value), default=0)
    return 0


def _entry(key: str, value: Any, indent: int) -> list[str]:
    """``key: value`` at ``indent``: on one line when it is short and at most two levels deep, else a block."""
    pad = " " * indent
    head = f"{pad}{scalar(key)}:"
    one = flow(value)
    if one is not None and len(head) + 1 + len(one) <= WIDTH and _nested_depth(value) <= 2:
        return [f"{head} {one}"]
    if isinstance(value, Mapping):
        return [head] + [line for k, v in value.items() for line in _entry(str(k), v, indent + 2)]
    if isinstance(value, list):
        return [head] + [line for item in value for line in _item(item, indent + 2)]
    return [f"{head} {scalar(value)}"]


def _item(value: Any, indent: int) -> list[str]:
    """One item of a block list at ``indent``: ``- scalar`` or ``- key: value`` with the rest below it."""
    pad = " " * indent
    if isinstance(value, Mapping) and value:
        lines = [line for k, v in value.items() for line in _entry(str(k), v, indent + 2)]
        return [f"{pad}- {lines[0].lstrip()}"] + lines[1:]
    one = flow(value)
    if one is None:  # a list holding mappings: a nested block list
        lines = [line for item in value for line in _item(item, indent + 2)]
        return [f"{pad}- {lines[0].lstrip()}"] + lines[1:]
    return [f"{pad}- {one}"]


def ordered(mapping: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    """The mapping with the keys of ``order`` first, in that order, and the others after as they came."""
    first = [k for k in order if k in mapping]
    return {k: mapping[k] for k in first + [k for k in mapping if k not in first]}


def comment(text: str, indent: int = 0) -> str:
    """A one-line YAML comment (line breaks in ``text`` become spaces; characters a YAML file cannot hold,
    such as a NUL or an escape, are left out: a comment has no escapes)."""
    return " " * indent + "# " + _ESCAPE.sub("", " ".join(text.split()))


def shot_lines(shot: Mapping[str, Any], intent: str | None, indent: int = 2) -> list[str]:
    """One shot as a block list item, its intent as a comment above it."""
    lines = [comment(intent, indent)] if intent else []
    return lines + _item(ordered(shot, SHOT_ORDER), indent)


def storyboard_text(
    board: Mapping[str, Any], intents: Mapping[str, str] | None = None, header: Iterable[str] = ()
) -> str:
    """The whole storyboard file: the schema line, ``header`` as comments, the blocks, the shots."""
    lines = [SCHEMA_LINE] + [comment(h) for h in header]
    for key, value in ordered(board, TOP_ORDER).items():
        if "shots:" in lines:  # a block after the shots starts after a blank line
            lines.append("")
        if key == "shots":
            lines.append("shots:")
            for i, shot in enumerate(value):
                if i:
                    lines.append("")
                lines += shot_lines(shot, (intents or {}).get(str(shot.get("id"))))
        elif key in ("styles", "characters") and isinstance(value, Mapping) and value:
            # named blocks read as a list of names, one per line, whatever their length
            lines.append(f"{key}:")
            lines += [line for k, v in value.items() for line in _entry(str(k), v, 2)]
        else:
            lines += _entry(key, value, 0)
    return "\n".join(lines) + "\n"
