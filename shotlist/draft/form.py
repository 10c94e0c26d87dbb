"""The storyboard as a language model writes it: a schema derived from the storyboard's own, and the way
from an answer back to storyboard data.

The derivation starts from ``storyboard.json_schema()`` — so enums, patterns and bounds can never drift
from what the loader accepts — then:

1. inlines every ``$ref`` and keeps only the parts a draft writes: the title, named styles and
   characters, and per shot the fields a video maker fills in (no ``model``, set by ``--model``; no
   ``prompt``, ``template``, ``seed``, ``takes``, ``trim`` or ``lint``, which would bypass the prompt
   templates or silence the very rules the draft is checked against; no soundtrack: there is no music
   file yet);
2. turns the maps (``styles``, ``characters``), whose free keys strict modes cannot express, into lists of
   named items, and adds ``intent`` to each shot (what it is for; written as the comment above it);
3. keeps only the long form of every shorthand (``camera: {move, speed}``, never ``camera: static``);
4. hands the result to ``shotlist.llm.schema.strict``: objects closed, every property required,
   optional ones nullable (and, for Gemini, ``shotlist.llm.schema.gemini`` on top).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from shotlist.draft.writer import SHOT_ORDER
from shotlist.errors import Problem
from shotlist.llm.schema import inline, strict
from shotlist.storyboard import SLUG, TRANSITIONS, json_schema

#: The shot fields a draft writes, in the order a person writes them (end frames and captions are left to people).
SHOT_FIELDS = tuple(k for k in SHOT_ORDER if k not in ("end_image", "caption"))
INTENT = {
    "type": "string",
    "description": "one sentence: what this shot does in the story (written as a comment above the shot)",
}
NAME = {"type": "string", "pattern": SLUG, "description": "a short lower-case name (letters, digits, -)"}


def _pick(node: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    props = node["properties"]
    return {
        **node,
        "properties": {k: props[k] for k in keep},
        "required": [k for k in node.get("required", []) if k in keep],
    }


def shot_schema(full: dict[str, Any]) -> dict[str, Any]:
    """One shot of the draft form (before the strict pass), with its intent."""
    shot = _pick(full["$defs"]["Shot"], SHOT_FIELDS)
    audio = _pick(full["$defs"]["ShotAudio"], ("dialogue",))  # the rest is mixing, not writing
    shot["properties"]["audio"] = {"anyOf": [audio, {"type": "null"}]}
    # the loader checks a transition's type in code; give the model the same list as an enum
    transition = _pick(full["$defs"]["Transition"], ("type", "duration"))
    transition["properties"]["type"] = {**transition["properties"]["type"], "enum": list(TRANSITIONS)}
    shot["properties"]["transition"] = {"anyOf": [transition, {"type": "null"}]}
    shot["properties"] = {"id": shot["properties"]["id"], "intent": INTENT, **shot["properties"]}
    shot["required"] = ["id", "intent"]
    return shot


@functools.cache
def _left_out() -> dict[str, frozenset[str]]:
    """Per part of a shot (``""``: the shot, ``audio``, ``transition``), the storyboard's fields the form leaves out."""
    full = inline_defs()["$defs"]
    form = shot_schema(inline_defs())["properties"]
    out = {"": frozenset(full["Shot"]["properties"]) - set(form)}
    for part, definition in (("audio", "ShotAudio"), ("transition", "Transition")):
        out[part] = frozenset(full[definition]["properties"]) - set(form[part]["anyOf"][0]["properties"])
    return out


def left_out(
    shots: list[Any], problems: list[Problem], before: Callable[[dict[str, Any]], Any] = lambda _: None
) -> None:
    """A problem for each field the draft form leaves out (a loose server does not hold the model to the
    schema): a draft never sets the model, overrides a prompt or template, or silences a lint rule.
    ``before``: the shot as it stands (a revision); a value it already has is an echo, not a change."""
    parts = _left_out()
    for i, shot in enumerate(shots):
        if not isinstance(shot, dict):
            continue
        old = before(shot)
        places: list[tuple[tuple[str, ...], dict[str, Any], frozenset[str], Any]] = [
            ((), shot, parts[""], old)
        ]
        places += [
            ((k,), shot[k], parts[k], old.get(k) if isinstance(old, dict) else None)
            for k in ("audio", "transition")
            if isinstance(shot.get(k), dict)
        ]
        for where, fields, forbidden, was in places:
            for key in sorted(forbidden & set(fields)):
                if isinstance(was, dict) and key in was and was[key] == fields[key]:
                    continue
                problems.append(
                    Problem(
                        ("shots", i, *where, key),
                        f"'{key}' is not written by a draft or a revision (shotlist sets the model; prompts "
                        "come from the templates; lint rules stay on)",
                        "leave it out",
                    )
                )


