"""Draw every picture and synthesise every sound the example projects use.

Run from anywhere: ``python projects/make_assets.py``. The output is deterministic (no randomness,
no fonts from the system), so the files in projects/*/assets/ can be regenerated and compared.
Everything here is original work released as CC0, which is what the projects' READMEs record.
"""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
RATE = 48_000

YELLOW = (242, 196, 32)
YELLOW_SHADE = (204, 158, 18)
SKIN = (236, 200, 170)
HAIR = (24, 22, 28)
TEAL = (38, 132, 138)


def gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    """A vertical colour gradient, the sky or a studio backdrop."""
    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / max(h - 1, 1)
        draw.line(
            [(0, y), (w, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    return img


def figure(draw: ImageDraw.ImageDraw, cx: float, base: float, height: float, turned: bool = False) -> None:
    """Mika: short black bob, yellow hooded raincoat, dark boots; standing, feet at ``base``."""
    u = height / 10  # one head is about 1.3 u
    head_r = 0.65 * u
    head_cy = base - height + head_r
    # legs and boots
    for dx in (-0.45 * u, 0.45 * u):
        draw.rectangle(
            [cx + dx - 0.28 * u, base - 3.0 * u, cx + dx + 0.28 * u, base - 0.5 * u], fill=(58, 60, 72)
        )
        draw.rounded_rectangle(
            [cx + dx - 0.36 * u, base - 0.7 * u, cx + dx + 0.42 * u, base], radius=0.15 * u, fill=(40, 34, 30)
        )
    # raincoat: a flared trapezoid with sleeves, hood behind the head
    coat = [
        (cx - 0.7 * u, base - 8.5 * u),
        (cx + 0.7 * u, base - 8.5 * u),
        (cx + 1.0 * u, base - 7.6 * u),
        (cx + 1.65 * u, base - 2.7 * u),
        (cx - 1.65 * u, base - 2.7 * u),
        (cx - 1.0 * u, base - 7.6 * u),
    ]
    draw.ellipse([cx - 0.95 * u, head_cy - 0.9 * u, cx + 0.95 * u, head_cy + 1.0 * u], fill=YELLOW_SHADE)
    draw.polygon(coat, fill=YELLOW)
    for side in (-1, 1):
        draw.polygon(
            [
                (cx + side * 0.95 * u, base - 7.4 * u),
                (cx + side * 1.45 * u, base - 7.0 * u),
                (cx + side * 1.9 * u, base - 4.2 * u),
                (cx + side * 1.45 * u, base - 4.1 * u),
            ],
            fill=YELLOW_SHADE,
        )
        draw.ellipse(
            [cx + side * 1.7 * u - 0.22 * u, base - 4.35 * u, cx + side * 1.7 * u + 0.22 * u, base - 3.9 * u],
            fill=SKIN,
        )
    draw.line([(cx, base - 7.5 * u), (cx, base - 2.8 * u)], fill=YELLOW_SHADE, width=max(1, round(0.08 * u)))
    for k in range(4):
        y = base - (6.8 - 1.1 * k) * u
        draw.ellipse([cx + 0.12 * u, y, cx + 0.32 * u, y + 0.2 * u], fill=(90, 70, 20))
    # head: the bob frames the face; turned, the face is a profile toward the right
    draw.ellipse([cx - head_r, head_cy - head_r, cx + head_r, head_cy + head_r], fill=HAIR)
    if turned:
        draw.ellipse([cx - 0.1 * u, head_cy - 0.45 * u, cx + 0.72 * u, head_cy + 0.62 * u], fill=SKIN)
    else:
        draw.ellipse([cx - 0.48 * u, head_cy - 0.38 * u, cx + 0.48 * u, head_cy + 0.66 * u], fill=SKIN)
        draw.rectangle(
            [cx - 0.55 * u, head_cy - 0.62 * u, cx + 0.55 * u, head_cy - 0.22 * u], fill=HAIR
        )  # fringe
        for ex in (-0.2 * u, 0.2 * u):
            draw.ellipse(
                [cx + ex - 0.06 * u, head_cy + 0.05 * u, cx + ex + 0.06 * u, head_cy + 0.17 * u], fill=HAIR
            )
        draw.arc(
            [cx - 0.18 * u, head_cy + 0.2 * u, cx + 0.18 * u, head_cy + 0.45 * u],
            20,
            160,
            fill=(150, 80, 70),
            width=max(1, round(0.05 * u)),
        )


def mika() -> Image.Image:
    """The character reference: Mika full length on a plain backdrop, front view."""
    img = gradient((384, 576), (226, 228, 232), (178, 182, 190))
    draw = ImageDraw.Draw(img)
    draw.ellipse([112, 522, 272, 546], fill=(150, 154, 162))
    figure(draw, 192, 532, 470)
    return img


def street() -> Image.Image:
    """A narrow street at dawn: low houses, lamps, wet road; Mika stands on the right."""
    w, h = 640, 360
    img = gradient((w, h), (250, 196, 150), (120, 150, 196))
    draw = ImageDraw.Draw(img)
    horizon = 190
    draw.ellipse([282, 150, 358, 226], fill=(255, 226, 170))  # the low sun
    for i, (x0, x1, top) in enumerate([(0, 120, 70), (120, 210, 110), (430, 520, 100), (520, 640, 60)]):
        draw.rectangle([x0, top, x1, horizon + 30], fill=(62 + 8 * i, 58 + 6 * i, 78 + 4 * i))
        draw.polygon([(x0 - 6, top), ((x0 + x1) / 2, top - 28), (x1 + 6, top)], fill=(44, 40, 56))
        for wy in range(top + 20, horizon, 34):
            for wx in range(x0 + 14, x1 - 20, 30):
                draw.rectangle(
                    [wx, wy, wx + 14, wy + 18], fill=(255, 214, 140) if (wx + wy) % 3 == 0 else (40, 40, 58)
                )
    draw.polygon([(210, horizon + 30), (430, horizon + 30), (640, h), (0, h)], fill=(70, 74, 92))
    for k in range(6):  # puddle glints on the road
        y = 240 + 20 * k
        draw.ellipse([300 - 30 * k, y, 340 - 10 * k, y + 4], fill=(230, 180, 150))
    for lx in (150, 490):
        draw.rectangle([lx - 3, 90, lx + 3, horizon + 60], fill=(30, 30, 40))
        draw.ellipse([lx - 10, 80, lx + 10, 100], fill=(255, 230, 160))
    figure(draw, 420, 330, 200)
    return img


def umbrella() -> Image.Image:
    """A red umbrella, open, with a curved wooden handle."""
    img = Image.new("RGB", (384, 384), (236, 234, 228))
    draw = ImageDraw.Draw(img)
    cx, top, r = 192, 70, 150
    draw.pieslice([cx - r, top, cx + r, top + 2 * r], 180, 360, fill=(198, 34, 44))
    for k in range(6):  # scalloped hem between the ribs
        x0 = cx - r + k * (2 * r / 6)
        draw.ellipse([x0, top + r - 22, x0 + 2 * r / 6, top + r + 22], fill=(236, 234, 228))
    for k in range(7):
        x = cx - r + k * (2 * r / 6)
        draw.line([(cx, top + 4), (x, top + r)], fill=(150, 20, 30), width=3)
    draw.line([(cx, top - 22), (cx, top + 290)], fill=(70, 50, 36), width=7)
    draw.arc([cx - 44, top + 262, cx + 4, top + 312], 0, 180, fill=(120, 76, 40), width=9)
    return img


def bottle(size: tuple[int, int] = (360, 640), shelf: bool = False) -> Image.Image:
    """TIDE, a frosted teal water bottle with a steel cap, in a studio or on a shelf with a plant."""
    w, h = size
    img = (
        gradient(size, (238, 242, 244), (196, 214, 218))
        if not shelf
        else gradient(size, (246, 236, 222), (214, 196, 172))
    )
    draw = ImageDraw.Draw(img)
    if shelf:
        draw.rectangle([0, 470, w, 500], fill=(150, 110, 76))
        draw.rectangle([0, 500, w, 512], fill=(110, 80, 56))
        draw.polygon([(40, 470), (100, 470), (92, 400), (48, 400)], fill=(196, 120, 90))  # a pot
        for k, ang in enumerate(range(-60, 61, 30)):
            a = math.radians(ang - 90)
            draw.line(
                [(70, 400), (70 + 60 * math.cos(a), 400 + 90 * math.sin(a) * (1 - k % 2 * 0.3))],
                fill=(70, 130, 80),
                width=9,
            )
        floor = 470
    else:
        floor = 560
        draw.ellipse([w / 2 - 90, floor - 12, w / 2 + 90, floor + 14], fill=(170, 186, 190))
    bw = 110 if not shelf else 90
    bh = 360 if not shelf else 290
    cx = w / 2 + (40 if shelf else 0)
    x0, x1, y1 = cx - bw / 2, cx + bw / 2, floor
    y0 = y1 - bh
    shoulder = y0 + bh * 0.18
    glass = Image.new("RGBA", size, (0, 0, 0, 0))
    g = ImageDraw.Draw(glass)
    g.rounded_rectangle([x0, shoulder, x1, y1], radius=bw * 0.22, fill=TEAL + (235,))
    g.polygon(
        [
            (x0 + bw * 0.08, shoulder + 10),
            (cx - bw * 0.2, y0 + 18),
            (cx + bw * 0.2, y0 + 18),
            (x1 - bw * 0.08, shoulder + 10),
        ],
        fill=TEAL + (235,),
    )
    g.rectangle(
        [x0 + bw * 0.12, shoulder + bh * 0.1, x0 + bw * 0.24, y1 - bh * 0.08], fill=(255, 255, 255, 70)
    )
    img.paste(glass, (0, 0), glass)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(
        [cx - bw * 0.24, y0 - bh * 0.06, cx + bw * 0.24, y0 + 22], radius=6, fill=(176, 180, 186)
    )
    for k in range(5):
        y = y0 - bh * 0.05 + 6 * k
        draw.line([(cx - bw * 0.24, y), (cx + bw * 0.24, y)], fill=(140, 144, 150), width=1)
    label_top = y0 + bh * 0.45
    draw.rectangle([x0, label_top, x1, label_top + bh * 0.22], fill=(244, 242, 236))
    font = ImageFont.load_default(size=round(bw * 0.26))
    draw.text((cx, label_top + bh * 0.11), "TIDE", fill=TEAL, font=font, anchor="mm")
    return img


def chords(path: Path, seconds_per_chord: float, progression: list[list[float]], pulse: bool = False) -> None:
    """Soft chords as a 48 kHz 16-bit mono WAV that loops cleanly (every note fades in and out)."""
    frames = bytearray()
    per = round(seconds_per_chord * RATE)
    for notes in progression:
        for i in range(per):
            t = i / RATE
            env = min(1.0, t / 0.25) * min(1.0, (per - i) / (0.35 * RATE))
            if pulse:  # a soft kick on every beat (four per chord) for the product teaser
                beat = (i % (per // 4)) / RATE
                env *= 0.55 + 0.45 * math.exp(-beat * 6)
            v = sum(math.sin(2 * math.pi * f * t) + 0.3 * math.sin(4 * math.pi * f * t) for f in notes)
            if pulse:
                beat = (i % (per // 4)) / RATE
                v += (
                    2.2
                    * math.sin(2 * math.pi * (55 + 90 * math.exp(-beat * 30)) * beat)
                    * math.exp(-beat * 12)
                )
            frames += struct.pack("<h", round(max(-1.0, min(1.0, 0.16 * env * v)) * 32767))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(frames))


def note(name: str) -> float:
    """The frequency of a note like 'A3' or 'C#4' (equal temperament, A4 = 440 Hz)."""
    steps = {
        "C": -9,
        "C#": -8,
        "D": -7,
        "D#": -6,
        "E": -5,
        "F": -4,
        "F#": -3,
        "G": -2,
        "G#": -1,
        "A": 0,
        "A#": 1,
        "B": 2,
    }
    return 440.0 * 2 ** ((steps[name[:-1]] + 12 * (int(name[-1]) - 4)) / 12)


AM, F, C, G = (["A3", "C4", "E4"], ["F3", "A3", "C4"], ["C3", "E4", "G4"], ["G3", "B3", "D4"])

#: Every shipped picture, by its path under projects/, and the function that draws it.
PICTURES: dict[str, Callable[[], Image.Image]] = {
    "kitsune-dawn/assets/mika.png": mika,
    "kitsune-dawn/assets/mika-street.png": lambda: street().filter(ImageFilter.SMOOTH),
    "kitsune-dawn/assets/umbrella.png": umbrella,
    "product-teaser/assets/bottle.png": bottle,
    "product-teaser/assets/bottle-shelf.png": lambda: bottle(shelf=True),
}

#: Every shipped sound, by its path under projects/, and the function that writes it to a path.
SOUNDS: dict[str, Callable[[Path], None]] = {
    # Am F C G, two seconds a chord: an eight-second loop under the narrative short
    "kitsune-dawn/assets/score.wav": lambda p: chords(
        p, 2.0, [[note(n) for n in ch] for ch in (AM, F, C, G)]
    ),
    # C G Am F with a soft kick on each beat: a four-second loop for the teaser
    "product-teaser/assets/pulse.wav": lambda p: chords(
        p, 1.0, [[note(n) for n in ch] for ch in (C, G, AM, F)], pulse=True
    ),
}


def main() -> None:
    for rel, draw in PICTURES.items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        draw().save(path, optimize=True)
    for rel, write in SOUNDS.items():
        (HERE / rel).parent.mkdir(parents=True, exist_ok=True)
        write(HERE / rel)
    for rel in [*PICTURES, *SOUNDS]:
        print(f"{rel}  {(HERE / rel).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
