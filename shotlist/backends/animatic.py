"""The embedded offline backend ``animatic``: a previz clip for any shot, with no network, key or GPU.

Each shot becomes one still picture — the source image (img2vid), a storyboard card (txt2vid), the
references laid out on a card (ref2vid) or a title card — and a virtual camera moves over it. The
clip has the shot's exact duration, size and rate, an AAC track of silence, and the same bytes for
the same spec, so a whole cut can be timed and reviewed before any money is spent.

Speed comes from doing the per-frame work in YUV: the picture is converted to BT.709 planes once;
each frame samples only the luma plane and the two quarter-size chroma planes (bilinear, at
sub-pixel positions, so slow moves glide instead of stepping) and pipes them to x264 as raw yuv420p.
The picture is drawn 1:1 for the camera's widest view, so a pan or a wobble is a blend of whole-pixel
crops, a still frame is a plain crop, and only zooms resample (upsampling, never by more than
``MAX_ZOOM``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageColor, ImageDraw, ImageFont, ImageOps

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.fonts import font_path
from shotlist.media import MediaError, ffmpeg_exe
from shotlist.spec import MediaInput, ShotSpec

#: Speed multipliers of the moves' rates.
SPEEDS = {"slow": 1.0, "medium": 2.0, "fast": 3.5}
TRAVEL_PER_S = 0.03  # pans, tilts, trucks: frame widths (or heights) per second at "slow"
ZOOM_PER_S = 0.03  # dollies: growth of the magnification per second at "slow"; a zoom lens goes 1.5×
MAX_TRAVEL = 0.5
MAX_ZOOM = 1.6  # beyond this the picture, drawn 1:1 for the widest view, would be visibly soft
WOBBLE = 0.004  # handheld sway in frame widths at "slow"

#: RGB → limited-range BT.709 YCbCr as a Pillow convert matrix (rows: Y, Cb, Cr; last column: offset).
_KR, _KB = 0.2126, 0.0722
_KG = 1 - _KR - _KB
_BT709 = (
    219 / 255 * _KR,
    219 / 255 * _KG,
    219 / 255 * _KB,
    16.0,
    -224 / 255 * _KR / (2 * (1 - _KB)),
    -224 / 255 * _KG / (2 * (1 - _KB)),
    224 / 255 / 2,
    128.0,
    224 / 255 / 2,
    -224 / 255 * _KG / (2 * (1 - _KR)),
    -224 / 255 * _KB / (2 * (1 - _KR)),
    128.0,
)

Box = tuple[float, float, float, float]
Color = tuple[int, int, int]

# ---------------------------------------------------------------------------------------------
# The camera


@dataclass(frozen=True)
class View:
    """Where the camera looks: the frame centre's offset from the picture centre (in frame widths
    and heights) and the magnification (1 = the widest view of the shot, drawn 1:1)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 1.0


def camera_path(move: str, speed: str, fps: int, frames: int, aspect: float = 16 / 9) -> list[View]:
    """The camera's view at each frame; an unknown move is ``static``. ``aspect`` = width / height."""
    rate = SPEEDS.get(speed, 1.0)
    duration = frames / fps
    travel = min(TRAVEL_PER_S * rate * duration, MAX_TRAVEL)
    dolly = min(ZOOM_PER_S * rate * duration, MAX_ZOOM - 1)
    lens = min(1.5 * ZOOM_PER_S * rate * duration, MAX_ZOOM - 1)
    sway = WOBBLE * rate
    views = []
    for i in range(frames):
        u = i / (frames - 1) if frames > 1 else 0.0
        p = 0.5 * u + 0.25 * (1 - math.cos(math.pi * u))  # half linear, half eased: starts and lands softly
        t = i / fps  # the handheld sway runs in real time, whatever the clip's length
        s = (p - 0.5) * travel
        if move in ("pan-right", "truck-right"):
            v = View(x=s)
        elif move in ("pan-left", "truck-left"):
            v = View(x=-s)
        elif move in ("tilt-down", "pedestal-down"):
            v = View(y=s)
        elif move in ("tilt-up", "pedestal-up"):
            v = View(y=-s)
        elif move == "crane-up":  # rising: the view climbs and widens
            v = View(y=-s, z=1 + dolly / 2 * (1 - p))
        elif move == "crane-down":
            v = View(y=s, z=1 + dolly / 2 * p)
        elif move == "dolly-in":
            v = View(z=1 + dolly * p)
        elif move == "dolly-out":
            v = View(z=1 + dolly * (1 - p))
        elif move == "zoom-in":
            v = View(z=1 + lens * p)
        elif move == "zoom-out":
            v = View(z=1 + lens * (1 - p))
        elif move in (
            "orbit-left",
            "orbit-right",
        ):  # circling the subject: the scene drifts, the subject nears
            v = View(x=0.6 * (s if move == "orbit-right" else -s), z=1 + dolly * 0.3 * p)
        elif move == "tracking":  # following a subject: a drift with the bob of footsteps
            v = View(x=0.7 * s, y=0.5 * sway * aspect * math.sin(2 * math.pi * 1.8 * t))
        elif move == "handheld":  # two incommensurate sines per axis: a wobble that never visibly loops
            v = View(
                x=sway
                * (
                    0.6 * math.sin(2 * math.pi * 0.55 * t + 0.4)
                    + 0.4 * math.sin(2 * math.pi * 1.35 * t + 2.1)
                ),
                y=sway
                * aspect
                * (
                    0.6 * math.sin(2 * math.pi * 0.45 * t + 1.3) + 0.4 * math.sin(2 * math.pi * 1.7 * t + 0.2)
                ),
            )
        else:
            v = View()
        views.append(v)
    return views