def _named_list(item: dict[str, Any], description: str) -> dict[str, Any]:
    props = {"name": NAME, **item.get("properties", {})}
    required = ["name", *item.get("required", [])]
    return {
        "type": "array",
        "description": description,
        "items": {"type": "object", "properties": props, "required": required},
    }


def _named_parts(full: dict[str, Any]) -> dict[str, Any]:
    style = {
        "properties": {"text": {"type": "string", "description": "the look, in words"}},
        "required": ["text"],
    }
    return {
        "title": {"type": "string"},
        "styles": _named_list(style, "looks shared by several shots; a shot names one in style:"),
        "characters": _named_list(
            full["$defs"]["Character"],
            "recurring characters; shots name them in refs: or as who: in dialogue",
        ),
    }


def draft_schema() -> dict[str, Any]:
    """The JSON Schema a drafted storyboard answers with, in the strict form."""
    full = inline_defs()
    props = {**_named_parts(full), "shots": {"type": "array", "minItems": 1, "items": shot_schema(full)}}
    return strict({"type": "object", "properties": props, "required": list(props)})


def revise_schema() -> dict[str, Any]:
    """The JSON Schema of a revision: changed or new shots, removed shot ids, changed named blocks."""
    full = inline_defs()
    shot = shot_schema(full)
    shot["properties"]["after"] = {
        "type": "string",
        "description": "for a new shot only: the id of the shot it follows (empty: at the end)",
    }
    named = _named_parts(full)
    props = {
        "shots": {
            "type": "array",
            "description": "every shot that changes or is new, written out whole; unchanged shots are left out",
            "items": shot,
        },
        "removed": {"type": "array", "items": {"type": "string"}, "description": "ids of shots to delete"},
        "title": {**named["title"], "description": "a new title, or null to keep it"},
        "styles": {**named["styles"], "description": "styles that change or are new (null: none)"},
        "characters": {
            **named["characters"],
            "description": "characters that change or are new (null: none)",
        },
    }
    return strict({"type": "object", "properties": props, "required": ["shots", "removed"]})


def inline_defs() -> dict[str, Any]:
    """The storyboard's schema with its definitions kept beside the inlined body (for picking parts)."""
    full = json_schema()
    defs = {name: inline({"$defs": full["$defs"], **node}) for name, node in full["$defs"].items()}
    return {"$defs": defs}


def clean(value: Any) -> Any:
    """The answer without nulls and empty lists: what a person leaves out, the loader defaults."""
    if isinstance(value, dict):
        out = {k: clean(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if v != [] and v != {}}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def named_map(items: Any, block: str, problems: list[Problem]) -> dict[str, Any]:
    """A list of named items as the storyboard's map; a name given twice is a problem."""
    out: dict[str, Any] = {}
    if items is not None and not isinstance(items, list):
        problems.append(Problem((block,), f"{block} is a list of named items", "write [{name: ..., ...}]"))
        return out
    for i, item in enumerate(items or []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append(Problem((block, i), "each item needs a name", "give it name: <short-name>"))
            continue
        rest = {k: v for k, v in item.items() if k != "name"}
        if item["name"] in out:
            problems.append(
                Problem((block, i, "name"), f"'{item['name']}' is named twice", "give each its own name")
            )
        out[item["name"]] = rest.get("text") if block == "styles" else rest
    return out


def split_intents(shots: Any) -> tuple[list[Any], dict[str, str]]:
    """The shots without their ``intent`` (and ``after``), and the intents by shot id."""
    out, intents = [], {}
    for shot in shots if isinstance(shots, list) else []:
        if isinstance(shot, dict):
            shot = copy.deepcopy(shot)
            intent, _ = shot.pop("intent", None), shot.pop("after", None)
            if isinstance(intent, str) and isinstance(shot.get("id"), str):
                intents[shot["id"]] = intent
        out.append(shot)
    return out, intents
