"""`shotlist init`: write a starter project that validates and lints clean."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Template(StrEnum):
    """The starter projects `shotlist init` can write."""

    narrative = "narrative"  # three shots of a harbor town at dawn and dusk, 16:9
    product = "product"  # a three-shot drink teaser, 9:16


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
    from shotlist.durable import file_in_the_way
    from shotlist.errors import ShotlistError

    board = directory / "storyboard.yaml"
    if (blocking := file_in_the_way(board)) is not None:
        raise ShotlistError(
            f"{blocking} is a file, not a folder; give init the folder to make the project in"
        )
    if board.exists():
        raise ShotlistError(f"{board} already exists; choose an empty folder or another name for the project")
    written = write_starter(directory, template.value)
    from shotlist.load import load_project

    load_project(directory)  # a starter that does not validate is our bug: fail loudly here, not later
    typer.echo(f"created {directory}: {', '.join(written)}")
    typer.echo(f"next: shotlist validate {directory}")


# --- the starter projects ---------------------------------------------------------------------------
# Each starter's storyboard is the package file shotlist/starters/<template>.yaml, written as it is.

_GITIGNORE = ".shotlist/\nout/\n"

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
    from importlib.resources import files

    image, title = {
        "narrative": ("lantern-street.png", "Lantern Harbor"),
        "product": ("bottle.png", "Lumen Cold Brew"),
    }[template]
    text = files("shotlist").joinpath("starters", f"{template}.yaml").read_text(encoding="utf-8")
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
