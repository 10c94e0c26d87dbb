"""The animatic's virtual camera: where it looks at each frame, at sub-pixel positions.

The picture is drawn 1:1 for the camera's widest view, so a pan or a wobble is a blend of whole-pixel
crops, a still frame is a plain crop, and only zooms resample (upsampling, never by more than
``MAX_ZOOM``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Speed multipliers of the moves' rates.
SPEEDS = {"slow": 1.0, "medium": 2.0, "fast": 3.5}
TRAVEL_PER_S = 0.03  # pans, tilts, trucks: frame widths (or heights) per second at "slow"
ZOOM_PER_S = 0.03  # dollies: growth of the magnification per second at "slow"; a zoom lens goes 1.5×
MAX_TRAVEL = 0.5
MAX_ZOOM = 1.6  # beyond this the picture, drawn 1:1 for the widest view, would be visibly soft
WOBBLE = 0.004  # handheld sway in frame widths at "slow"

#: A region of the picture: left, top, right, bottom in (fractional) pixels.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class View:
    """Where the camera looks: the frame centre's offset from the picture centre (in frame widths
    and heights) and the magnification (1 = the widest view of the shot, drawn 1:1)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 1.0


@dataclass(frozen=True)
class _Reach:
    """How far one clip's move goes: travel, dolly and lens magnification, handheld sway."""

    travel: float
    dolly: float
    lens: float
    sway: float
    aspect: float


def camera_path(move: str, speed: str, fps: int, frames: int, aspect: float = 16 / 9) -> list[View]:
    """The camera's view at each frame; an unknown move is ``static``. ``aspect`` = width / height."""
    rate = SPEEDS.get(speed, 1.0)
    duration = frames / fps
    reach = _Reach(
        travel=min(TRAVEL_PER_S * rate * duration, MAX_TRAVEL),
        dolly=min(ZOOM_PER_S * rate * duration, MAX_ZOOM - 1),
        lens=min(1.5 * ZOOM_PER_S * rate * duration, MAX_ZOOM - 1),
        sway=WOBBLE * rate,
        aspect=aspect,
    )
    views = []
    for i in range(frames):
        u = i / (frames - 1) if frames > 1 else 0.0
        p = 0.5 * u + 0.25 * (1 - math.cos(math.pi * u))  # half linear, half eased: starts and lands softly
        views.append(_view(move, p, i / fps, reach))  # the handheld sway runs in real time
    return views


def _view(move: str, p: float, t: float, reach: _Reach) -> View:
    """The view at progress ``p`` (0..1, eased) and time ``t`` (seconds) of ``move``."""
    s = (p - 0.5) * reach.travel
    dolly, lens, sway, aspect = reach.dolly, reach.lens, reach.sway, reach.aspect
    if move in ("pan-right", "truck-right"):
        return View(x=s)
    if move in ("pan-left", "truck-left"):
        return View(x=-s)
    if move in ("tilt-down", "pedestal-down"):
        return View(y=s)
    if move in ("tilt-up", "pedestal-up"):
        return View(y=-s)
    if move == "crane-up":  # rising: the view climbs and widens
        return View(y=-s, z=1 + dolly / 2 * (1 - p))
    if move == "crane-down":
        return View(y=s, z=1 + dolly / 2 * p)
    if move == "dolly-in":
        return View(z=1 + dolly * p)
    if move == "dolly-out":
        return View(z=1 + dolly * (1 - p))
    if move == "zoom-in":
        return View(z=1 + lens * p)
    if move == "zoom-out":
        return View(z=1 + lens * (1 - p))
    if move in ("orbit-left", "orbit-right"):  # circling the subject: the scene drifts, the subject nears
        return View(x=0.6 * (s if move == "orbit-right" else -s), z=1 + dolly * 0.3 * p)
    if move == "tracking":  # following a subject: a drift with the bob of footsteps
        return View(x=0.7 * s, y=0.5 * sway * aspect * math.sin(2 * math.pi * 1.8 * t))
    if move == "handheld":  # two incommensurate sines per axis: a wobble that never visibly loops
        return View(
            x=sway
            * (0.6 * math.sin(2 * math.pi * 0.55 * t + 0.4) + 0.4 * math.sin(2 * math.pi * 1.35 * t + 2.1)),
            y=sway
            * aspect
            * (0.6 * math.sin(2 * math.pi * 0.45 * t + 1.3) + 0.4 * math.sin(2 * math.pi * 1.7 * t + 0.2)),
        )
    return View()


def picture_size(views: Sequence[View], w: int, h: int) -> tuple[int, int]:
    """The smallest picture around the frame that holds every view (margins even, for the chroma planes)."""
    mx = max(abs(v.x) * w + w / (2 * v.z) for v in views) - w / 2
    my = max(abs(v.y) * h + h / (2 * v.z) for v in views) - h / 2
    return w + 4 * math.ceil(mx / 2 - 1e-6), h + 4 * math.ceil(my / 2 - 1e-6)


def view_box(v: View, picture: tuple[int, int], w: int, h: int) -> Box:
    """The part of a ``picture``-sized picture that a ``w``×``h`` frame shows at view ``v``."""
    pw, ph = picture
    bw, bh = w / v.z, h / v.z
    x0 = min(max(pw / 2 + v.x * w - bw / 2, 0.0), pw - bw)
    y0 = min(max(ph / 2 + v.y * h - bh / 2, 0.0), ph - bh)
    return (x0, y0, x0 + bw, y0 + bh)


def camera_of(params: Mapping[str, Any]) -> tuple[str, str]:
    """The move and speed in a spec's ``camera`` param (a name or ``{move, speed}``); static, slow if none."""
    cam = params.get("camera")
    if isinstance(cam, str):
        return cam, "slow"
    if isinstance(cam, Mapping):
        return str(cam.get("move") or "static"), str(cam.get("speed") or "slow")
    return "static", "slow"
