"""From pydantic's validation errors to the user's words: the place they wrote, what is wrong, the fix.

pydantic reports each error with a ``loc`` that mixes the user's keys with its own bookkeeping
(union arms such as ``FrameRef`` or ``literal['first','last']``). We walk that loc through the
models' own field types to keep only the parts the user wrote; the loader then points at their line.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from shotlist.errors import Loc, Problem, did_you_mean, loc_text
from shotlist.storyboard import ShotFields, Storyboard, version_problem

_MISSING = object()

_IMAGE = (
    "an image path or {shot: <earlier shot id>, frame: last}",
    "write image: assets/name.png, or image: {shot: <earlier shot id>, frame: last}",
)
_TEXTS = ("text or a list of texts", 'write one line of text, or a list: ["...", "..."]')

#: What a field takes and how to write it, where its type alone would read badly (shorthands, unions).
_SHAPES: dict[str, tuple[str, str]] = {
    "camera": (
        "a camera move (like pan-left) or {move: ..., speed: ...}",
        "write camera: pan-left, or camera: {move: pan-left, speed: slow}",
    ),
    "image": _IMAGE,
    "end_image": _IMAGE,
    "transition": (
        "a transition name (like dissolve) or {type: ..., duration: ...}",
        "write transition: dissolve, or transition: {type: dissolve, duration: 0.5}",
    ),
    "card": (
        "a title or {title: ..., subtitle: ...}",
        'write card: "Title", or card: {title: "...", subtitle: "..."}',
    ),
    "motion": _TEXTS,
    "still": _TEXTS,
    "refs": ("a character name, an image path, or a list of them", "write refs: [mika, assets/umbrella.png]"),
    "ref": ("an image path or a list of them", "write ref: assets/name.png, or a list of paths"),
    "lint": ("a rule id or a list of them", "write lint: [rule-id, ...]"),
    "frame": ("first, last or a time in seconds", "write frame: first, frame: last, or seconds like 2.5"),
    "dialogue": (
        "{who: ..., says: ..., how: ...}",
        'write dialogue: {who: mika, says: "Hello", how: softly}',
    ),
}
_SHOT = (
    "a shot (a mapping that starts with id:)",
    "start each shot with '- id: <name>' and put its fields below it",
)

_KINDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
}

_FIXES = {
    "text": "write it as text; put it in quotes if it looks like a number, a date or yes/no",
    "a whole number": "write a whole number like 24",
    "a number": "write a number like 5 or 2.5",
    "true or false": "write true or false",
    "a list": "write a list: [a, b], or one '- item' per line",
    "a mapping (key: value lines)": "write key: value pairs under it (`shotlist schema` lists the keys)",
}

_NOUNS = {
    "move": "camera move",
    "mode": "mode",
    "framing": "framing",
    "angle": "camera angle",
    "speed": "camera speed",
    "fit": "fit",
    "aspect": "aspect ratio",
    "codec": "codec",
    "mix": "mix",
    "sidecars": "caption format",
    "frame": "frame",
}


def problems_of(errors: list[Any], data: Any) -> list[Problem]:
    """The user's problems in pydantic's ``errors`` for the parsed document ``data``."""
    found: list[tuple[Loc, str, Problem]] = []
    for err in errors:
        loc, value, model = _walk(tuple(err["loc"]), data, err["type"])
        problem = _problem(err, loc, value, model)
        if err["type"] in ("extra_forbidden", "missing") or value is None:
            problem = dataclasses.replace(problem, at_key=True)  # there is no value to point at
        found.append((loc, err["type"], problem))
    # A union reports one error per arm. When one arm got further into the value (an unknown key
    # inside {shot: ...}), the other arms' "wrong type" is noise; several arms at one place merge.
    deepest = [loc for loc, _, _ in found]
    kept = [
        (loc, kind, p)
        for loc, kind, p in found
        if not (_is_type_error(kind) and any(len(o) > len(loc) and o[: len(loc)] == loc for o in deepest))
    ]
    by_loc: dict[Loc, list[tuple[str, Problem]]] = {}
    for loc, kind, p in kept:
        by_loc.setdefault(loc, []).append((kind, p))
    # "unknown key 'shot' — did you mean 'shots'?" already says what "'shots' is required" would.
    renamed = {
        p.loc[:-1] + (p.fix.split("'")[1],)
        for _, kind, p in kept
        if kind == "extra_forbidden" and p.fix and p.fix.startswith("rename it to")
    }
    by_loc = {
        loc: group
        for loc, group in by_loc.items()
        if not (loc in renamed and all(kind == "missing" for kind, _ in group))
    }
    out = []
    for loc, group in by_loc.items():
        # Several arms of a union failed at one value (frame: -1 is neither a word nor >= 0): one message.
        if (
            len(group) > 1
            and any(_is_type_error(kind) for kind, _ in group)
            and all(_is_type_error(kind) or kind in _BOUNDS for kind, _ in group)
        ):
            value = _value_at(data, loc)
            shape, fix = _SHAPES.get(_name(loc)) or _shape(
                " or ".join(dict.fromkeys(_expects(k) for k, _ in group)), value
            )
            out.append(Problem(loc, f"expected {shape}, got {shown(value)}", fix))
        else:
            out.extend(p for _, p in group)
    return out


_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number")


def _is_type_error(kind: str) -> bool:
    return kind in _KINDS or kind == "literal_error"


def _expects(kind: str) -> str:
    return _KINDS.get(kind, "one of the allowed words")


def _name(loc: Loc) -> str:
    for part in reversed(loc):
        if isinstance(part, str):
            return part
    return ""


def _value_at(data: Any, loc: Loc) -> Any:
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def shown(value: Any) -> str:
    """A value as the user wrote it, briefly."""
    if value is None or value is _MISSING:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value[:40]}…'" if len(value) > 40 else f"'{value}'"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return str(value)


def _shape(expected: str, value: Any) -> tuple[str, str]:
    """(what was expected, how to write it) for a plain type."""
    if expected == "text" and isinstance(value, list | dict):
        return expected, "write it as one line of text"
    return expected, _FIXES.get(expected, "see `shotlist schema` for what this field takes")


def _number(x: Any) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _unwrap(tp: Any) -> list[Any]:
    """The concrete types a field annotation allows (Annotated and Optional peeled off)."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(tp) for t in _unwrap(arg)]
    if tp is type(None):
        return []
    return [tp]


