"""Language-model answers the draft and revise tests script their fakes with, in the form the draft
schema asks for (named lists for styles and characters, an intent per shot, nulls for what is unset)."""

from __future__ import annotations

import copy
from typing import Any

LOGLINE = "a fox mask wakes at dawn in a misty forest"


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


FOX: dict[str, Any] = {
    "title": "Fox Mask Dawn",
    "styles": [
        {"name": "film", "text": "35mm film grain, shallow depth of field, muted teal and amber palette"}
    ],
    "characters": [
        {"name": "hana", "look": "a girl of ten in a red wool coat with a long black braid", "ref": None}
    ],
    "shots": [
        _shot(
            "forest",
            "Open on the misty forest before sunrise, where the story waits.",
            framing="extreme-wide",
            subject="A dense cedar forest",
            action="stands silent under a blanket of low fog",
            scene="a mountain valley at first light",
            lighting="cold blue pre-dawn light with a faint glow on the horizon",
            motion=[
                "fog drifts slowly from left to right between the trunks",
                "a few birds glide slowly across the sky",
            ],
            still=["the tall cedar trunks stay fixed"],
            camera={"move": "pan-right", "speed": "slow"},
            transition={"type": "dissolve", "duration": 0.8},
        ),
        _shot(
            "mask",
            "Find the fox mask alone on its stone, asleep.",
            framing="close-up",
            subject="A carved white fox mask with red markings",
            action="rests on a moss-covered stone",
            scene="a misty clearing at dawn",
            lighting="soft volumetric light rays through the trees",
            motion=["leaves drift slowly downward", "mist swirls gently around the stone"],
            still=["the mask stays fixed in frame"],
            camera={"move": "static", "speed": "slow"},
            transition={"type": "dissolve", "duration": 0.8},
        ),
        _shot(
            "sunrise",
            "The first sun reaches the clearing and touches the mask.",
            framing="wide",
            angle="low",
            subject="The rising sun",
            action="climbs slowly above the ridge behind the clearing",
            scene="a misty forest clearing at dawn",
            lighting="warm golden sunrise light spilling across the moss",
            motion=[
                "light rays sweep slowly across the clearing from right to left",
                "mist thins gently upward",
            ],
            still=["the stone and the mask stay fixed in the foreground"],
            camera={"move": "tilt-up", "speed": "slow"},
            transition={"type": "fade", "duration": 0.5},
        ),
        _shot(
            "eyes-glow",
            "The mask wakes: its painted eyes begin to glow.",
            framing="extreme-close-up",
            subject="The painted eyes of the fox mask",
            action="begin to glow faintly amber",
            scene="on the mossy stone in the clearing",
            lighting="dim blue dawn light with a warm inner glow from the mask",
            motion=[
                "the glow pulses slowly, brightening then fading",
                "dew drops slide gently down the carved cheek",
            ],
            still=["the mask stays perfectly fixed on the stone"],
            camera={"move": "zoom-in", "speed": "slow"},
        ),
        _shot(
            "fox-spirit",
            "A fox made of light steps out of the mask.",
            framing="medium",
            subject="A translucent fox made of pale golden light",
            action="steps slowly out of the mask onto the moss",
            scene="a misty forest clearing at sunrise",
            lighting="warm glowing light from the fox against cool morning shadows",
            motion=["its tail sways gently from side to side"],
            still=["the ferns stay fixed"],
            camera={"move": "dolly-in", "speed": "slow"},
            transition={"type": "dissolve", "duration": 0.5},
        ),
        _shot(
            "hana-sees",
            "Hana, gathering mushrooms, sees the fox and whispers to it.",
            mode="ref2vid",
            refs=["hana"],
            style=None,
            framing="medium-close-up",
            angle="eye-level",
            action="slowly lowers her basket",
            scene="the forest edge at sunrise",
            lighting="soft golden backlight",
            motion=["her breath rises gently in the cold air"],
            still=["the trees stay fixed"],
            camera={"move": "static", "speed": "slow"},
            duration=6,
            audio={
                "dialogue": {
                    "who": "hana",
                    "says": "Hello, little fox. Are you real?",
                    "how": "whispering in awe",
                }
            },
            transition={"type": "dissolve", "duration": 0.5},
        ),
        _shot(
            "fox-leads",
            "The fox turns and leads her deeper into the forest.",
            mode="img2vid",
            image={"shot": "fox-spirit", "frame": "last"},
            style=None,
            subject="the fox",
            action="turns slowly and trots away from the camera into the mist",
            motion=["sparks of light trail gently behind it", "the mist parts slowly around its paws"],
            still=["the ferns and the stone stay fixed"],
            camera={"move": "tracking", "speed": "slow"},
            transition={"type": "fadeblack", "duration": 1.0},
        ),
        _shot(
            "mask-empty",
            "Close on the mask again, now dark and empty: the spirit has gone.",
            framing="close-up",
            angle="high",
            subject="The white fox mask",
            action="lies dark and quiet on the moss-covered stone",
            scene="the sunlit clearing in late morning",
            lighting="bright warm daylight with soft dappled shadows",
            motion=[
                "a single leaf falls slowly onto the mask",
                "sunlight flickers gently through the branches",
            ],
            still=["the mask stays fixed at the center of the frame"],
            camera={"move": "crane-up", "speed": "slow"},
        ),
    ],
}

#: The same storyboard with mistakes a model makes: two camera moves in one field, a style never defined,
#: a shot id that is not a slug.
FOX_BROKEN: dict[str, Any] = copy.deepcopy(FOX)
FOX_BROKEN["shots"][2]["camera"] = {"move": "pan-left, tilt-up", "speed": "slow"}
FOX_BROKEN["shots"][4]["style"] = "noir"
BROKEN_LOCATION, BROKEN_TEXT = "shots[2].camera.move", "one camera move per shot"


def answer(board: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(board)


#: A revision of the kitsune-dawn example: the umbrella shot as a close-up in the rain.
UMBRELLA_REVISION: dict[str, Any] = {
    "shots": [
        _shot(
            "umbrella",
            "Mika shelters under the red umbrella as the rain begins.",
            mode="ref2vid",
            refs=["mika", "assets/umbrella.png"],
            style=None,
            duration=None,
            framing="close-up",
            action="slowly opens the red umbrella as light rain begins",
            scene="on the shrine steps at sunrise",
            lighting="soft overcast dawn light on wet stone",
            motion=["raindrops fall gently onto the umbrella", "rain streaks slowly across the frame"],
            still=["the shrine gate stays fixed behind her"],
            camera={"move": "orbit-right", "speed": "slow"},
            transition={"type": "dissolve", "duration": 0.8},
        )
    ],
    "removed": [],
    "title": None,
    "styles": None,
    "characters": None,
}

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
