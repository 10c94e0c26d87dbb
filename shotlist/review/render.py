"""The review page as HTML (Jinja2, autoescaped) and the posters its players show."""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

from shotlist.media import MediaError, run_ffmpeg
from shotlist.review.page import ReviewPage
from shotlist.store import Store

POSTER_WIDTH = 320


@functools.cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("shotlist.review", "templates"),
        autoescape=True,  # every prompt, id and caption is a user's string
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page_html(page: ReviewPage, *, live: bool, token: str = "") -> str:
    """The page: served live (actions, events; every URL carries the token) or as a static copy (relative URLs)."""

    def url(kind: str, name: str) -> str:
        path = f"{kind}/{quote(name)}"
        return f"/{path}?token={quote(token)}" if live else path

    return (
        _env()
        .get_template("review.html.j2")
        .render(page=page, live=live, token=token if live else "", url=url)
    )


def poster(store: Store, sha: str) -> Path:
    """A small JPEG of a clip (a frame near its start, past any fade-in), made once and kept by clip hash."""
    dest = store.dir / "posters" / f"{sha}.jpg"
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.tmp_path(f"poster-{sha[:12]}.jpg")
    clip = str(store.object_path(sha))
    scale = f"scale={POSTER_WIDTH}:-2"
    for pick in (f"select='gte(t,0.5)',{scale}", scale):  # a clip shorter than 0.5 s: its first frame
        try:
            run_ffmpeg(
                ["-i", clip, "-vf", pick, "-frames:v", "1", "-q:v", "5", "-f", "image2", str(tmp)],
                what="poster",
            )
        except MediaError:
            continue
        if tmp.is_file() and tmp.stat().st_size:
            tmp.replace(dest)
            return dest
    raise MediaError(f"no frame to show for clip {sha[:12]}")