def _walk(raw: tuple[Any, ...], data: Any, kind: str) -> tuple[Loc, Any, type[BaseModel] | None]:
    """pydantic's loc → (the user's loc, the value there, the model that holds its last key)."""
    tp: Any = Storyboard
    node: Any = data
    loc: list[str | int] = []
    model: type[BaseModel] | None = None
    for i, part in enumerate(raw):
        step: Any = None
        candidates = _unwrap(tp)
        for cand in candidates:
            origin = get_origin(cand)
            if (
                isinstance(cand, type)
                and issubclass(cand, BaseModel)
                and isinstance(part, str)
                and part in cand.model_fields
            ):
                model, step = cand, cand.model_fields[part].annotation
                break
            if origin is list and isinstance(part, int):
                step = get_args(cand)[0]
                break
            if origin is dict and isinstance(part, str):
                step = get_args(cand)[1]
                break
        if step is None and i == len(raw) - 1 and kind == "extra_forbidden":
            model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), model)
            step = Any
        if step is None:
            # One arm of a union (`FrameRef`, `str`, `literal[...]`): not a key the user wrote.
            named = [c for c in candidates if getattr(c, "__name__", None) == part]
            if named:
                tp = named[0]
            continue
        loc.append(part)
        tp = step
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = _MISSING
    return tuple(loc), node, model


def _bounds(model: type[BaseModel] | None, name: str) -> str | None:
    """'more than 0 and at most 60' for a field with numeric bounds."""
    if model is None or name not in model.model_fields:
        return None
    info = model.model_fields[name]
    found: dict[str, Any] = {}

    def collect(items: Any) -> None:
        for item in items:
            for attr in ("gt", "ge", "lt", "le"):
                if getattr(item, attr, None) is not None:
                    found[attr] = getattr(item, attr)
            collect(getattr(item, "metadata", []))

    collect(info.metadata)
    stack = [info.annotation]
    while stack:
        tp = stack.pop()
        if get_origin(tp) is Annotated:
            collect(get_args(tp)[1:])
        stack.extend(get_args(tp))
    if "ge" in found and "le" in found:
        return f"from {_number(found['ge'])} to {_number(found['le'])}"
    words = {"gt": "more than", "ge": "at least", "lt": "less than", "le": "at most"}
    parts = [f"{words[k]} {_number(found[k])}" for k in ("gt", "ge", "lt", "le") if k in found]
    return ", ".join(parts) or None


