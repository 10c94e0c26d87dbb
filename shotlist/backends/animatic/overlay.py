"""The layer fixed over every frame of an animatic: the ANIMATIC label and the caption band."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from shotlist.backends.animatic.lettering import clip_line, first_words, font, one_line, wrap
from shotlist.spec import ShotSpec

#: A box on whole pixels: left, top, right, bottom.
PixelBox = tuple[int, int, int, int]


def overlay(spec: ShotSpec, w: int, h: int) -> tuple[Image.Image, list[PixelBox]]:
    """The fixed RGBA layer over every ``w``×``h`` frame, with the boxes it covers (on even pixels)."""
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    # A take after the first says its number: the animatic is deterministic, and without it every take of
    # a recipe would be the same clip, so picking another take could never change the cut.
    tag = spec.shot if spec.take <= 1 else f"{spec.shot} · take {spec.take}"
    boxes = [_label(draw, tag, w, h)]
    caption = one_line(spec.params.get("caption")) or first_words(spec.prompt, 18)
    dialogue = one_line(spec.params.get("dialogue"))
    face = font(max(min(w, h) // 24, 10))
    width = w * 0.9
    lines = [(line, (255, 255, 255)) for line in wrap(caption, face, width, 2 if dialogue else 3)]
    lines += [(line, (255, 214, 102)) for line in wrap(dialogue, face, width, 2)]
    if lines:
        step = face.size * 1.3
        height = len(lines) * step + face.size * 0.8
        box = _even_box(0, h - height, w, h, w, h)
        draw.rectangle(box, fill=(0, 0, 0, 165))
        for i, (line, fill) in enumerate(lines):
            draw.text(
                (w / 2, box[1] + face.size * 0.4 + i * step), line, font=face, fill=(*fill, 255), anchor="ma"
            )
        boxes.append(box)
    return layer, boxes


def _label(draw: ImageDraw.ImageDraw, tag: str, w: int, h: int) -> PixelBox:
    """The ``ANIMATIC · <shot>`` tag in the top left corner; returns its box."""
    small = font(max(min(w, h) // 34, 9))
    label = clip_line(f"ANIMATIC · {tag}", small, w * 0.6)
    pad = max(4, round(small.size * 0.45))
    lw = round(small.getlength(label))
    box = _even_box(pad, pad, pad + lw + 2 * pad, pad + small.size + 2 * pad, w, h)
    draw.rectangle(box, fill=(0, 0, 0, 150))
    draw.text(
        (box[0] + pad, (box[1] + box[3]) / 2), label, font=small, fill=(255, 255, 255, 255), anchor="lm"
    )
    return box


def _even_box(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> PixelBox:
    """A box on even pixels inside the frame, so that it covers whole chroma samples."""

    def down(v: float, lim: int) -> int:
        return min(max(int(v) // 2 * 2, 0), lim)

    def up(v: float, lim: int) -> int:
        return min(max(math.ceil(v / 2) * 2, 0), lim)

    return down(x0, w), down(y0, h), up(x1, w), up(y1, h)
