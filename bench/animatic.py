"""Benchmark: how much faster than realtime the animatic renders a 5 s, 24 fps shot.

    python bench/animatic.py [--repeat 3] [--moves pan-left dolly-in] [--seconds 5]

Prints, per resolution, mode and camera move, the best wall time of ``--repeat`` runs, the realtime
factor (clip seconds / wall seconds; the target is >= 4x at 720p on the reference 2-core machine) and
the CPU seconds spent (Python and ffmpeg together), which is steadier than wall time on a busy machine.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from shotlist.backends.animatic import render_animatic
from shotlist.spec import MediaInput, ShotSpec

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def test_image(path: Path) -> Path:
    """A photo-like 1920x1080 picture: a sky gradient, soft hills, hard-edged shapes (seeded, so stable)."""
    rng = random.Random(7)
    im = Image.linear_gradient("L").resize((1920, 1080)).convert("RGB")
    im = Image.merge("RGB", [im.getchannel(0).point(lambda v, k=k: int(40 + v * k)) for k in (0.5, 0.6, 0.8)])
    draw = ImageDraw.Draw(im)
    for _ in range(60):
        x, y, r = rng.randrange(1920), rng.randrange(300, 1080), rng.randrange(20, 160)
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256))
        )
    im = im.filter(ImageFilter.GaussianBlur(3))
    draw = ImageDraw.Draw(im)
    for _ in range(200):
        x, y = rng.randrange(1920), rng.randrange(1080)
        draw.rectangle(
            (x, y, x + rng.randrange(4, 40), y + rng.randrange(4, 40)), outline=(250, 250, 240), width=2
        )
    im.save(path)
    return path


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def spec(mode: str, move: str, size: tuple[int, int], seconds: float, image: Path) -> ShotSpec:
    inputs: tuple[MediaInput, ...] = ()
    if mode == "img2vid":
        inputs = (
            MediaInput(
                "image",
                hashlib.sha256(image.read_bytes()).hexdigest(),
                *Image.open(image).size,
                path=str(image),
            ),
        )
    params = {
        "camera": {"move": move, "speed": "medium"},
        "title": "A kitsune mask",
        "subtitle": "rests on moss-covered stone",
        "caption": "Close-up, low angle: a kitsune mask rests on moss-covered stone in a misty forest",
        "dialogue": 'mika (whispers softly): "Hey, I missed you"',
    }
    return ShotSpec(
        shot="bench",
        backend="animatic",
        model="animatic",
        mode=mode,
        prompt="a kitsune mask",
        duration=seconds,
        width=size[0],
        height=size[1],
        aspect="16:9",
        fps=24,
        inputs=inputs,
        params=params,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--moves", nargs="+", default=["static", "pan-left", "dolly-in", "handheld"])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        image = test_image(Path(tmp) / "photo.png")
        out = Path(tmp) / "clip.mp4"
        render_animatic(
            spec("txt2vid", "static", (320, 180), 0.5, image), out
        )  # warm up: font, ffmpeg on disk
        print(f"{'size':6} {'mode':8} {'move':10} {'wall s':>7} {'x realtime':>10} {'cpu s':>6}")
        worst_720 = float("inf")
        for label in args.sizes:
            for mode in ("txt2vid", "img2vid"):
                for move in args.moves:
                    walls, cpus = [], []
                    for _ in range(args.repeat):
                        c, t = cpu_seconds(), time.perf_counter()
                        render_animatic(spec(mode, move, SIZES[label], args.seconds, image), out)
                        walls.append(time.perf_counter() - t)
                        cpus.append(cpu_seconds() - c)
                    factor = args.seconds / min(walls)
                    if label == "720p":
                        worst_720 = min(worst_720, factor)
                    print(
                        f"{label:6} {mode:8} {move:10} {min(walls):7.3f} {factor:9.2f}x {min(cpus):6.2f}",
                        flush=True,
                    )
    if worst_720 != float("inf"):
        print(f"720p worst case: {worst_720:.2f}x realtime (target >= 4x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
