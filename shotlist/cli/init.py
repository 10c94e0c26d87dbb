"""`shotlist init`: write a starter project that validates and lints clean."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Template(StrEnum):
    """The starter projects `shotlist init` can write."""

    narrative = "narrative"
    product = "product"


def register(app: typer.Typer) -> None:
    app.command()(init)


def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder for the new project (default: the current folder).")
    ] = Path("."),
    template: Annotated[
        Template, typer.Option("--template", "-t", help="Which starter to write.")
    ] = Template.narrative,
) -> None:
    """Write a starter project (storyboard, a small image, .gitignore, README) that validates."""
    from shotlist.errors import ShotlistError

    board = directory / "storyboard.yaml"
    if board.exists():
        raise ShotlistError(f"{board} already exists; choose an empty folder or another name for the project")
    written = write_starter(directory, template.value)
    from shotlist.load import load_project

    load_project(directory)  # a starter that does not validate is our bug: fail loudly here, not later
    typer.echo(f"created {directory}: {', '.join(written)}")
    typer.echo(f"next: shotlist validate {directory}")


# --- the starter projects ---------------------------------------------------------------------------

_GITIGNORE = ".shotlist/\nout/\n"

_NARRATIVE = """\
# yaml-language-server: $schema=shotlist.schema.json
version: 1
title: Lantern Harbor
output: {resolution: 720p, aspect: "16:9", fps: 24, file: out/lantern-harbor.mp4, fade_out: 1}
defaults: {model: animatic, duration: 5}
styles:
  film: "35mm film grain, muted pastel palette"
shots:
  - id: harbor
    mode: txt2vid
    framing: wide
    angle: eye-level
    subject: "A red fishing boat"
    action: "rocks gently beside a stone pier"
    scene: "in a quiet harbor town at dawn"
    lighting: "soft golden sunrise light with low haze"
    motion: ["small waves roll slowly toward the pier", "gulls glide from left to right across the sky"]
    still: ["the pier and the houses stay fixed"]
    camera: {move: pan-right, speed: slow}
    style: film
    transition: {type: dissolve, duration: 0.8}

  - id: lantern-street
    mode: img2vid
    image: assets/lantern-street.png     # drawn by `shotlist init`; replace it with your own frame
    framing: medium-wide
    lighting: "warm lantern glow against a deep blue dusk"
    motion:
      - "paper lanterns sway gently in a light breeze"
      - "warm light flickers softly across the wet cobblestones"
      - "a thin mist drifts slowly from right to left"
      - "raindrops drip slowly from the eaves into the puddles"
    still: ["the shopfronts and the street stay fixed"]
    camera: {move: dolly-in, speed: slow}
    style: film

  - id: cat-crosses
    mode: img2vid
    image: {shot: lantern-street, frame: last}   # continuity: starts where the last shot ended
    framing: medium-wide
    lighting: "warm lantern glow against a deep blue dusk"
    motion:
      - "a black cat walks slowly from left to right along the street"
      - "lantern light shimmers gently on the puddles"
      - "the mist thins slowly toward the sky"
      - "raindrops drip slowly from the lantern string"
    still: ["the lanterns and the shopfronts stay in place"]
    camera: static
    style: film
"""

_PRODUCT = """\
# yaml-language-server: $schema=shotlist.schema.json
version: 1
title: Lumen Cold Brew
output: {resolution: 720p, aspect: "9:16", fps: 30, file: out/lumen-teaser.mp4}
defaults: {model: animatic, duration: 4}
styles:
  brand: "clean commercial look, shallow depth of field, warm amber tones"
shots:
  - id: pour
    mode: txt2vid
    framing: extreme-close-up
    subject: "Cold brew coffee"
    action: "pours slowly into a tall glass of ice cubes"
    scene: "on a dark walnut counter"
    lighting: "soft warm side light with crisp highlights on the glass"
    motion: ["the coffee swirls slowly around the ice", "tiny bubbles rise gently to the surface"]
    still: ["the glass stays centered and fixed"]
    camera: {move: dolly-in, speed: slow}
    style: brand
    transition: {type: fade, duration: 0.5}

  - id: bottle
    mode: img2vid
    image: assets/bottle.png     # drawn by `shotlist init`; replace it with your packshot
    framing: medium-close-up
    lighting: "warm studio light with soft shadows"
    motion:
      - "condensation drops roll slowly down the bottle"
      - "a band of soft light sweeps slowly from left to right across the label"
      - "a few coffee beans tumble gently onto the counter"
      - "cold mist curls slowly upward"
    still: ["the bottle stays upright and centered"]
    camera: {move: orbit-right, speed: slow}
    style: brand
    transition: {type: slideup, duration: 0.5}

  - id: rooftop-sip
    mode: txt2vid
    framing: medium
    subject: "A young woman in a denim jacket"
    action: "slowly raises the bottle to her lips and takes a sip"
    scene: "on a sunny city rooftop"
    lighting: "bright morning sunlight with soft lens flare"
    motion: ["her hair sways gently in a light breeze", "clouds drift slowly from left to right"]
    still: ["the city skyline stays fixed behind her"]
    camera: {move: truck-left, speed: slow}
    style: brand
