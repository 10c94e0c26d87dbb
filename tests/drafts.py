"""Language-model answers the draft and revise tests script their fakes with, in the form the draft
schema asks for (named lists for styles and characters, an intent per shot, nulls for what is unset)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

LOGLINE = "a fox mask wakes at dawn in a misty forest"
ANSWERS = Path(__file__).parent / "answers"


def _shot(id: str, intent: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": id,
        "intent": intent,
        "mode": "txt2vid",
        "card": None,
        "image": None,
        "refs": None,
        "framing": None,
        "angle": None,
        "subject": None,
        "action": None,
        "scene": None,
        "lighting": None,
        "motion": None,
        "still": None,
        "camera": None,
        "style": "film",
        "duration": 5,
        "audio": None,
        "transition": None,
    }
    return {**base, **fields}


def _answer(name: str) -> dict[str, Any]:
    """The answer in tests/answers/<name>.yaml, each shot's unset fields filled with nulls."""
    data: dict[str, Any] = yaml.safe_load((ANSWERS / f"{name}.yaml").read_text(encoding="utf-8"))
    data["shots"] = [_shot(**shot) for shot in data["shots"]]
    return data


#: The answer to ``LOGLINE``: eight shots that validate and lint clean.
FOX = _answer("fox")

#: The same storyboard with mistakes a model makes: two camera moves in one field, a style never defined.
FOX_BROKEN: dict[str, Any] = copy.deepcopy(FOX)
FOX_BROKEN["shots"][2]["camera"] = {"move": "pan-left, tilt-up", "speed": "slow"}
FOX_BROKEN["shots"][4]["style"] = "noir"
BROKEN_LOCATION, BROKEN_TEXT = "shots[2].camera.move", "one camera move per shot"


def answer(board: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(board)


#: A revision of the kitsune-dawn example: the umbrella shot as a close-up in the rain.
UMBRELLA_REVISION = _answer("umbrella-revision")

#: A revision of the drafted fox storyboard: its last shot as a wide shot.
FOX_REVISION: dict[str, Any] = {
    "shots": [
        {**FOX["shots"][7], "framing": "wide", "intent": "Pull back: the mask alone in the wide clearing."}
    ],
    "removed": [],
    "title": None,
    "styles": None,
    "characters": None,
}
