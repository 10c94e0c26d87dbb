"""What the animatic's camera looks at: the source image, or a card drawn from the shot's words.

Each picture is drawn at the picture size (the camera's widest view), with the frame at rest in its
centre: the storyboard card (txt2vid), the references on a grid (ref2vid), a title card (card).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageColor, ImageDraw, ImageOps

from shotlist.backends.animatic.camera import camera_of
from shotlist.backends.animatic.icons import draw_move
from shotlist.backends.animatic.images import contain, cover, open_rgb, source
from shotlist.backends.animatic.lettering import (
    Color,
    clip_line,
    draw_lines,
    first_words,
    font,
    one_line,
    wrap,
)
from shotlist.spec import MediaInput, ShotSpec


def picture(spec: ShotSpec, size: tuple[int, int], frame: tuple[int, int]) -> Image.Image:
    """What the camera looks at, by mode; anything missing falls back to the storyboard card."""
    if spec.mode == "card":
        return _title_card(spec, size)
    image = spec.input("image")
    refs = [i for i in spec.inputs if i.role == "ref"]
    if image is not None and (spec.mode != "ref2vid" or not refs):
        return cover(source(image, "source image", size), size)
    if refs:
        return _references(spec, refs, size, frame)
    return _storyboard(spec, size, frame)


def _stage(size: tuple[int, int], frame: tuple[int, int], seed: str) -> Image.Image:
    """A dark gradient with a faint grid, so that any camera move is visible on a card."""
    hue = int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) % 360
    top = ImageColor.getrgb(f"hsl({hue}, 28%, 22%)")
    bottom = ImageColor.getrgb(f"hsl({hue}, 30%, 9%)")
    ramp = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    im = ImageOps.colorize(ramp, top[:3], bottom[:3])
    draw = ImageDraw.Draw(im)
    w, h = frame
    step = max(8, min(w, h) // 6)
    x0, y0 = (size[0] - w) // 2, (size[1] - h) // 2
    grid = ImageColor.getrgb(f"hsl({hue}, 25%, 30%)")[:3]
    for x in range(x0 % step, size[0], step):
        draw.line([(x, 0), (x, size[1])], fill=grid, width=1)
    for y in range(y0 % step, size[1], step):
        draw.line([(0, y), (size[0], y)], fill=grid, width=1)
    return im


def _panel(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], frame: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The storyboard panel's border around the frame at rest; returns its inner box."""
    w, h = frame
    unit = min(w, h)
    x0, y0 = (size[0] - w) // 2, (size[1] - h) // 2
    inset = round(unit * 0.04)
    box = (x0 + inset, y0 + inset, x0 + w - inset, y0 + h - inset)
    draw.rectangle(box, outline=(214, 214, 206), width=max(2, unit // 180))
    return box


def _storyboard(spec: ShotSpec, size: tuple[int, int], frame: tuple[int, int]) -> Image.Image:
    """The txt2vid card: shot id, subject and action, and the camera move as an icon and a name."""
    params = spec.params
    title = one_line(params.get("title")) or first_words(spec.prompt, 12) or spec.shot
    subtitle = one_line(params.get("subtitle"))
    im = _stage(size, frame, title)
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = _panel(draw, size, frame)
    unit = min(frame)
    pad = unit * 0.05
    width = x1 - x0 - 2 * pad
    cx = (x0 + x1) / 2
    # Top right: the fixed ANIMATIC label sits top left, and a push-in carries this corner outward.
    draw.text(
        (x1 - pad, y0 + pad * 0.8),
        f"SHOT {spec.shot}".upper(),
        font=font(unit // 28),
        fill=(170, 170, 160),
        anchor="ra",
    )
    # Text sits in the upper two thirds: the caption band covers the bottom of the frame.
    y = y0 + (y1 - y0) * 0.17
    y = draw_lines(
        draw, wrap(title, font(unit // 12), width, 3), font(unit // 12), cx, y, (245, 243, 235), 1.2
    )
    if subtitle:
        y = draw_lines(
            draw,
            wrap(subtitle, font(unit // 20), width, 2),
            font(unit // 20),
            cx,
            y + unit * 0.02,
            (205, 205, 195),
        )
    icon = unit * 0.07
    _move_line(draw, camera_of(params), cx, max(y + icon * 1.4, y0 + (y1 - y0) * 0.6), unit)
    return im


def _move_line(draw: ImageDraw.ImageDraw, camera: tuple[str, str], cx: float, iy: float, unit: int) -> None:
    """The camera move as an icon and its name (with the speed), centred on ``cx`` at height ``iy``."""
    move, speed = camera
    icon = unit * 0.07
    name = move.replace("-", " ").upper() + ("" if move == "static" else f" · {speed}")
    label = font(unit // 26)
    total = 2 * icon + unit * 0.03 + label.getlength(name)
    ix = cx - total / 2 + icon
    draw_move(draw, move, ix, iy, icon, (250, 200, 80), max(2, unit // 120))
    draw.text((ix + icon + unit * 0.03, iy), name, font=label, fill=(250, 200, 80), anchor="lm")


def _references(
    spec: ShotSpec, refs: Sequence[MediaInput], size: tuple[int, int], frame: tuple[int, int]
) -> Image.Image:
    """The ref2vid card: every reference image with its name, on a grid."""
    title = one_line(spec.params.get("title")) or "References"
    im = _stage(size, frame, title)
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = _panel(draw, size, frame)
    unit = min(frame)
    pad = unit * 0.05
    head = font(unit // 18)
    top = draw_lines(
        draw, wrap(title, head, x1 - x0 - 2 * pad, 1), head, (x0 + x1) / 2, y0 + pad, (245, 243, 235)
    )
    # The grid fills the panel above the caption band; columns follow the panel's shape.
    bottom = y0 + (y1 - y0) * 0.74
    n = len(refs)
    cols = max(1, min(n, round(math.sqrt(n * (x1 - x0) / max(bottom - top, 1) / 1.2))))
    rows = math.ceil(n / cols)
    name_font = font(unit // 30)
    cell_w = (x1 - x0 - 2 * pad) / cols
    cell_h = (bottom - top) / rows
    for i, ref in enumerate(refs):
        r, c = divmod(i, cols)
        in_row = min(cols, n - r * cols)
        cx = (x0 + x1) / 2 + (c - (in_row - 1) / 2) * cell_w
        cy = top + r * cell_h
        box_w, box_h = int(cell_w * 0.86), int(cell_h - name_font.size * 1.8)
        thumb = contain(open_rgb(ref.path, "reference", (box_w, box_h)), (max(box_w, 1), max(box_h, 1)))
        tx, ty = round(cx - thumb.width / 2), round(cy + (box_h - thumb.height) / 2)
        im.paste(thumb, (tx, ty))
        draw.rectangle(
            (tx - 1, ty - 1, tx + thumb.width, ty + thumb.height), outline=(214, 214, 206), width=1
        )
        name = ref.name or Path(ref.path).stem or f"ref {i + 1}"
        draw.text(
            (cx, ty + thumb.height + name_font.size * 0.4),
            clip_line(name, name_font, cell_w * 0.95),
            font=name_font,
            fill=(235, 235, 225),
            anchor="ma",
        )
    return im


def _title_card(spec: ShotSpec, size: tuple[int, int]) -> Image.Image:
    """A card shot: title and subtitle centred on a colour."""
    card = spec.params.get("card")
    card = card if isinstance(card, Mapping) else {"title": card} if isinstance(card, str) else {}
    title = one_line(card.get("title")) or one_line(spec.params.get("title")) or first_words(spec.prompt, 12)
    subtitle = one_line(card.get("subtitle"))
    im = Image.new("RGB", size, _color(card.get("background"), (0, 0, 0)))
    color = _color(card.get("color"), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    unit = min(size)
    width = size[0] * 0.84
    big, small = font(unit // 9), font(unit // 18)
    title_lines = wrap(title, big, width, 4)
    sub_lines = wrap(subtitle, small, width, 3)
    height = len(title_lines) * big.size * 1.2 + (
        len(sub_lines) * small.size * 1.3 + unit * 0.04 if sub_lines else 0
    )
    y = draw_lines(draw, title_lines, big, size[0] / 2, (size[1] - height) / 2, color, 1.2)
    draw_lines(draw, sub_lines, small, size[0] / 2, y + unit * 0.04, color, 1.3)
    return im


def _color(value: Any, default: Color) -> Color:
    try:
        rgb = ImageColor.getrgb(str(value))
    except ValueError:
        return default
    return (rgb[0], rgb[1], rgb[2])