"""

_README = """\
# {title}

A starter project written by `shotlist init --template {template}`.

    shotlist validate        # check the storyboard and every file it names
    shotlist prompts         # read the prompt each shot will send

Edit `storyboard.yaml`; your editor completes and checks it through `shotlist.schema.json`
(the `# yaml-language-server: $schema=` line at its top). After upgrading shotlist, refresh the
schema with `shotlist schema > shotlist.schema.json`.

`assets/{image}` was drawn by `shotlist init` (no third-party content); replace it with your own
frame. `.shotlist/` (generated clips) and `out/` (the cut) are git-ignored.
"""


def write_starter(directory: Path, template: str) -> list[str]:
    """Write the starter project files into ``directory``; return their paths relative to it."""
    text, image, title = {
        "narrative": (_NARRATIVE, "lantern-street.png", "Lantern Harbor"),
        "product": (_PRODUCT, "bottle.png", "Lumen Cold Brew"),
    }[template]
    (directory / "assets").mkdir(parents=True, exist_ok=True)
    written = ["storyboard.yaml", "shotlist.schema.json", f"assets/{image}"]
    (directory / "storyboard.yaml").write_text(text, encoding="utf-8")
    from shotlist.storyboard import schema_text

    (directory / "shotlist.schema.json").write_text(schema_text(), encoding="utf-8")
    (_draw_lantern_street if template == "narrative" else _draw_bottle)(directory / "assets" / image)
    if ensure_gitignore(directory):
        written.append(".gitignore")
    readme = directory / "README.md"
    if not readme.exists():
        readme.write_text(_README.format(title=title, template=template, image=image), encoding="utf-8")
        written.append("README.md")
    return written


def ensure_gitignore(directory: Path) -> bool:
    """Add the generated folders (``.shotlist/``, ``out/``) to the project's .gitignore; True if it changed."""
    gitignore = directory / ".gitignore"
    old = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    missing = [line for line in _GITIGNORE.splitlines() if line not in old.splitlines()]
    if missing:
        gitignore.write_text(
            old + ("\n" if old and not old.endswith("\n") else "") + "\n".join(missing) + "\n",
            encoding="utf-8",
        )
    return bool(missing)


def _draw_lantern_street(path: Path) -> None:
    """A dusk street with lanterns, drawn from shapes: a 640x360 PNG of a few kilobytes."""
    from PIL import Image, ImageDraw

    w, h = 640, 360
    im = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(im)
    for y in range(h):  # sky from deep blue to dusk violet, then the wet street
        t = y / h
        d.line(
            [(0, y), (w, y)],
            fill=(int(20 + 60 * t), int(24 + 30 * t), int(70 + 40 * t))
            if y < 230
            else (int(40 + 20 * t), int(38 + 10 * t), int(50 + 10 * t)),
        )
    for i, (x0, top) in enumerate([(0, 90), (110, 60), (230, 110), (360, 70), (470, 100), (560, 80)]):
        d.rectangle([x0, top, x0 + 100, 230], fill=(35 + 8 * i, 30 + 5 * i, 45 + 6 * i))
        for wx in range(x0 + 15, x0 + 90, 30):
            d.rectangle([wx, top + 25, wx + 14, top + 45], fill=(230, 170, 80))
    d.line([(0, 150), (w, 140)], fill=(20, 20, 20), width=2)
    for x in range(40, w, 90):  # lanterns on a string
        y = 150 - x * 10 // w
        d.ellipse([x - 12, y + 4, x + 12, y + 34], fill=(235, 90, 50), outline=(255, 200, 120))
    for x in range(0, w, 70):  # reflections on the cobblestones
        d.ellipse([x + 10, 280, x + 50, 290], fill=(120, 80, 60))
    im.save(path, optimize=True)


def _draw_bottle(path: Path) -> None:
    """An amber bottle on a warm backdrop, drawn from shapes: a 360x640 PNG of a few kilobytes."""
    from PIL import Image, ImageDraw

    w, h = 360, 640
    im = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(im)
    for y in range(h):
        t = y / h
        d.line([(0, y), (w, y)], fill=(int(230 - 90 * t), int(190 - 90 * t), int(150 - 80 * t)))
    d.rectangle([0, 500, w, h], fill=(70, 45, 30))  # the walnut counter
    d.rounded_rectangle([120, 220, 240, 510], radius=30, fill=(110, 60, 20), outline=(60, 30, 10), width=3)
    d.rectangle([155, 150, 205, 230], fill=(110, 60, 20))  # the neck
    d.rectangle([150, 130, 210, 155], fill=(30, 30, 30))  # the cap
    d.rectangle([125, 320, 235, 420], fill=(245, 235, 215))  # the label
    d.rectangle([140, 350, 220, 362], fill=(120, 70, 30))
    d.rectangle([150, 375, 210, 383], fill=(160, 110, 60))
    im.save(path, optimize=True)
