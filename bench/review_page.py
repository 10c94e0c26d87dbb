"""Benchmark: the review page of a 100-shot project with 3 takes per shot, loaded in Chromium.

    python bench/review_page.py [--shots 100] [--takes 3] [--repeat 5]

Sets up a project whose store holds ``shots × takes`` takes of the shots' current recipes (distinct
objects made from one small clip; posters already cached, as after a first visit), starts the review
server on loopback and loads the page in Debian's Chromium (headless), timing from navigation start
to the load event (HTML, CSS, JS, the strip's posters, every take's player). Prints the median and
the server's share (building the page: load, plan, lint, takes, HTML). Target: under 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shotlist.backends.fake import render_clip
from shotlist.catalog.registry import CatalogModels
from shotlist.load import load_project
from shotlist.lock import Lock, LockEntry, write_lock
from shotlist.media import probe
from shotlist.plan import make_plan
from shotlist.review.render import poster
from shotlist.store import Store, Take, now

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def scale_project(root: Path, shots: int, takes: int) -> Path:
    """A project of ``shots`` txt2vid shots, each with ``takes`` stored takes (take 1 pinned), posters cached."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "version: 1",
        "title: Scale",
        "output: {resolution: 160x90, fps: 8, file: out/scale.mp4}",
        "defaults: {model: animatic, duration: 1}",
        "shots:",
    ]
    for i in range(shots):
        lines += [
            f"  - id: s{i:03d}",
            f'    subject: "A paper lantern number {i}"',
            '    action: "drifts slowly across a calm river at dusk"',
            '    lighting: "warm lantern glow on dark water"',
        ]
    (root / "storyboard.yaml").write_text("\n".join(lines) + "\n")
    project = load_project(root)
    store = Store(project.root)
    base = store.tmp_path("base.mp4")
    render_clip(base, width=160, height=90, fps=8, duration=1.0, seed="scale")
    facts = probe(base)
    plan = make_plan(project, store, Lock(), CatalogModels())
    lock = Lock()
    first_poster: Path | None = None
    for sp in plan.shots:
        assert sp.spec is not None
        for n in range(1, takes + 1):
            clip = store.tmp_path(f"{sp.shot}-{n}.mp4")
            clip.write_bytes(base.read_bytes() + f"{sp.shot}/{n}".encode())  # a distinct object per take
            sha = store.add_file(clip)
            take = Take(n, sha, sp.shot, "fake", "animatic", f"job-{sp.shot}-{n}", 0.1, False, now(), facts)
            store.add_take(sp.spec.key, sp.spec.recipe(), take)
            if first_poster is None:
                first_poster = poster(store, sha)
            else:  # every poster looks alike here: made once, copied (a warm cache)
                dest = store.dir / "posters" / f"{sha}.jpg"
                shutil.copyfile(first_poster, dest)
            if n == 1:
                lock.entries[sp.shot] = LockEntry.pinning(sp.shot, sp.spec.key, take)
    write_lock(project.root, lock, [s.id for s in project.shots])
    base.unlink(missing_ok=True)
    return root


def load_times(url: str, repeat: int) -> list[float]:
    """Seconds from navigation start to the load event, for ``repeat`` loads after one warm-up load."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        context: Any = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="shotlist-chromium-"), executable_path=CHROMIUM, headless=True, args=ARGS
        )
        page = context.new_page()
        page.goto(url)
        for _ in range(repeat):
            page.goto(url, wait_until="load")
            entry = page.evaluate(
                "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()"
            )
            times.append(float(entry) / 1000)
        context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--takes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from shotlist.review.page import review_page
    from shotlist.review.render import page_html
    from shotlist.review.server import serve

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        root = scale_project(Path(tmp) / "scale", args.shots, args.takes)
        print(f"set up {args.shots} shots × {args.takes} takes in {time.perf_counter() - began:.1f} s")
        page_s = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            page_html(review_page(load_project(root)), live=True, token="x")
            page_s.append(time.perf_counter() - t)
        print(
            f"server: building the page (load, plan, lint, takes, HTML): median {statistics.median(page_s):.3f} s"
        )
        served = serve(root)
        served.start()
        try:
            times = load_times(served.url, args.repeat)
        finally:
            served.stop()
        print(
            f"Chromium: navigation to load event, median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f}) over {len(times)} loads"
        )
        if statistics.median(times) >= 1.0:
            sys.exit("slower than the 1 s target")


if __name__ == "__main__":
    main()
