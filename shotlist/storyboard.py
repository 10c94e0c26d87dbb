"""The storyboard language, version 1: the pydantic models of a user's storyboard.yaml.

Everything here is strict (an unknown key is an error) and pure: no file is read. Checks that need
the whole document (references between shots, characters, styles, chains) or the disk (paths,
images) live in ``shotlist.resolve``.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from shotlist.errors import masked

STORYBOARD_VERSION = 1

Mode = Literal["txt2vid", "img2vid", "ref2vid", "card"]
Framing = Literal[
    "extreme-close-up",
    "close-up",
    "medium-close-up",
    "medium",
    "medium-wide",
    "wide",
    "extreme-wide",
    "over-the-shoulder",
    "pov",
]
Angle = Literal["eye-level", "low", "high", "overhead", "dutch"]
Speed = Literal["slow", "medium", "fast"]
Fit = Literal["cover", "contain"]

#: One camera move per shot, from a fixed vocabulary that every dialect knows how to phrase.
CameraMove = Literal[
    "static",
    "pan-left",
    "pan-right",
    "tilt-up",
    "tilt-down",
    "dolly-in",
    "dolly-out",
    "truck-left",
    "truck-right",
    "pedestal-up",
    "pedestal-down",
    "zoom-in",
    "zoom-out",
    "orbit-left",
    "orbit-right",
    "crane-up",
    "crane-down",
    "tracking",
    "handheld",
]
CAMERA_MOVES: tuple[str, ...] = get_args(CameraMove)

RESOLUTIONS: dict[str, int] = {"480p": 480, "540p": 540, "720p": 720, "1080p": 1080}
#: x264's and x265's presets, fastest first (SVT-AV1's numbered presets are mapped from these names).
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
ASPECTS: dict[str, tuple[int, int]] = {
    "16:9": (16, 9),
    "9:16": (9, 16),
    "1:1": (1, 1),
    "4:5": (4, 5),
    "21:9": (21, 9),
}

#: Words people write for a move, and the move of our vocabulary they mean (for "did you mean").
CAMERA_SYNONYMS: dict[str, str] = {
    "push-in": "dolly-in",
    "pull-out": "dolly-out",
    "pull-back": "dolly-out",
    "push": "dolly-in",
    "fixed": "static",
    "still": "static",
    "locked": "static",
    "locked-off": "static",
    "none": "static",
    "track": "tracking",
    "follow": "tracking",
    "hand-held": "handheld",
    "shaky": "handheld",
    "boom-up": "crane-up",
    "boom-down": "crane-down",
    "jib-up": "crane-up",
    "jib-down": "crane-down",
    "zoom": "zoom-in",
    "pan": "pan-left",
    "tilt": "tilt-up",
    "orbit": "orbit-left",
    "arc": "orbit-left",
    "dolly": "dolly-in",
    "truck": "truck-left",
    "crane": "crane-up",
    "pedestal": "pedestal-up",
}

#: Every transition of ffmpeg's xfade filter (vf_xfade.c); the edit renders them with xfade and its tests
#: check this list against the shipped binary.
XFADE_TRANSITIONS: tuple[str, ...] = (
    "fade",
    "wipeleft",
    "wiperight",
    "wipeup",
    "wipedown",
    "slideleft",
    "slideright",
    "slideup",
    "slidedown",
    "circlecrop",
    "rectcrop",
    "distance",
    "fadeblack",
    "fadewhite",
    "radial",
    "smoothleft",
    "smoothright",
    "smoothup",
    "smoothdown",
    "circleopen",
    "circleclose",
    "vertopen",
    "vertclose",
    "horzopen",
    "horzclose",
    "dissolve",
    "pixelize",
    "diagtl",
    "diagtr",
    "diagbl",
    "diagbr",
    "hlslice",
    "hrslice",
    "vuslice",
    "vdslice",
    "hblur",
    "fadegrays",
    "wipetl",
    "wipetr",
    "wipebl",
    "wipebr",
    "squeezeh",
    "squeezev",
    "zoomin",
    "fadefast",
    "fadeslow",
    "hlwind",
    "hrwind",
    "vuwind",
    "vdwind",
    "coverleft",
    "coverright",
    "coverup",
    "coverdown",
    "revealleft",
    "revealright",
    "revealup",
    "revealdown",
)
#: The names an editor uses where xfade's differ, and the xfade transition each renders with. An editor's
#: dissolve is a cross-dissolve (xfade's ``fade``); xfade's own ``dissolve`` is a per-pixel random dither
#: (Premiere's "Dither Dissolve"), so it is written ``dither`` here.
EDITOR_TRANSITIONS: dict[str, str] = {
    "dissolve": "fade",
    "dither": "dissolve",
    "dip-to-black": "fadeblack",
    "dip-to-white": "fadewhite",
}
#: Transition types: a hard cut, an editor's name above, or any other xfade transition by its own name.
TRANSITIONS: tuple[str, ...] = (
    "cut",
    *EDITOR_TRANSITIONS,
    *(n for n in XFADE_TRANSITIONS if n not in EDITOR_TRANSITIONS),
)


def xfade_name(transition: str) -> str:
    """The xfade transition a storyboard's transition type renders with (``cut`` stays ``cut``)."""
    return EDITOR_TRANSITIONS.get(transition, transition)


SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_WXH = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_SEVERAL_MOVES = re.compile(r",|\+|/|&|;|\bthen\b|\band\b")


def closest(
    word: str, choices: list[str] | tuple[str, ...], synonyms: dict[str, str] | None = None
) -> str | None:
    """The choice a mistyped ``word`` most likely meant, or None."""
    key = word.strip().lower().replace(" ", "-").replace("_", "-")
    if synonyms and key in synonyms:
        return synonyms[key]
    if key in choices and key != word:
        return key
    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def user_error(message: str, fix: str) -> PydanticCustomError:
    """A validation error whose message and fix reach the user as written (see shotlist.diagnostics)."""
    return PydanticCustomError("shotlist", "{message}", {"message": message, "fix": fix})


def _one_camera_move(value: Any) -> Any:
    """Refuse several moves and unknown moves with a message that says which move to keep."""
    if isinstance(value, list):
        moves = [str(v) for v in value]
        first = moves[0] if moves else "static"
        raise user_error(
            f"a list of moves [{', '.join(moves)}] — one camera move per shot",
            f"keep one move (camera: {first}) and give each other move a shot of its own",
        )
    if not isinstance(value, str):
        return value
    move = value.strip()
    if _SEVERAL_MOVES.search(move):
        first = re.split(r"[,+/&;]|\bthen\b|\band\b", move)[0].strip() or "static"
        raise user_error(
            f"'{move}' — one camera move per shot",
            f"keep one move (camera: {first}) and give each other move a shot of its own",
        )
    if move not in CAMERA_MOVES:
        guess = closest(move, CAMERA_MOVES, CAMERA_SYNONYMS)
        hint = f" — did you mean '{guess}'?" if guess else ""
        raise user_error(f"'{move}' is not a camera move{hint}", f"use one of: {', '.join(CAMERA_MOVES)}")
    return move


class Strict(BaseModel):
    """Base of every storyboard model: unknown keys are errors, values are validated on assignment."""

    # inf and nan are valid YAML floats but no duration, gain or offset can be one.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Camera(Strict):
    """One camera move and its speed."""

    move: CameraMove = "static"
    speed: Speed = "slow"

    @field_validator("move", mode="before")
    @classmethod
    def _move(cls, value: Any) -> Any:
        return _one_camera_move(value)


class FrameRef(Strict):
    """A frame of another shot's clip, used as this shot's source image (continuity)."""

    shot: str
    frame: Literal["first", "last"] | Annotated[float, Field(ge=0)] = "last"


class SheetRef(Strict):
    """A continuity sheet as a reference: a 3×3 grid of frames from earlier shots' pinned takes."""

    sheet: list[str] | Literal["previous"]

    @field_validator("sheet", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) and value != "previous" else value


class Dialogue(Strict):
    """A line spoken in the shot: who says what, and how (the delivery label models need)."""

    who: str
    says: str
    how: str | None = None


class ShotAudio(Strict):
    """The shot's sound: what the model is asked for, and what the edit does with the clip's own sound."""

    native: bool | None = None  # ask the model for native audio (None: the model's default, off)
    dialogue: Dialogue | None = None
    mix: Literal["keep", "mute"] = "keep"
    gain_db: float = 0.0


class Transition(Strict):
    """The transition from this shot to the next: ``cut``, an editor's name (``dissolve``) or an xfade name."""

    type: str = "cut"
    duration: Annotated[float, Field(ge=0)] = 0.0

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": data, "duration": 0.0 if data == "cut" else 0.5}
        return data

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in TRANSITIONS:
            guess = closest(value, TRANSITIONS)
            hint = f" — did you mean '{guess}'?" if guess else ""
            raise user_error(
                f"'{value}' is not a transition{hint}",
                "use cut, dissolve, dip-to-black, dip-to-white, a wipe (wipeleft, ...), a slide "
                "(slideleft, ...) or another of ffmpeg's xfade transitions (the README lists them)",
            )
        return value