def _picture_size(views: Sequence[View], w: int, h: int) -> tuple[int, int]:
    """The smallest picture around the frame that holds every view (margins even, for the chroma planes)."""
    mx = max(abs(v.x) * w + w / (2 * v.z) for v in views) - w / 2
    my = max(abs(v.y) * h + h / (2 * v.z) for v in views) - h / 2
    return w + 4 * math.ceil(mx / 2 - 1e-6), h + 4 * math.ceil(my / 2 - 1e-6)


def _box(v: View, picture: tuple[int, int], w: int, h: int) -> Box:
    pw, ph = picture
    bw, bh = w / v.z, h / v.z
    x0 = min(max(pw / 2 + v.x * w - bw / 2, 0.0), pw - bw)
    y0 = min(max(ph / 2 + v.y * h - bh / 2, 0.0), ph - bh)
    return (x0, y0, x0 + bw, y0 + bh)


def _camera(params: Mapping[str, Any]) -> tuple[str, str]:
    cam = params.get("camera")
    if isinstance(cam, str):
        return cam, "slow"
    if isinstance(cam, Mapping):
        return str(cam.get("move") or "static"), str(cam.get("speed") or "slow")
    return "static", "slow"


# ---------------------------------------------------------------------------------------------
# Text


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    # The basic layout engine: raqm may or may not be installed, and the pixels must not depend on it.
    return ImageFont.truetype(str(font_path()), max(size, 8), layout_engine=ImageFont.Layout.BASIC)


def _text(value: Any) -> str:
    """A param as one line of text, whatever shape it came in (missing → empty)."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        who, says, how = value.get("who"), value.get("says"), value.get("how")
        if says:
            return f'{who or ""}{f" ({how})" if how else ""}: "{says}"'.lstrip(": ")
        return " ".join(str(v) for v in value.values() if v)
    return " ".join(str(value).split())


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap; overlong words and lines past ``max_lines`` end in an ellipsis."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " …"
    return [_clip_line(line, font, width) for line in lines]


def _clip_line(line: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    if font.getlength(line) <= width:
        return line
    while line and font.getlength(line + "…") > width:
        line = line[:-1]
    return line.rstrip(" …") + "…"


def _lines(
    draw: ImageDraw.ImageDraw,
    lines: Sequence[str],
    font: ImageFont.FreeTypeFont,
    cx: float,
    top: float,
    fill: Color,
    leading: float = 1.25,
) -> float:
    """Draw lines centred on ``cx`` from ``top``; return the y below them."""
    step = font.size * leading
    for i, line in enumerate(lines):
        draw.text((cx, top + i * step), line, font=font, fill=fill, anchor="ma")
    return top + len(lines) * step


def _color(value: Any, default: Color) -> Color:
    try:
        rgb = ImageColor.getrgb(str(value))
    except ValueError:
        return default
    return (rgb[0], rgb[1], rgb[2])


# ---------------------------------------------------------------------------------------------
# Pictures: each is drawn at the picture size, with the frame at rest in its centre.


def _open_rgb(path: str, what: str, need: tuple[int, int]) -> Image.Image:
    """The image at ``path`` upright and in RGB (transparency over black), decoded at no less than ``need``."""
    try:
        with Image.open(path) as src:
            # A JPEG can decode at 1/2..1/8 scale for free; either side may end up as the width (EXIF).
            side = max(*need, 1)
            src.draft("RGB", (side, side))
            im: Image.Image = ImageOps.exif_transpose(src)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            im = Image.new("RGB", rgba.size)
            im.paste(rgba, mask=rgba.getchannel("A"))
        return im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise MediaError(f"{what} {path or '(no path)'}: cannot read the image ({exc})") from exc


def _source(image: MediaInput, what: str, size: tuple[int, int]) -> Image.Image:
    """An input picture; a frame taken from another shot's clip is cropped clear of the label and caption band.

    Without the crop a chained animatic would carry the upstream clip's caption and label inside its
    picture, under its own (the bands are drawn at the same places), and they would pile up along a chain.
    """
    im = _open_rgb(image.path, what, size)
    if image.frame is None:
        return im
    unit = min(im.width, im.height)
    return im.crop((0, round(unit * 0.08), im.width, im.height - round(unit * 0.2)))


def _cover(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``im`` scaled and centre-cropped to fill ``size``."""
    w, h = size
    scale = max(w / im.width, h / im.height)
    cw, ch = min(w / scale, im.width), min(h / scale, im.height)  # min: float noise must not leave the image
    box = ((im.width - cw) / 2, (im.height - ch) / 2, (im.width + cw) / 2, (im.height + ch) / 2)
    return im.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)


