"""JSON Schemas a language model's structured output accepts, derived from a full JSON Schema.

The providers' structured-output modes take only part of JSON Schema:

- OpenAI's ``strict`` json_schema mode (and Anthropic's tools, which take the same) wants every object
  closed (``additionalProperties: false``) with *every* property listed in ``required`` (an optional
  one says so by allowing ``null``), and knows no ``default``, ``title`` or ``exclusiveMinimum``;
- Gemini's ``responseSchema`` is an OpenAPI 3.0 schema: upper-case ``type`` names, ``nullable: true``
  instead of a ``null`` alternative, no ``$ref``/``$defs``, no ``additionalProperties``, no ``const``,
  and ``propertyOrdering`` to keep fields in the order they are written (else they come alphabetically).

``strict`` turns a pydantic-made schema into the first; ``gemini`` turns that into the second. Both are
guides for the model, not the check: the answer is validated by the storyboard's own models anyway.
"""

from __future__ import annotations

from typing import Any

_DROP = {"title", "default", "$schema", "examples"}


def inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every ``$ref`` replaced by its definition (the storyboard's schema has no cycles)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**defs[ref.rsplit("/", 1)[-1]], **rest})
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    return out


def _alternatives(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A node's anyOf members with nested anyOfs flattened."""
    out: list[dict[str, Any]] = []
    for member in node.get("anyOf", []):
        out += _alternatives(member) if "anyOf" in member and len(member) == 1 else [member]
    return out


def _longhand(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop shorthand alternatives a loader expands: an enum string beside an object (``camera: static``
    for ``{move: static}``) and a string beside a list of strings (``motion: "x"`` for ``["x"]``)."""
    kinds = {m.get("type") for m in members}
    keep = []
    for m in members:
        if m.get("type") == "string" and (("enum" in m and "object" in kinds) or "array" in kinds):
            continue
        keep.append(m)
    return keep


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The strict-mode form of an inlined schema (see the module's docstring)."""

    def walk(node: Any, optional: bool = False) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: v for k, v in node.items() if k not in _DROP}
        if "anyOf" in node:
            members = _longhand(_alternatives(node))
            null = any(m.get("type") == "null" for m in members)
            real = [walk(m) for m in members if m.get("type") != "null"]
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            body = {**real[0], **rest} if len(real) == 1 else {"anyOf": real, **rest}
            return _nullable(body) if (null or optional) else body
        if "const" in node:
            node["enum"] = [node.pop("const")]
        if "exclusiveMinimum" in node:
            node["minimum"] = node.pop("exclusiveMinimum")
        if node.get("type") == "object" and "properties" in node:
            required = set(node.get("required", []))
            node["properties"] = {
                k: walk(v, optional=k not in required) for k, v in node["properties"].items()
            }
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        elif "items" in node:
            node["items"] = walk(node["items"])
        return _nullable(node) if optional else node

    out: dict[str, Any] = walk(schema)
    return out


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in node:
        if not any(m.get("type") == "null" for m in node["anyOf"]):
            node = {**node, "anyOf": [*node["anyOf"], {"type": "null"}]}
        return node
    description = node.get("description")
    body = {k: v for k, v in node.items() if k != "description"}
    out: dict[str, Any] = {"anyOf": [body, {"type": "null"}]}
    if description:
        out["description"] = description
    return out


def gemini(schema: dict[str, Any]) -> dict[str, Any]:
    """Gemini's responseSchema form of a strict schema (see the module's docstring)."""

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        if "anyOf" in node:
            members = [m for m in node["anyOf"] if m.get("type") != "null"]
            nullable = len(members) < len(node["anyOf"])
            if len(members) == 1:
                out.update(walk(members[0]))
            else:
                out["anyOf"] = [walk(m) for m in members]
            if nullable:
                out["nullable"] = True
        for key, value in node.items():
            if key in ("anyOf", "additionalProperties", "$defs"):
                continue
            if key == "type":
                out["type"] = str(value).upper()
            elif key == "enum":
                out["enum"] = [str(v) for v in value]
                out["type"] = "STRING"  # Gemini's enums are strings
            elif key == "properties":
                out["properties"] = {k: walk(v) for k, v in value.items()}
                out["propertyOrdering"] = list(value)
            elif key == "items":
                out["items"] = walk(value)
            else:
                out[key] = value
        return out

    result: dict[str, Any] = walk(schema)
    return result
