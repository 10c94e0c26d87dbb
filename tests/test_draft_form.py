"""The draft's YAML writer and its schema: what is written loads back identically; the schema a model
gets is derived from the storyboard's own, in each provider's subset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shotlist.draft.form import clean, draft_schema, revise_schema
from shotlist.draft.writer import scalar, storyboard_text
from shotlist.llm.schema import gemini
from shotlist.source import parse_source
from shotlist.storyboard import CAMERA_MOVES, TRANSITIONS, json_schema

scalars = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1, max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
shots = st.lists(
    st.dictionaries(st.text(min_size=1, max_size=12), values, min_size=1, max_size=6), min_size=1, max_size=4
)


@settings(max_examples=300, deadline=None)
@given(
    title=st.text(max_size=60),
    styles=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=50)),
    shots=shots,
)
def test_what_the_writer_writes_loads_back_through_shotlists_loader_identically(
    title: str, styles: dict[str, str], shots: list[dict[str, Any]]
) -> None:
    board = {"version": 1, "title": title, "styles": styles, "shots": shots}
    text = storyboard_text(board, {"x": "an intent\nover two lines"}, ["a header"])
    assert parse_source(Path("storyboard.yaml"), text).data == board


def test_scalars_are_plain_when_safe_and_quoted_when_yaml_would_read_them_otherwise() -> None:
    assert [scalar(v) for v in ("dolly-in", "assets/mika.png", "720p", "yes", "16:9", "1.5", "a b")] == [
        "dolly-in",
        "assets/mika.png",
        "720p",
        '"yes"',
        '"16:9"',
        '"1.5"',
        '"a b"',
    ]
    assert scalar(1e16) == "1.0e+16" and scalar(5.0) == "5" and scalar("\u2028") == '"\\u2028"'


def test_the_draft_schema_is_derived_from_the_storyboards_own() -> None:
    schema = draft_schema()
    shot = schema["properties"]["shots"]["items"]
    camera = next(m for m in shot["properties"]["camera"]["anyOf"] if m.get("type") == "object")
    move = next(m for m in camera["properties"]["move"]["anyOf"] if "enum" in m)
    assert move["enum"] == list(CAMERA_MOVES)  # the loader's vocabulary, never a copy of it
    transition = next(m for m in shot["properties"]["transition"]["anyOf"] if m.get("type") == "object")
    assert transition["properties"]["type"]["anyOf"][0]["enum"] == list(TRANSITIONS)
    assert (
        shot["properties"]["id"]["pattern"] == json_schema()["$defs"]["Shot"]["properties"]["id"]["pattern"]
    )
    # strict mode: every object closed, every property required, the optional ones nullable
    assert shot["additionalProperties"] is False and shot["required"] == list(shot["properties"])
    assert {"type": "null"} in shot["properties"]["lighting"]["anyOf"]
    # what would bypass the checks is not offered: prompt, template, lint, seed, takes, model
    assert not {"prompt", "template", "lint", "seed", "takes", "model"} & set(shot["properties"])
    text = json.dumps(schema)
    assert "$ref" not in text and '"default"' not in text and "exclusiveMinimum" not in text
    assert "after" in revise_schema()["properties"]["shots"]["items"]["properties"]


def test_the_gemini_form_uses_openapi_types_and_nullable() -> None:
    g = gemini(draft_schema())
    shot = g["properties"]["shots"]["items"]
    assert g["type"] == "OBJECT" and shot["propertyOrdering"][:3] == ["id", "intent", "mode"]
    assert shot["properties"]["lighting"] == {"type": "STRING", "nullable": True}
    assert "additionalProperties" not in json.dumps(g)


def test_an_answers_nulls_and_empty_lists_are_left_out() -> None:
    assert clean({"a": None, "b": [], "c": {"d": None}, "e": [1, None], "f": "x"}) == {
        "e": [1, None],
        "f": "x",
    }
