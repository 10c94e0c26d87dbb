"""The camera move drawn as an icon on the storyboard card: arrows for travel, corners for zooms, an arc for orbits."""

from __future__ import annotations

import math

from PIL import ImageDraw

from shotlist.backends.animatic.lettering import Color

#: The direction of each straight move's arrow (radians; y points down).
_STRAIGHT = {
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
_ZOOMS = ("dolly-in", "dolly-out", "zoom-in", "zoom-out")
_ORBITS = ("orbit-left", "orbit-right")


def draw_move(
    draw: ImageDraw.ImageDraw, move: str, cx: float, cy: float, r: float, fill: Color, width: int
) -> None:
    """The camera move as an icon of radius ``r`` centred on (``cx``, ``cy``); an unknown move is static."""
    if move in _STRAIGHT:
        _travel(draw, move, cx, cy, r, fill, width)
    elif move in _ZOOMS:
        _zoom(draw, move.endswith("-in"), cx, cy, r, fill, width)
    elif move in _ORBITS:
        _orbit(draw, move == "orbit-left", cx, cy, r, fill, width)
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


def _travel(
    draw: ImageDraw.ImageDraw, move: str, cx: float, cy: float, r: float, fill: Color, width: int
) -> None:
    """An arrow; rails beside it when the camera body travels (truck, pedestal, tracking, crane)."""
    a = _STRAIGHT[move]
    dx, dy = math.cos(a) * r, math.sin(a) * r
    tip = (cx + dx, cy + dy)
    draw.line([(cx - dx, cy - dy), (tip[0] - dx * 0.3, tip[1] - dy * 0.3)], fill=fill, width=width)
    _arrowhead(draw, tip, a, r * 0.45, fill)
    if move.startswith(("truck", "pedestal", "tracking", "crane")):
        off = r * 0.45
        nx, ny = -math.sin(a) * off, math.cos(a) * off
        draw.line(
            [(cx - dx + nx, cy - dy + ny), (cx + dx * 0.6 + nx, cy + dy * 0.6 + ny)], fill=fill, width=1
        )


def _zoom(
    draw: ImageDraw.ImageDraw, inward: bool, cx: float, cy: float, r: float, fill: Color, width: int
) -> None:
    """A frame with an arrow at each corner, pointing in (dolly-in, zoom-in) or out."""
    inner = r * 0.35
    draw.rectangle((cx - inner, cy - inner * 0.7, cx + inner, cy + inner * 0.7), outline=fill, width=width)
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        outer = (cx + sx * r, cy + sy * r * 0.8)
        near = (cx + sx * inner * 1.25, cy + sy * inner * 0.95)
        start, end = (outer, near) if inward else (near, outer)
        draw.line([start, end], fill=fill, width=width)
        _arrowhead(draw, end, math.atan2(end[1] - start[1], end[0] - start[0]), r * 0.45 * 0.7, fill)


def _orbit(
    draw: ImageDraw.ImageDraw, left: bool, cx: float, cy: float, r: float, fill: Color, width: int
) -> None:
    """An arc around a dot (the subject), with an arrowhead at the end it travels to."""
    box = (cx - r, cy - r * 0.5, cx + r, cy + r * 0.5)
    draw.arc(box, 200, 340, fill=fill, width=width)
    draw.ellipse((cx - r * 0.15, cy - r * 0.15, cx + r * 0.15, cy + r * 0.15), fill=fill)
    end_deg = 200 if left else 340
    tip = (cx + r * math.cos(math.radians(end_deg)), cy + r * 0.5 * math.sin(math.radians(end_deg)))
    _arrowhead(draw, tip, math.pi * 0.62 if left else math.pi * 0.38, r * 0.45, fill)


def _arrowhead(
    draw: ImageDraw.ImageDraw, tip: tuple[float, float], angle: float, size: float, fill: Color
) -> None:
    back = angle + math.pi
    pts = [tip] + [
        (tip[0] + size * math.cos(back + d), tip[1] + size * math.sin(back + d)) for d in (0.45, -0.45)
    ]
    draw.polygon(pts, fill=fill)