def _contain(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    scale = min(size[0] / im.width, size[1] / im.height)
    return im.resize(
        (max(1, round(im.width * scale)), max(1, round(im.height * scale))),
        Image.Resampling.BICUBIC,
        reducing_gap=3.0,
    )


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
    title = _text(params.get("title")) or _first_words(spec.prompt, 12) or spec.shot
    subtitle = _text(params.get("subtitle"))
    move, speed = _camera(params)
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
        font=_font(unit // 28),
        fill=(170, 170, 160),
        anchor="ra",
    )
    # Text sits in the upper two thirds: the caption band covers the bottom of the frame.
    y = y0 + (y1 - y0) * 0.17
    y = _lines(
        draw, _wrap(title, _font(unit // 12), width, 3), _font(unit // 12), cx, y, (245, 243, 235), 1.2
    )
    if subtitle:
        y = _lines(
            draw,
            _wrap(subtitle, _font(unit // 20), width, 2),
            _font(unit // 20),
            cx,
            y + unit * 0.02,
            (205, 205, 195),
        )
    icon = unit * 0.07
    iy = max(y + icon * 1.4, y0 + (y1 - y0) * 0.6)
    name = move.replace("-", " ").upper() + ("" if move == "static" else f" · {speed}")
    label = _font(unit // 26)
    total = 2 * icon + unit * 0.03 + label.getlength(name)
    ix = cx - total / 2 + icon
    _draw_move(draw, move, ix, iy, icon, (250, 200, 80), max(2, unit // 120))
    draw.text((ix + icon + unit * 0.03, iy), name, font=label, fill=(250, 200, 80), anchor="lm")
    return im


def _references(
    spec: ShotSpec, refs: Sequence[MediaInput], size: tuple[int, int], frame: tuple[int, int]
) -> Image.Image:
    """The ref2vid card: every reference image with its name, on a grid."""
    title = _text(spec.params.get("title")) or "References"
    im = _stage(size, frame, title)
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = _panel(draw, size, frame)
    unit = min(frame)
    pad = unit * 0.05
    head = _font(unit // 18)
    top = _lines(
        draw, _wrap(title, head, x1 - x0 - 2 * pad, 1), head, (x0 + x1) / 2, y0 + pad, (245, 243, 235)
    )
    # The grid fills the panel above the caption band; columns follow the panel's shape.
    bottom = y0 + (y1 - y0) * 0.74
    n = len(refs)
    cols = max(1, min(n, round(math.sqrt(n * (x1 - x0) / max(bottom - top, 1) / 1.2))))
    rows = math.ceil(n / cols)
    name_font = _font(unit // 30)
    cell_w = (x1 - x0 - 2 * pad) / cols
    cell_h = (bottom - top) / rows
    for i, ref in enumerate(refs):
        r, c = divmod(i, cols)
        in_row = min(cols, n - r * cols)
        cx = (x0 + x1) / 2 + (c - (in_row - 1) / 2) * cell_w
        cy = top + r * cell_h
        box_w, box_h = int(cell_w * 0.86), int(cell_h - name_font.size * 1.8)
        thumb = _contain(_open_rgb(ref.path, "reference", (box_w, box_h)), (max(box_w, 1), max(box_h, 1)))
        tx, ty = round(cx - thumb.width / 2), round(cy + (box_h - thumb.height) / 2)
        im.paste(thumb, (tx, ty))
        draw.rectangle(
            (tx - 1, ty - 1, tx + thumb.width, ty + thumb.height), outline=(214, 214, 206), width=1
        )
        name = ref.name or Path(ref.path).stem or f"ref {i + 1}"
        draw.text(
            (cx, ty + thumb.height + name_font.size * 0.4),
            _clip_line(name, name_font, cell_w * 0.95),
            font=name_font,
            fill=(235, 235, 225),
            anchor="ma",
        )
    return im


def _title_card(spec: ShotSpec, size: tuple[int, int]) -> Image.Image:
    """A card shot: title and subtitle centred on a colour."""
    card = spec.params.get("card")
    card = card if isinstance(card, Mapping) else {"title": card} if isinstance(card, str) else {}
    title = _text(card.get("title")) or _text(spec.params.get("title")) or _first_words(spec.prompt, 12)
    subtitle = _text(card.get("subtitle"))
    im = Image.new("RGB", size, _color(card.get("background"), (0, 0, 0)))
    color = _color(card.get("color"), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    unit = min(size)
    width = size[0] * 0.84
    big, small = _font(unit // 9), _font(unit // 18)
    title_lines = _wrap(title, big, width, 4)
    sub_lines = _wrap(subtitle, small, width, 3)
    height = len(title_lines) * big.size * 1.2 + (
        len(sub_lines) * small.size * 1.3 + unit * 0.04 if sub_lines else 0
    )
    y = _lines(draw, title_lines, big, size[0] / 2, (size[1] - height) / 2, color, 1.2)
    _lines(draw, sub_lines, small, size[0] / 2, y + unit * 0.04, color, 1.3)
    return im


def _first_words(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def _arrowhead(
    draw: ImageDraw.ImageDraw, tip: tuple[float, float], angle: float, size: float, fill: Color
) -> None:
    back = angle + math.pi
    pts = [tip] + [
        (tip[0] + size * math.cos(back + d), tip[1] + size * math.sin(back + d)) for d in (0.45, -0.45)
    ]
    draw.polygon(pts, fill=fill)


def _draw_move(
    draw: ImageDraw.ImageDraw, move: str, cx: float, cy: float, r: float, fill: Color, width: int
) -> None:
    """The camera move as an icon of radius ``r``: arrows for travel, corner arrows for zooms, an arc for orbits."""
    head = r * 0.45
    straight = {
        "pan-left": math.pi,
        "truck-left": math.pi,
        "pan-right": 0.0,
        "truck-right": 0.0,
        "tilt-up": -math.pi / 2,
        "pedestal-up": -math.pi / 2,
        "crane-up": -math.pi / 2,
        "tilt-down": math.pi / 2,
        "pedestal-down": math.pi / 2,
        "crane-down": math.pi / 2,
        "tracking": 0.0,
    }
    if move in straight:
        a = straight[move]
        dx, dy = math.cos(a) * r, math.sin(a) * r
        tip = (cx + dx, cy + dy)
        draw.line([(cx - dx, cy - dy), (tip[0] - dx * 0.3, tip[1] - dy * 0.3)], fill=fill, width=width)
        _arrowhead(draw, tip, a, head, fill)
        if move.startswith(("truck", "pedestal", "tracking", "crane")):  # the camera body travels: draw rails
            off = r * 0.45
            nx, ny = -math.sin(a) * off, math.cos(a) * off
            draw.line(
                [(cx - dx + nx, cy - dy + ny), (cx + dx * 0.6 + nx, cy + dy * 0.6 + ny)], fill=fill, width=1
            )
    elif move in ("dolly-in", "dolly-out", "zoom-in", "zoom-out"):
        inward = move.endswith("-in")
        inner = r * 0.35
        draw.rectangle(
            (cx - inner, cy - inner * 0.7, cx + inner, cy + inner * 0.7), outline=fill, width=width
        )
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            outer = (cx + sx * r, cy + sy * r * 0.8)
            near = (cx + sx * inner * 1.25, cy + sy * inner * 0.95)
            start, end = (outer, near) if inward else (near, outer)
            draw.line([start, end], fill=fill, width=width)
            _arrowhead(draw, end, math.atan2(end[1] - start[1], end[0] - start[0]), head * 0.7, fill)
    elif move in ("orbit-left", "orbit-right"):
        box = (cx - r, cy - r * 0.5, cx + r, cy + r * 0.5)
        draw.arc(box, 200, 340, fill=fill, width=width)
        draw.ellipse((cx - r * 0.15, cy - r * 0.15, cx + r * 0.15, cy + r * 0.15), fill=fill)
        end_deg = 200 if move == "orbit-left" else 340
        tip = (cx + r * math.cos(math.radians(end_deg)), cy + r * 0.5 * math.sin(math.radians(end_deg)))
        _arrowhead(draw, tip, math.pi * 0.62 if move == "orbit-left" else math.pi * 0.38, head, fill)
    elif move == "handheld":
        pts = [
            (cx - r + 2 * r * k / 16, cy + r * 0.35 * math.sin(k * 1.7) * math.cos(k * 0.6))
            for k in range(17)
        ]
        draw.line(pts, fill=fill, width=width, joint="curve")
    else:  # static: a locked-off frame
        draw.ellipse((cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8), outline=fill, width=width)
        draw.line([(cx - r, cy), (cx + r, cy)], fill=fill, width=max(1, width // 2))
        draw.line([(cx, cy - r), (cx, cy + r)], fill=fill, width=max(1, width // 2))


def _picture(spec: ShotSpec, size: tuple[int, int], frame: tuple[int, int]) -> Image.Image:
    """What the camera looks at, by mode; anything missing falls back to the storyboard card."""
    if spec.mode == "card":
        return _title_card(spec, size)
    image = spec.input("image")
    refs = [i for i in spec.inputs if i.role == "ref"]
    if image is not None and (spec.mode != "ref2vid" or not refs):
        return _cover(_source(image, "source image", size), size)
    if refs:
        return _references(spec, refs, size, frame)
    return _storyboard(spec, size, frame)


def _overlay(spec: ShotSpec, w: int, h: int) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """The fixed layer over every frame: the ANIMATIC label and the caption; with the boxes it covers."""
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    unit = min(w, h)
    boxes = []
    small = _font(max(unit // 34, 9))
    label = _clip_line(f"ANIMATIC · {spec.shot}", small, w * 0.6)
    pad = max(4, round(small.size * 0.45))
    lw = round(small.getlength(label))
    box = _even_box(pad, pad, pad + lw + 2 * pad, pad + small.size + 2 * pad, w, h)
    draw.rectangle(box, fill=(0, 0, 0, 150))
    draw.text(
        (box[0] + pad, (box[1] + box[3]) / 2), label, font=small, fill=(255, 255, 255, 255), anchor="lm"
    )
    boxes.append(box)

    caption = _text(spec.params.get("caption")) or _first_words(spec.prompt, 18)
    dialogue = _text(spec.params.get("dialogue"))
    font = _font(max(unit // 24, 10))
    width = w * 0.9
    lines = [(line, (255, 255, 255)) for line in _wrap(caption, font, width, 2 if dialogue else 3)]
    lines += [(line, (255, 214, 102)) for line in _wrap(dialogue, font, width, 2)]
    if lines:
        step = font.size * 1.3
        height = len(lines) * step + font.size * 0.8
        box = _even_box(0, h - height, w, h, w, h)
        draw.rectangle(box, fill=(0, 0, 0, 165))
        for i, (line, fill) in enumerate(lines):
            draw.text(
                (w / 2, box[1] + font.size * 0.4 + i * step), line, font=font, fill=(*fill, 255), anchor="ma"
            )
        boxes.append(box)
    return layer, boxes


def _even_box(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> tuple[int, int, int, int]:
    """A box on even pixels inside the frame, so that it covers whole chroma samples."""

    def down(v: float, lim: int) -> int:
        return min(max(int(v) // 2 * 2, 0), lim)

    def up(v: float, lim: int) -> int:
        return min(max(math.ceil(v / 2) * 2, 0), lim)

    return down(x0, w), down(y0, h), up(x1, w), up(y1, h)


# ---------------------------------------------------------------------------------------------
# Frames in YUV


@dataclass(frozen=True)
class _Planes:
    """A picture as limited-range BT.709 planes: full-size luma, half-size chroma (yuv420p)."""

    y: Image.Image
    u: Image.Image
    v: Image.Image

    @classmethod
    def of(cls, rgb: Image.Image) -> _Planes:
        y, u, v = rgb.convert("RGB", _BT709).split()
        return cls(y, u.reduce(2), v.reduce(2))


@dataclass(frozen=True)
class _Patch:
    """One box of the overlay, ready to paste on the planes of a frame."""

    at: tuple[int, int]
    planes: _Planes
    alpha: Image.Image
    alpha_half: Image.Image

    @classmethod
    def cut(cls, layer: Image.Image, box: tuple[int, int, int, int]) -> _Patch:
        part = layer.crop(box)
        alpha = part.getchannel("A")
        return cls((box[0], box[1]), _Planes.of(part.convert("RGB")), alpha, alpha.reduce(2))

    def paste(self, y: Image.Image, u: Image.Image, v: Image.Image) -> None:
        x0, y0 = self.at
        y.paste(self.planes.y, (x0, y0), self.alpha)
        u.paste(self.planes.u, (x0 // 2, y0 // 2), self.alpha_half)
        v.paste(self.planes.v, (x0 // 2, y0 // 2), self.alpha_half)


def _sample(
    plane: Image.Image, box: Box, size: tuple[int, int], toward: Image.Image | None, fade: float
) -> Image.Image:
    """The part of ``plane`` under ``box`` at ``size`` (bilinear, sub-pixel), faded ``fade`` toward ``toward``."""
    x0, y0, x1, y1 = box
    fading = toward is not None and fade > 0
    if abs(x1 - x0 - size[0]) < 1e-6 and abs(y1 - y0 - size[1]) < 1e-6:
        out = _shift(plane, x0, y0, size)
        return _mix(out, _shift(toward, x0, y0, size), fade) if toward is not None and fading else out
    if toward is None or not fading:
        return plane.resize(size, Image.Resampling.BILINEAR, box=box)
    region = (
        max(0, math.floor(x0) - 2),
        max(0, math.floor(y0) - 2),  # the filter's reach around the box
        min(plane.width, math.ceil(x1) + 2),
        min(plane.height, math.ceil(y1) + 2),
    )
    mixed = _mix(plane.crop(region), toward.crop(region), fade)
    return mixed.resize(
        size, Image.Resampling.BILINEAR, box=(x0 - region[0], y0 - region[1], x1 - region[0], y1 - region[1])
    )


def _shift(plane: Image.Image, x: float, y: float, size: tuple[int, int]) -> Image.Image:
    """``plane`` moved by a sub-pixel offset at 1:1: bilinear interpolation as mixes of whole-pixel crops,
    cheaper than resampling (a still frame is a plain crop, a pan or tilt one mix)."""
    ix, iy = math.floor(x), math.floor(y)
    fx, fy = x - ix, y - iy
    w, h = size

    def row(dy: int) -> Image.Image:
        left = plane.crop((ix, iy + dy, ix + w, iy + dy + h))
        return _mix(left, plane.crop((ix + 1, iy + dy, ix + 1 + w, iy + dy + h)), fx) if fx > 1e-9 else left

    return _mix(row(0), row(1), fy) if fy > 1e-9 else row(0)


def _mix(own: Image.Image, other: Image.Image, f: float) -> Image.Image:
    """``own`` (a fresh image, changed in place) moved ``f`` of the way toward ``other``. A paste through a
    flat mask is integer arithmetic with rounding: faster than ``Image.blend``'s float, which truncates."""
    own.paste(other, (0, 0), Image.new("L", own.size, round(f * 255)))
    return own


@dataclass
class _Frames:
    """Everything needed to produce frame ``i`` as raw yuv420p bytes."""

    size: tuple[int, int]
    boxes: list[Box]
    fades: list[float]
    picture: _Planes
    end: _Planes | None
    patches: list[_Patch] = field(default_factory=list)

    def key(self, i: int) -> tuple[Box, float]:
        return self.boxes[i], self.fades[i]

    def render(self, i: int) -> tuple[bytes, bytes, bytes]:
        (w, h), box, fade = self.size, self.boxes[i], self.fades[i]
        half = (box[0] / 2, box[1] / 2, box[2] / 2, box[3] / 2)
        end = self.end
        y = _sample(self.picture.y, box, (w, h), end.y if end else None, fade)
        u = _sample(self.picture.u, half, (w // 2, h // 2), end.u if end else None, fade)
        v = _sample(self.picture.v, half, (w // 2, h // 2), end.v if end else None, fade)
        for patch in self.patches:
            patch.paste(y, u, v)
        return y.tobytes(), u.tobytes(), v.tobytes()

    def stream(self, workers: int = 2, ahead: int = 4) -> Generator[tuple[bytes, bytes, bytes], None, None]:
        """Frames in order, rendered ``ahead`` at a time by ``workers`` threads (Pillow releases the GIL)."""
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[Future[tuple[bytes, bytes, bytes]]] = deque()
            last: tuple[tuple[Box, float], Future[tuple[bytes, bytes, bytes]]] | None = None
            for i in range(len(self.boxes)):
                key = self.key(i)
                if last is not None and last[0] == key:  # a still stretch: the same frame again, for free
                    pending.append(last[1])
                else:
                    last = (key, pool.submit(self.render, i))
                    pending.append(last[1])
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


# ---------------------------------------------------------------------------------------------
# The clip


def render_animatic(spec: ShotSpec, dest: Path, progress: Callable[[float], None] | None = None) -> None:
    """Render ``spec`` as a previz MP4 at ``dest`` (written atomically).

    Exactly ``round(duration × fps)`` frames of ``width``×``height`` H.264 yuv420p at ``fps``, an AAC
    48 kHz stereo track of silence, ``+faststart``; the same spec gives the same bytes. ``progress``
    gets 0..1; an exception raised from it stops the render (nothing is left at ``dest``).
    """
    w, h, fps = spec.width, spec.height, spec.fps
    if w < 2 or h < 2 or w % 2 or h % 2 or fps < 1:
        raise MediaError(f"{spec.shot}: cannot render {w}x{h} at {fps} fps (yuv420p needs even sizes)")
    count = max(1, round(spec.duration * fps))
    if spec.mode == "card":
        views = [View()] * count
    else:
        move, speed = _camera(spec.params)
        views = camera_path(move, speed, fps, count, aspect=w / h)
    size = _picture_size(views, w, h)
    picture = _Planes.of(_picture(spec, size, (w, h)))
    end_input = spec.input("end_image") if spec.mode != "card" else None
    end = _Planes.of(_cover(_source(end_input, "end image", size), size)) if end_input else None
    fades = [0.0] * count
    if (
        end is not None and count > 1
    ):  # smoothstep: the first frame is the start image, the last the end image
        fades = [(u := i / (count - 1)) * u * (3 - 2 * u) for i in range(count)]
    patches = []
    if spec.mode != "card":
        layer, boxes = _overlay(spec, w, h)
        patches = [_Patch.cut(layer, box) for box in boxes]
    frames = _Frames((w, h), [_box(v, size, w, h) for v in views], fades, picture, end, patches)
    with contextlib.closing(frames.stream()) as stream:  # on failure, stop the workers now, not at GC
        _encode(stream, count, spec, dest, progress)


def _encode(
    frames: Iterator[tuple[bytes, bytes, bytes]],
    count: int,
    spec: ShotSpec,
    dest: Path,
    progress: Callable[[float], None] | None,
) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp.mp4")
    # The frames are tagged as what they are (limited-range BT.709) on the way in as well as on the way
    # out: tags on the output alone make ffmpeg insert a conversion pass that doubles its CPU time.
    bt709 = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        f"{spec.width}x{spec.height}",
        "-framerate",
        str(spec.fps),
        *bt709,
        "-i",
        "pipe:0",
        "-f",
        "lavfi",
        "-t",
        f"{count / spec.fps:.6f}",
        "-i",
        "anullsrc=r=48000:cl=stereo",
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-frames:v",
        str(count),
        # x264's output depends on its thread count, so it is fixed, not left to the machine's cores. A
        # constant quantiser, not CRF: with CRF the P-frames of a still keep refining the first frame, a
        # visible "breathing" (and the files are larger).
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "23",
        "-threads",
        "2",
        "-g",
        str(2 * spec.fps),
        "-pix_fmt",
        "yuv420p",
        *bt709,
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-ar",
        "48000",
        "-ac",
        "2",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(tmp),
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        assert proc.stdin is not None
        try:
            try:
                for i, planes in enumerate(frames):
                    for plane in planes:
                        proc.stdin.write(plane)
                    if progress is not None and i % 8 == 0:
                        progress(0.97 * i / count)
                proc.stdin.close()
            except BrokenPipeError:  # ffmpeg stopped reading: its exit status and message say why
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            if proc.wait() != 0:
                log.seek(0)
                message = log.read().decode("utf-8", "replace").strip().splitlines()[-4:]
                raise MediaError(
                    f"{spec.shot}: the animatic encode failed: {' '.join(message) or 'no message'}"
                )
            os.replace(tmp, dest)
        except BaseException:
            proc.kill()
            proc.wait()
            tmp.unlink(missing_ok=True)
            raise
    if progress is not None:
        progress(1.0)


# ---------------------------------------------------------------------------------------------
# The backend


class _Cancelled(Exception):
    """Raised from a render's progress callback when the backend is closed."""


@dataclass
class _Job:
    task: asyncio.Task[None] | None = None
    started: bool = False
    progress: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)

    def report(self, fraction: float) -> None:
        if self.cancel.is_set():
            raise _Cancelled("the animatic backend was closed")
        self.progress = fraction


class AnimaticBackend:
    """The offline backend: renders each job in a worker thread into ``workdir/<job id>/clip.mp4``.

    The job id is the spec's take key. The spec is saved beside the clip, so a job submitted before a
    restart is rendered again on ``poll``/``fetch`` (it is free and deterministic). ``fetch`` hands the
    clip over and deletes it, so the work folder does not keep a second copy of every take; a later
    poll or fetch of the same job renders it again. ``parallel`` limits renders at once (each already
    keeps about two cores busy).
    """

    name = "animatic"
    poll_interval: float | None = None

    def __init__(self, workdir: Path, *, parallel: int | None = None) -> None:
        self.workdir = workdir
        self._limit = asyncio.Semaphore(parallel or max(1, (os.cpu_count() or 2) // 2))
        self._jobs: dict[str, _Job] = {}

    def _clip(self, job_id: str) -> Path:
        return self.workdir / job_id / "clip.mp4"

    async def submit(self, spec: ShotSpec) -> str:
        job_id = spec.take_key()
        job = self._jobs.get(job_id)
        if job is not None and (job.task is None or not job.task.done() or job.task.exception() is None):
            return job_id
        await asyncio.to_thread(_save_spec, self.workdir / job_id / "spec.json", spec)
        self._start(job_id, spec)
        return job_id

    async def poll(self, job_id: str) -> JobStatus:
        job = await self._job(job_id)
        if job is None:
            if self._clip(job_id).is_file():
                return JobStatus(JobState.SUCCEEDED, progress=1.0, cost=0.0)
            return JobStatus(JobState.FAILED, message=f"unknown animatic job {job_id}")
        assert job.task is not None
        if not job.task.done():
            return JobStatus(JobState.RUNNING if job.started else JobState.QUEUED, progress=job.progress)
        if job.task.cancelled():
            return JobStatus(JobState.FAILED, message="cancelled")
        exc = job.task.exception()
        if exc is not None:
            return JobStatus(JobState.FAILED, message=str(exc) or type(exc).__name__)
        return JobStatus(JobState.SUCCEEDED, progress=1.0, cost=0.0)

    async def fetch(self, job_id: str, dest: Path) -> None:
        job = await self._job(job_id)
        if job is not None and job.task is not None:
            try:
                await asyncio.shield(job.task)
            except Exception as exc:
                raise BackendError(f"animatic job {job_id} failed: {exc or type(exc).__name__}") from exc
        clip = self._clip(job_id)
        if not clip.is_file():
            raise BackendError(f"unknown animatic job {job_id}")
        await asyncio.to_thread(shutil.copyfile, clip, dest)
        clip.unlink()
        self._jobs.pop(job_id, None)

    async def aclose(self) -> None:
        """Stop renders in progress (at their next frame) and wait for their threads."""
        for job in self._jobs.values():
            job.cancel.set()
        tasks = [j.task for j in self._jobs.values() if j.task is not None and not j.task.done()]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _job(self, job_id: str) -> _Job | None:
        """The job in this process, or one restarted from its saved spec (None if there is nothing to render)."""
        job = self._jobs.get(job_id)
        if job is not None or self._clip(job_id).is_file():
            return job
        spec = await asyncio.to_thread(_load_spec, self.workdir / job_id / "spec.json")
        if spec is None or spec.take_key() != job_id:
            return None
        return self._start(job_id, spec)

    def _start(self, job_id: str, spec: ShotSpec) -> _Job:
        job = _Job()
        job.task = asyncio.create_task(self._render(job, spec, self._clip(job_id)))
        self._jobs[job_id] = job
        return job

    async def _render(self, job: _Job, spec: ShotSpec, clip: Path) -> None:
        async with self._limit:
            job.started = True
            if not clip.is_file():
                job.report(0.0)
                await asyncio.to_thread(render_animatic, spec, clip, job.report)
            job.progress = 1.0


def _save_spec(path: Path, spec: ShotSpec) -> None:
    data = asdict(spec) | {"params": dict(spec.params)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _load_spec(path: Path) -> ShotSpec | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["inputs"] = tuple(MediaInput(**i) for i in data["inputs"])
        return ShotSpec(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None
