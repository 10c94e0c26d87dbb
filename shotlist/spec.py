"""ShotSpec: the exact request for one shot, and its key.

A ShotSpec holds everything that can change the generated clip and nothing else. Input media enter
by content hash, never by path, so renaming a file or reordering shots changes no key.

Two hashes come from it:
- ``key``: the *recipe*. Every take of the same recipe lives under this key in the store (like DVC's
  run cache: one recipe, many results), so reverting a prompt finds the earlier takes again.
- ``take_key(n)``: the recipe plus the take number; it names one paid generation (journal, job).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Bump when the recipe of the key changes, so that every old key is visibly different.
KEY_SALT = "shotlist-spec-v1"


@dataclass(frozen=True)
class MediaInput:
    """An input image or clip frame, by content. ``path`` tells the backend where to read it; not keyed."""

    role: str  # "image" (first frame), "end_image" (last frame), "ref" (reference)
    sha256: str
    width: int = 0
    height: int = 0
    path: str = ""  # absolute path at build time (not part of the key)
    name: str = ""  # a reference's name, for prompts and messages (not part of the key)
    # A frame of an upstream shot's clip: ``sha256`` is then the *clip's* hash and this the selector
    # ("first", "last" or seconds as text), so the key is known as soon as the upstream clip is.
    frame: str | None = None
    upstream: str = ""  # the upstream shot's id, for messages (not part of the key)

    def keyed(self) -> dict[str, str]:
        """The part of this input that enters the key (``frame`` only when set, so older keys stay valid)."""
        out = {"role": self.role, "sha256": self.sha256}
        if self.frame is not None:
            out["frame"] = self.frame
        return out


@dataclass(frozen=True)
class ShotSpec:
    """The exact request for one shot, as a backend will receive it."""

    shot: str  # the shot id (for messages; not part of the key)
    backend: str
    model: str  # the catalog's model id
    mode: str  # txt2vid, img2vid, ref2vid or card
    prompt: str  # rendered in the model's dialect
    duration: float  # seconds
    width: int
    height: int  # the clip's size in pixels
    aspect: str
    fps: int
    negative: str | None = None  # the negative prompt, for the models that take one
    seed: int | None = None
    audio: bool = False  # ask the model for its native sound
    inputs: tuple[MediaInput, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)  # backend-specific, JSON-able, part of the key
    take: int = 1  # which take of the recipe (not part of the key: ``take_key`` adds it)

    def recipe(self) -> dict[str, Any]:
        """The keyed content: everything but the shot id, input paths and names, and the take number."""
        return {
            "salt": KEY_SALT,
            "backend": self.backend,
            "model": self.model,
            "mode": self.mode,
            "prompt": self.prompt,
            "negative": self.negative,
            "duration": self.duration,
            "size": [self.width, self.height],
            "aspect": self.aspect,
            "fps": self.fps,
            "seed": self.seed,
            "audio": self.audio,
            "inputs": [i.keyed() for i in self.inputs],
            "params": dict(self.params),
        }

    @functools.cached_property  # a frozen spec's key never changes; planning asks for it often
    def key(self) -> str:
        """sha256 of the canonical recipe: the identity under which takes are stored."""
        return sha256_json(self.recipe())

    def take_key(self, take: int | None = None) -> str:
        """sha256 of the recipe and a take number: one paid generation."""
        return sha256_json({"recipe": self.key, "take": self.take if take is None else take})

    def input(self, role: str) -> MediaInput | None:
        return next((i for i in self.inputs if i.role == role), None)


def canonical(value: Any) -> Any:
    """Plain JSON data with fixed number formatting: integral floats as ints, others rounded to 6 places."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be keyed")
        r = round(value, 6)
        return int(r) if r == int(r) else format(r, ".6f").rstrip("0")
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    raise TypeError(f"cannot key a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, UTF-8 kept, fixed number format."""
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
