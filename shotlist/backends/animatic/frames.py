"""The animatic's frames as raw yuv420p: the camera's view of the picture, sampled in YUV, made ahead in threads.

Speed comes from doing the per-frame work in YUV: the picture is converted to BT.709 planes once;
each frame samples only the luma plane and the two quarter-size chroma planes (bilinear, at
sub-pixel positions, so slow moves glide instead of stepping).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image

from shotlist.backends.animatic.camera import Box

#: One frame: the Y, U and V planes' bytes.
Frame = tuple[bytes, bytes, bytes]

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


@dataclass(frozen=True)
class Planes:
    """A picture as limited-range BT.709 planes: full-size luma, half-size chroma (yuv420p)."""

    y: Image.Image
    u: Image.Image
    v: Image.Image

    @classmethod
    def of(cls, rgb: Image.Image) -> Planes:
        y, u, v = rgb.convert("RGB", _BT709).split()
        return cls(y, u.reduce(2), v.reduce(2))


@dataclass(frozen=True)
class Patch:
    """One box of the overlay, ready to paste on the planes of a frame."""

    at: tuple[int, int]
    planes: Planes
    alpha: Image.Image
    alpha_half: Image.Image

    @classmethod
    def cut(cls, layer: Image.Image, box: tuple[int, int, int, int]) -> Patch:
        part = layer.crop(box)
        alpha = part.getchannel("A")
        return cls((box[0], box[1]), Planes.of(part.convert("RGB")), alpha, alpha.reduce(2))

    def paste(self, y: Image.Image, u: Image.Image, v: Image.Image) -> None:
        x0, y0 = self.at
        y.paste(self.planes.y, (x0, y0), self.alpha)
        u.paste(self.planes.u, (x0 // 2, y0 // 2), self.alpha_half)
        v.paste(self.planes.v, (x0 // 2, y0 // 2), self.alpha_half)


@dataclass
class Frames:
    """Everything needed to produce frame ``i`` as raw yuv420p bytes."""

    size: tuple[int, int]
    boxes: list[Box]
    fades: list[float]
    picture: Planes
    end: Planes | None
    patches: list[Patch] = field(default_factory=list)

    def key(self, i: int) -> tuple[Box, float]:
        return self.boxes[i], self.fades[i]

    def render(self, i: int) -> Frame:
        (w, h), box, fade = self.size, self.boxes[i], self.fades[i]
        half = (box[0] / 2, box[1] / 2, box[2] / 2, box[3] / 2)
        end = self.end
        y = _sample(self.picture.y, box, (w, h), end.y if end else None, fade)
        u = _sample(self.picture.u, half, (w // 2, h // 2), end.u if end else None, fade)
        v = _sample(self.picture.v, half, (w // 2, h // 2), end.v if end else None, fade)
        for patch in self.patches:
            patch.paste(y, u, v)
        return y.tobytes(), u.tobytes(), v.tobytes()

    def stream(self, workers: int = 2, ahead: int = 4) -> Generator[Frame, None, None]:
        """Frames in order, rendered ``ahead`` at a time by ``workers`` threads (Pillow releases the GIL)."""
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[Future[Frame]] = deque()
            last: tuple[tuple[Box, float], Future[Frame]] | None = None
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
