"""Clip: a generated video in the store, with the facts probed from it. What the edit consumes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shotlist.media import ClipFacts


@dataclass(frozen=True)
class Clip:
    """The picked take of one shot: its file (in the content-addressed store), hash and probed facts."""

    shot: str
    path: Path
    sha256: str
    facts: ClipFacts