class Trim(Strict):
    """The part of the generated clip that goes into the cut, in seconds from the clip's start."""

    start: Annotated[float, Field(ge=0)] = 0.0
    end: Annotated[float, Field(gt=0)] | None = None


class Card(Strict):
    """A title or end card: text on colour, rendered locally (never sent to a model)."""

    title: str
    subtitle: str | None = None
    background: str = "#000000"
    color: str = "#ffffff"


Camera_ = Camera | CameraMove
ImageSource = str | FrameRef


class ShotFields(Strict):
    """Every field a shot can set; ``defaults`` uses the same fields, all optional."""

    mode: Mode | None = None  # unset: card, img2vid or ref2vid given a card, image or refs; else txt2vid
    framing: Framing | None = None  # the shot size the prompt opens with
    angle: Angle | None = None
    subject: str | None = None  # who or what is seen
    action: str | None = None  # what the subject does
    scene: str | None = None  # where
    lighting: str | None = None
    style: str | None = None  # a name under ``styles:``, or the style's text inline
    motion: list[str] | None = None  # what moves, each with its speed and direction
    still: list[str] | None = None  # what the camera move leaves fixed
    camera: Camera | None = None  # one move and its speed
    duration: Annotated[float, Field(gt=0, le=60)] | None = None  # seconds
    model: str | None = None  # a model id of the catalog (``shotlist models``)
    template: str | None = None  # the project's templates/<name>.j2 or a built-in dialect, by name
    prompt: str | None = None  # sent as written: no template renders it
    negative: str | None = None  # the negative prompt, for the models that take one
    constraints: str | None = None  # the prompt's closing line
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = None
    takes: Annotated[int, Field(ge=1, le=20)] | None = None  # how many takes a build makes
    image: ImageSource | None = None  # the first frame: a file, or a frame of an earlier shot
    end_image: ImageSource | None = None  # the last frame, likewise
    refs: list[str | SheetRef] | None = None  # characters, images or a continuity sheet (ref2vid)
    audio: ShotAudio | None = None
    transition: Transition | None = None  # into the next shot
    trim: Trim | None = None  # the part of the clip the cut uses
    fit: Fit | None = None  # when the clip's shape is not the output's: scale and crop, or pad
    caption: str | None = None  # shown while the shot is on screen
    card: Card | None = None
    lint: list[str] | None = None  # lint rules not checked on this shot
    notes: str | None = None  # for people: never sent, not part of any key

    @field_validator("motion", "still", "refs", "lint", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():  # not a silent fall back to the model's dialect
            raise user_error(
                "an empty template name",
                "name a template (templates/NAME.j2, or a built-in dialect such as veo or kling), or remove "
                "the line to use the model's own dialect",
            )
        return value

    @field_validator("camera", mode="before")
    @classmethod
    def _camera(cls, value: Any) -> Any:
        value = _one_camera_move(value)
        if isinstance(value, str):
            return {"move": value}
        return value

    @field_validator("card", mode="before")
    @classmethod
    def _card(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"title": value}
        return value


class Shot(ShotFields):
    """One shot of the film. ``id`` names it in the lock, the plan and every message."""

    id: Annotated[str, Field(pattern=SLUG)]


class Output(Strict):
    """The final cut: size, rate, file and encoder."""

    resolution: str = "720p"
    aspect: Literal["16:9", "9:16", "1:1", "4:5", "21:9"] = "16:9"
    fps: Annotated[int, Field(ge=1, le=120)] = 24
    file: str = "out/cut.mp4"
    codec: Literal["h264", "h265", "av1"] = "h264"
    crf: Annotated[int, Field(ge=0, le=51)] = 20
    preset: Annotated[str, Field(json_schema_extra={"enum": list(PRESETS)})] = "medium"
    fade_in: Annotated[float, Field(ge=0)] = 0.0
    fade_out: Annotated[float, Field(ge=0)] = 0.0

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: str) -> str:
        if value in RESOLUTIONS or _WXH.match(value):
            return value
        guess = closest(value, tuple(RESOLUTIONS))
        hint = f" — did you mean '{guess}'?" if guess else ""
        raise user_error(
            f"'{value}' is not a resolution{hint}",
            f"use one of {', '.join(RESOLUTIONS)}, or width x height like 1280x720",
        )

    @field_validator("preset")
    @classmethod
    def _preset(cls, value: str) -> str:
        # The preset goes to ffmpeg as one argument: only a name the encoders know may reach it.
        if value in PRESETS:
            return value
        guess = closest(value.strip().lower(), PRESETS)
        hint = f" — did you mean '{guess}'?" if guess else ""
        raise user_error(
            f"'{value}' is not an encoder preset{hint}",
            f"use one of {', '.join(PRESETS)} (slower presets make smaller files; the same names for h264, "
            "h265 and av1)",
        )

    def size(self) -> tuple[int, int]:
        """Width and height in pixels (even numbers, as H.264 with yuv420p needs)."""
        m = _WXH.match(self.resolution)
        if m:
            return int(m.group(1)) // 2 * 2, int(m.group(2)) // 2 * 2
        short = float(RESOLUTIONS[self.resolution])
        aw, ah = ASPECTS[self.aspect]
        w, h = (short * aw / ah, short) if aw >= ah else (short, short * ah / aw)
        return int(round(w / 2)) * 2, int(round(h / 2)) * 2


