"""One animatic clip: a ShotSpec rendered to a previz MP4 (picture, camera path, overlay, frames, encode)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from shotlist.backends.animatic.camera import View, camera_of, camera_path, picture_size, view_box
from shotlist.backends.animatic.cards import picture
from shotlist.backends.animatic.encode import encode
from shotlist.backends.animatic.frames import Frames, Patch, Planes
from shotlist.backends.animatic.images import cover, source
from shotlist.backends.animatic.overlay import overlay
from shotlist.media import MediaError
from shotlist.spec import ShotSpec


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
        move, speed = camera_of(spec.params)
        views = camera_path(move, speed, fps, count, aspect=w / h)
    size = picture_size(views, w, h)
    start = Planes.of(picture(spec, size, (w, h)))
    end_input = spec.input("end_image") if spec.mode != "card" else None
    end = Planes.of(cover(source(end_input, "end image", size), size)) if end_input else None
    fades = [0.0] * count
    if (
        end is not None and count > 1
    ):  # smoothstep: the first frame is the start image, the last the end image
        fades = [(u := i / (count - 1)) * u * (3 - 2 * u) for i in range(count)]
    patches = []
    if spec.mode != "card":
        layer, boxes = overlay(spec, w, h)
        patches = [Patch.cut(layer, box) for box in boxes]
    frames = Frames((w, h), [view_box(v, size, w, h) for v in views], fades, start, end, patches)
    with contextlib.closing(frames.stream()) as stream:  # on failure, stop the workers now, not at GC
        encode(stream, count, spec, dest, progress)
