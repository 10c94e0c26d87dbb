"""Fonts shipped with shotlist (no system fonts are assumed).

One face, DejaVu Sans (licence in ``LICENSE-DejaVu.txt``), used by the animatic's cards and
captions and by burned-in captions in the cut (ffmpeg's ``subtitles`` filter takes
``fontsdir=font_path().parent`` and the style's font name ``FONT_FAMILY``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
from importlib.resources import as_file, files
from pathlib import Path

FONT_FILE = "DejaVuSans.ttf"
#: The family name inside the file, as ffmpeg/libass and fontconfig match it.
FONT_FAMILY = "DejaVu Sans"


@functools.cache
def font_path() -> Path:
    """Path of the shipped TTF on the file system (extracted once if the package is zipped)."""
    resource = files(__name__).joinpath(FONT_FILE)
    if isinstance(resource, Path):
        return resource
    # A zipped install has no real file; ffmpeg and FreeType need one, so extract it for this process.
    stack = contextlib.ExitStack()
    atexit.register(stack.close)
    return stack.enter_context(as_file(resource))
