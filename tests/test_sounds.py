"""The cut's sound is keyed by the clips' sound: a new picture with the same sound reuses it, new sound does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotlist.audio import sound_identity, sound_key
from shotlist.hashing import sha256_file
from shotlist.load import load_project
from shotlist.timeline import assemble
from tests.media_factory import clip_of, make_clip
from tests.tiny_project import ONE_SHOT, TinyProjects

pytestmark = pytest.mark.slow


def test_the_sound_key_follows_the_sound_not_the_picture(tmp_path: Path, tiny_project: TinyProjects) -> None:
    project = load_project(tiny_project(name="p", storyboard=ONE_SHOT))
    cache = tmp_path / "sounds"

    def key(colour: str, tone: int) -> str:
        clip = make_clip(
            tmp_path / f"{colour}-{tone}.mp4", colour, size="64x36", fps=8, seconds=1.0, tone=tone
        )
        return sound_key(
            assemble(project, {"door": clip_of("door", clip)}), sha256_file, sound_identity(cache)
        )

    red = key("red", 440)
    assert key("blue", 440) == red  # another picture, the same sound: the rendered sound is reused
    assert key("red", 660) != red  # another sound: rendered again
    assert len(list(cache.iterdir())) == 3  # each clip's sound identity is kept by the clip's hash
