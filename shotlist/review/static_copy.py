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
from shotlist.media import MediaError
from shotlist.review.app import STATIC
from shotlist.review.page import review_page
from shotlist.review.render import page_html, poster
from shotlist.store import Store


def write_static(
    project: Project, dest: Path, models: Models | None = None, *, notes: list[str] | None = None
) -> Path:
    """Write the static copy into ``dest``; return its index.html. ``notes``: what could not be copied, and why."""
    page = review_page(project, models)
    store = Store(project.root)
    problems: dict[str, str] = {}
    for shot in page.shots:
        for take in shot.takes + shot.earlier:
            if take.present:
                _place(store.object_path(take.clip), dest / "clip" / f"{take.clip}.mp4")
                _place_poster(store, take.clip, dest, problems, f"{shot.id} take {take.number}")
        if shot.poster:
            _place_poster(store, shot.poster, dest, problems, f"{shot.id} (pinned)")
    if notes is not None:
        notes.extend(problems.values())
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


def _place_poster(store: Store, sha: str, dest: Path, problems: dict[str, str], what: str) -> None:
    """The clip's poster beside the page; a damaged clip has none (its player shows no picture), noted once."""
    try:
        _place(poster(store, sha), dest / "poster" / f"{sha}.jpg")
    except MediaError as exc:
        problems.setdefault(sha, f"{what}: {exc}")


def _place(src: Path, dest: Path) -> None:
    """Hard-link ``src`` at ``dest`` (a copy across file systems); an existing file is replaced."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
