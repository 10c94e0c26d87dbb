"""``shotlist review --html DIR``: the review page as a folder that opens from disk, with no server.

Every URL is relative; the clips are hard-linked from the store when DIR is on the same file system
(else copied), the posters and the cut beside them. The copy is read-only: no actions, no events.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from shotlist import durable
from shotlist.catalog.registry import Models
from shotlist.load import Project
from shotlist.review.app import STATIC
from shotlist.review.page import review_page
from shotlist.review.render import page_html, poster
from shotlist.store import Store


def write_static(project: Project, dest: Path, models: Models | None = None) -> Path:
    """Write the static copy into ``dest``; return its index.html."""
    page = review_page(project, models)
    store = Store(project.root)
    for shot in page.shots:
        for take in shot.takes + shot.earlier:
            if take.present:
                _place(store.object_path(take.clip), dest / "clip" / f"{take.clip}.mp4")
                _place(poster(store, take.clip), dest / "poster" / f"{take.clip}.jpg")
        if shot.poster:
            _place(poster(store, shot.poster), dest / "poster" / f"{shot.poster}.jpg")
    if page.cut is not None:
        _place(page.cut.path, dest / "cut" / "cut.mp4")
        if page.cut.captions is not None:
            _place(page.cut.captions, dest / "cut" / "cut.vtt")
    for name in STATIC:
        text = resources.files("shotlist.review").joinpath("static", name).read_text(encoding="utf-8")
        durable.write_text(dest / "static" / name, text, sync=False)
    index = dest / "index.html"
    durable.write_text(index, page_html(page, live=False), sync=False)
    return index


def _place(src: Path, dest: Path) -> None:
    """Hard-link ``src`` at ``dest`` (a copy across file systems); an existing file is replaced."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
