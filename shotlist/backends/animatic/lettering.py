"""Text on the animatic's pictures: the shipped font, params as one line, word wrap, centred lines."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import ImageDraw, ImageFont

from shotlist.fonts import font_path

Color = tuple[int, int, int]


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """The shipped font at ``size`` pixels (8 at the least)."""
    # The basic layout engine: raqm may or may not be installed, and the pixels must not depend on it.
    return ImageFont.truetype(str(font_path()), max(size, 8), layout_engine=ImageFont.Layout.BASIC)


def one_line(value: Any) -> str:
    """A param as one line of text, whatever shape it came in (missing → empty)."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        who, says, how = value.get("who"), value.get("says"), value.get("how")
        if says:
            return f'{who or ""}{f" ({how})" if how else ""}: "{says}"'.lstrip(": ")
        return " ".join(str(v) for v in value.values() if v)
    return " ".join(str(value).split())


def first_words(text: str, n: int) -> str:
    """The first ``n`` words of ``text``, with an ellipsis when there were more."""
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def wrap(text: str, face: ImageFont.FreeTypeFont, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap; overlong words and lines past ``max_lines`` end in an ellipsis."""
    lines: list[str] = []
    for word in text.split():
        if lines and face.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " …"
    return [clip_line(line, face, width) for line in lines]


def clip_line(line: str, face: ImageFont.FreeTypeFont, width: float) -> str:
    """``line`` cut to ``width`` pixels, ending in an ellipsis when it was cut."""
    if face.getlength(line) <= width:
        return line
    while line and face.getlength(line + "…") > width:
        line = line[:-1]
    return line.rstrip(" …") + "…"


def draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: Sequence[str],
    face: ImageFont.FreeTypeFont,
    cx: float,
    top: float,
    fill: Color,
    leading: float = 1.25,
) -> float:
    """Draw lines centred on ``cx`` from ``top``; return the y below them."""
    step = face.size * leading
    for i, line in enumerate(lines):
        draw.text((cx, top + i * step), line, font=face, fill=fill, anchor="ma")
    return top + len(lines) * step