class Character(Strict):
    """A recurring character: the look text that prompts use and its reference images."""

    look: str
    ref: list[str] = Field(default_factory=list)

    @field_validator("ref", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Placement(Strict):
    """An audio file placed on the cut: at a time, or at a shot's start plus an offset."""

    file: str
    at: Annotated[float, Field(ge=0)] | None = None
    shot: str | None = None
    offset: float = 0.0
    gain_db: float = 0.0

    @model_validator(mode="after")
    def _one_anchor(self) -> Placement:
        if (self.at is None) == (self.shot is None):
            both = self.at is not None
            raise user_error(
                "both 'at' and 'shot' are given" if both else "neither 'at' nor 'shot' is given",
                "give exactly one: at: <seconds on the cut>, or shot: <shot id>",
            )
        return self


class Music(Strict):
    """The music bed under the whole cut."""

    file: str
    gain_db: float = -12.0
    fade_in: Annotated[float, Field(ge=0)] = 0.0
    fade_out: Annotated[float, Field(ge=0)] = 2.0
    start: Annotated[float, Field(ge=0)] = 0.0  # offset into the music file
    loop: bool = True
    duck: bool = True
    duck_db: Annotated[float, Field(ge=0, le=40)] = 12.0


class Soundtrack(Strict):
    """Music, voice-over and effects, and the loudness the final mix is normalised to."""

    music: Music | None = None
    voiceover: list[Placement] = Field(default_factory=list)
    effects: list[Placement] = Field(default_factory=list)
    loudness_lufs: Annotated[float, Field(ge=-70, le=-5)] = -14.0
    true_peak_db: Annotated[float, Field(ge=-9, le=0)] = -1.0


class Captions(Strict):
    """Captions from dialogue and ``caption:`` fields: sidecar files and optional burn-in."""

    burn_in: bool = False
    sidecars: list[Literal["srt", "vtt"]] = Field(default_factory=lambda: ["srt", "vtt"])  # type: ignore[arg-type]
    size: Annotated[int, Field(ge=8, le=200)] = 36


QC_RULES = ("black", "frozen", "splice", "flicker", "silent", "clipping", "duration-drift", "shape-drift")


class QcSettings(Strict):
    """Thresholds of the automatic QC of takes (shotlist.qc); ``ignore`` turns rules off."""

    black_min_s: Annotated[float, Field(gt=0)] = 0.25  # a black stretch at least this long
    freeze_min_s: Annotated[float, Field(gt=0)] = 0.5  # a frozen stretch at least this long
    splice_score: Annotated[float, Field(gt=0, le=100)] = 25.0  # scdet score of a hard cut inside a clip
    flicker_luma: Annotated[float, Field(gt=0, le=255)] = 12.0  # mean-luma jump between two frames
    flicker_count: Annotated[int, Field(ge=2)] = 4  # that many jumps within one second is flicker
    silent_fraction: Annotated[float, Field(gt=0, le=1)] = 0.9  # share of silence in a clip asked to speak
    clip_samples: Annotated[int, Field(ge=1)] = 10  # samples at full scale that make the sound clip
    duration_tolerance_s: Annotated[float, Field(ge=0)] = 0.25  # drift from the asked duration
    ignore: list[str] = Field(default_factory=list)

    @field_validator("ignore", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        names = [value] if isinstance(value, str) else value
        for name in names if isinstance(names, list) else []:
            if name not in QC_RULES:
                guess = closest(str(name), QC_RULES)
                hint = f" — did you mean '{guess}'?" if guess else ""
                raise user_error(f"'{name}' is not a QC rule{hint}", f"use one of: {', '.join(QC_RULES)}")
        return names


class Storyboard(Strict):
    """A whole storyboard.yaml."""

    version: int
    title: str = "Untitled"
    output: Output = Field(default_factory=Output)
    defaults: ShotFields = Field(default_factory=ShotFields)
    styles: dict[str, str] = Field(default_factory=dict)
    characters: dict[str, Character] = Field(default_factory=dict)
    shots: Annotated[list[Shot], Field(min_length=1)]
    soundtrack: Soundtrack = Field(default_factory=Soundtrack)
    captions: Captions = Field(default_factory=Captions)
    budget: Annotated[float, Field(ge=0)] | None = None  # US dollars per build
    remote: str | None = None  # shared clip store (issue: sharing); credentials never here
    qc: QcSettings = Field(default_factory=QcSettings)  # thresholds of the automatic QC of takes

    @field_validator("remote")
    @classmethod
    def _remote(cls, value: str | None) -> str | None:
        # The storyboard is committed: a password in it would go to everyone who clones the project.
        if value is not None and masked(value) != value:
            raise user_error(
                f"'{masked(value)}' holds a password, and the storyboard is shared through git",
                "write the URL without it and give the credentials in the environment "
                "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for s3://, or the whole URL in SHOTLIST_REMOTE); "
                "change that password: it may be in git's history already",
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != STORYBOARD_VERSION:
            raise user_error(*version_problem(value))
        return value

    def shot(self, shot_id: str) -> Shot:
        """The shot with this id (KeyError if none)."""
        for s in self.shots:
            if s.id == shot_id:
                return s
        raise KeyError(shot_id)


def version_problem(value: Any) -> tuple[str, str]:
    """(message, fix) for a ``version:`` this shotlist cannot read."""
    if isinstance(value, int) and not isinstance(value, bool) and value > STORYBOARD_VERSION:
        return (
            f"version {value} is newer than this shotlist reads (version {STORYBOARD_VERSION})",
            "upgrade shotlist (pip install -U shotlist)",
        )
    shown = f"'{value}'" if isinstance(value, str) else "nothing" if value is None else str(value).lower()
    return f"version {shown} is not a storyboard version", f"write version: {STORYBOARD_VERSION}"


def json_schema() -> dict[str, Any]:
    """The storyboard's JSON Schema for editors, with the short forms the loader accepts spelled out.

    Some fields take a shorthand that a before-validator expands (``camera: pan-left`` for
    ``camera: {move: pan-left}``, ``motion: "text"`` for a list of one); pydantic's schema only
    knows the expanded form, so an editor would flag good files. We widen those places here.
    """
    schema = Storyboard.model_json_schema()
    defs: dict[str, Any] = schema["$defs"]
    moves = {"type": "string", "enum": list(CAMERA_MOVES)}
    short = {
        "Camera": moves,
        "Transition": {"type": "string", "enum": list(TRANSITIONS)},
        "Card": {"type": "string", "description": "the card's title"},
    }

    def widen(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1] if ref.startswith("#/$defs/") else ""
            if name in short:
                return {"anyOf": [short[name], {"$ref": ref}]}
            return {k: widen(v) for k, v in node.items()}
        if isinstance(node, list):
            return [widen(v) for v in node]
        return node

    for name in ("ShotFields", "Shot"):
        props = defs[name]["properties"]
        for key in ("motion", "still", "refs", "lint"):
            items: dict[str, Any] = {"type": "string"}
            if key == "refs":  # a character, an image, or a continuity sheet
                items = {"anyOf": [items, {"$ref": "#/$defs/SheetRef"}]}
            props[key] = {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": items},
                    {"type": "null"},
                ],
                "default": None,
                "title": props[key].get("title", key),
            }
    char = defs["Character"]["properties"]
    char["ref"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "title": "Ref",
        "description": "reference images of the character",
    }
    schema = widen(schema)
    schema["properties"]["version"] = {
        "const": STORYBOARD_VERSION,
        "title": "Version",
        "description": "the storyboard language version",
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """The JSON Schema as the text of shotlist.schema.json."""
    import json

    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