def _problem(err: Any, loc: Loc, value: Any, model: type[BaseModel] | None) -> Problem:
    """One pydantic error in the user's words: what is wrong at ``loc`` and the fix."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    name = _name(loc)
    if loc == ("version",) and kind != "missing":
        return Problem(loc, *version_problem(value))
    if kind == "shotlist":
        return Problem(loc, str(ctx["message"]), str(ctx["fix"]))
    if kind == "extra_forbidden":
        return _unknown_key(loc, name, model)
    if kind == "missing":
        return _missing(loc, name)
    if (value is None and (kind in _KINDS or kind == "literal_error")) or (
        kind == "too_short" and loc == ("shots",)
    ):
        return _empty(loc, name)
    return _wrong_value(err, loc, value, model) or Problem(
        loc,
        (msg := str(err["msg"]).removeprefix("Value error, "))[:1].lower() + msg[1:],
        "see `shotlist schema` for what this field takes",
    )


def _unknown_key(loc: Loc, name: str, model: type[BaseModel] | None) -> Problem:
    fields = list(model.model_fields) if model else []
    hint = did_you_mean(name, fields)
    if hint:
        return Problem(loc, f"unknown key '{name}'{hint}", f"rename it to '{hint.split(chr(39))[1]}'")
    if model is Storyboard and name in ShotFields.model_fields:
        return Problem(
            loc,
            f"unknown key '{name}' at the top level",
            "shot fields go inside a shot, or under defaults: for every shot",
        )
    if model is ShotFields and name == "id":
        return Problem(loc, "defaults cannot set an id", "give each shot its own id: under shots:")
    return Problem(
        loc,
        f"unknown key '{name}'",
        f"the keys allowed here are: {', '.join(fields)}" if fields else "remove it",
    )


def _empty(loc: Loc, name: str) -> Problem:
    """A key written with no value (or an empty list of shots)."""
    if loc == ("shots",):
        return Problem(loc, "the storyboard has no shots", "add at least one shot under shots:")
    if loc and isinstance(loc[-1], int):  # a '-' with nothing after it, or a null in a [list]
        return Problem(
            loc, f"item {loc[-1] + 1} of '{name}' is empty", "write the item, or remove the empty one"
        )
    return Problem(loc, f"'{name}' has no value", f"write a value after '{name}:', or remove the line")


def _missing(loc: Loc, name: str) -> Problem:
    """A required key that is absent."""
    if loc == ("shots",):
        return Problem(
            loc, "the storyboard has no shots", "add shots: with at least one shot (an id and a mode)"
        )
    if name == "id" and loc[:1] == ("shots",):
        return Problem(
            loc,
            "this shot has no id",
            "add id: <a short slug like mika-turns>; it names the shot in the lock and in messages",
        )
    return Problem(loc, f"'{name}' is required here", f"add '{name}: ...' to {loc_text(loc[:-1])}")


def _wrong_value(err: Any, loc: Loc, value: Any, model: type[BaseModel] | None) -> Problem | None:
    """A value of the wrong kind or out of bounds; None when pydantic's own message must do."""
    kind, name = err["type"], _name(loc)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        noun = _NOUNS.get(name, f"valid {name}")
        article = "an" if noun[0] in "aeiou" else "a"
        # Ratios such as 16:10 look alike to a spelling matcher but are not typos of each other.
        hint = "" if name == "aspect" else did_you_mean(str(value), choices)
        return Problem(
            loc, f"{shown(value)} is not {article} {noun}{hint}", f"use one of: {', '.join(choices)}"
        )
    if kind == "string_pattern_mismatch" and name == "id":
        return Problem(
            loc,
            f"{shown(value)} is not a valid shot id",
            "use lowercase letters, digits, '-' and '_', at most 64 (a slug like mika-turns)",
        )
    if kind in _BOUNDS[:4]:
        limit = _bounds(model, name)
        small = kind.startswith("greater")
        return Problem(
            loc,
            f"{shown(value)} is too {'small' if small else 'large'}",
            f"use a number {limit}" if limit else "change the number",
        )
    if kind == "finite_number":
        return Problem(loc, f"{shown(value)} is not a finite number", "write a number like 5 or 2.5")
    if kind in _KINDS:
        shape, fix = (
            _SHOT if len(loc) == 2 and loc[0] == "shots" else _SHAPES.get(name) or _shape(_KINDS[kind], value)
        )
        return Problem(loc, f"expected {shape}, got {shown(value)}", fix)
    return None
