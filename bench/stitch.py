"""Stitch benchmark: shotlist's render of the reference cut against the encode floor and MoviePy 2.x.

The reference cut: 6 clips of 5 s, 1280x720 at 24 fps (textured, with sound), 0.5 s dissolves, a music
bed at -12 dB, libx264 preset medium (CRF 20) + AAC. In one run it measures:

- shotlist's full render (every piece encoded) and its re-render after one clip changes;
- the floor: one libx264 pass of the same settings over the clips joined by the concat demuxer;
- MoviePy 2.x doing the same cut (in a child process, so its memory is not counted as ours);
- the peak RSS of this process (shotlist) and, separately, of its ffmpeg children.

    python bench/stitch.py [--keep DIR] [--transition NAME] [--repeat N] [--skip-moviepy]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shotlist.clip import Clip
from shotlist.edit import clear_pieces, render_cut
from shotlist.load import load_project
from shotlist.media import ffmpeg_exe, ffmpeg_version, probe

SHOTS = 6
SECONDS = 5
FPS = 24
SIZE = "1280x720"
DISSOLVE = 0.5
# A film editor's dissolve is xfade's `fade` (a smooth cross-fade, what MoviePy's CrossFadeIn does);
# xfade's `dissolve` is a per-pixel random dither, whose noise costs the encoder ~8x the bits per frame.
TRANSITION = "fade"
CRF = 20
TARGETS = {"floor": 1.15, "moviepy": 3.0, "rerender": 0.35, "rss_mb": 200}


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


def make_clip(path: Path, k: int, *, hue: int) -> Path:
    """A 5 s clip of a moving test pattern with a tone, at about the bitrate generated clips have (~4 Mb/s)."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s={SIZE}:r={FPS}:d={SECONDS},hue=h={hue}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={220 + 55 * k}:sample_rate=48000:duration={SECONDS}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "16",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-shortest",
        str(path),
    )
    return path


def clip(shot: str, path: Path) -> Clip:
    return Clip(shot=shot, path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), facts=probe(path))


def storyboard(root: Path, transition: str) -> None:
    shots = "\n".join(
        f"  - {{id: s{k}, subject: 'shot {k}', transition: {{type: {transition}, duration: {DISSOLVE}}}}}"
        for k in range(SHOTS)
    )
    (root / "storyboard.yaml").write_text(
        textwrap.dedent(f"""\
        version: 1
        title: Stitch bench
        output: {{resolution: 720p, aspect: "16:9", fps: {FPS}, file: out/cut.mp4, preset: medium, crf: {CRF}}}
        defaults: {{mode: txt2vid, duration: {SECONDS}}}
        captions: {{sidecars: []}}
        soundtrack: {{music: {{file: music.m4a, gain_db: -12, duck: false}}}}
        shots:
        """)
        + shots
        + "\n"
    )


@dataclass
class Cost:
    """Wall seconds and CPU seconds (this process and its children) of one step."""

    wall: float = 0.0
    cpu: float = 0.0


@contextlib.contextmanager
def measured() -> Iterator[Cost]:
    """Time a step. CPU time is reported beside wall time because on a shared machine the wall clock
    measures the neighbours as much as the work; the ratios are printed for both."""

    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    cost = Cost()
    wall0, cpu0 = time.perf_counter(), cpu()
    yield cost
    cost.wall, cost.cpu = time.perf_counter() - wall0, cpu() - cpu0


def floor(root: Path, paths: list[Path]) -> None:
    listing = root / "floor.ffconcat"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{p}'\n" for p in paths))
    ffmpeg(
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(listing),
        "-c:v",
        "libx264",
        "-preset",
        "medium",
        "-crf",
        str(CRF),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        str(root / "floor.mp4"),
    )


MOVIEPY = """
import statistics
import sys
from moviepy import AudioFileClip, CompositeAudioClip, VideoFileClip, concatenate_videoclips, vfx, afx
paths, music, out, d, crf = sys.argv[1:-4], sys.argv[-4], sys.argv[-3], float(sys.argv[-2]), sys.argv[-1]
clips = [VideoFileClip(p) for p in paths]
clips = [c if k == 0 else c.with_effects([vfx.CrossFadeIn(d)]) for k, c in enumerate(clips)]
cut = concatenate_videoclips(clips, method="compose", padding=-d)
bed = AudioFileClip(music).with_effects([afx.MultiplyVolume(10 ** (-12 / 20))]).with_duration(cut.duration)
cut = cut.with_audio(CompositeAudioClip([cut.audio, bed]))
cut.write_videofile(out, fps=24, codec="libx264", preset="medium", audio_codec="aac",
                    ffmpeg_params=["-crf", crf, "-pix_fmt", "yuv420p"], logger=None)
"""


def moviepy(work: Path, music: Path, paths: list[Path]) -> None:
    subprocess.run(
        [
            sys.executable,
            "-c",
            MOVIEPY,
            *map(str, paths),
            str(music),
            str(work / "moviepy.mp4"),
            str(DISSOLVE),
            str(CRF),
        ],
        check=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temporary folder)")
    ap.add_argument("--transition", default=TRANSITION, help=f"the xfade transition (default {TRANSITION})")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of shotlist and the floor, alternating (default 3)"
    )
    ap.add_argument("--skip-moviepy", action="store_true", help="leave MoviePy out (it takes minutes)")
    opts = ap.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="shotlist-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "project"
    (root / "clips").mkdir(parents=True, exist_ok=True)
    print(f"ffmpeg {ffmpeg_version()}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; work in {work}")

    paths = [make_clip(root / "clips" / f"s{k}.mp4", k, hue=60 * k) for k in range(SHOTS)]
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc=0.3*sin(2*PI*196*t)+0.2*sin(2*PI*247*t):s=44100:d={SHOTS * SECONDS + 5}",
        "-c:a",
        "aac",
        str(root / "music.m4a"),
    )
    changed = make_clip(root / "clips" / "s3-take2.mp4", 3, hue=200)
    storyboard(root, opts.transition)
    project = load_project(root)
    clips = {f"s{k}": clip(f"s{k}", p) for k, p in enumerate(paths)}
    clear_pieces(project)

    # Shotlist and the floor alternate, --repeat times, and the medians are compared: on a shared
    # machine a single pair of runs measures the neighbours' load as much as the work.
    runs: dict[str, list[Cost]] = {"shotlist full": [], "one clip changed": [], "floor": []}
    original = clips["s3"]
    for _ in range(opts.repeat):
        clear_pieces(project)
        clips["s3"] = original
        with measured() as cost:
            full = render_cut(project, clips)
        runs["shotlist full"].append(cost)
        clips["s3"] = clip("s3", changed)
        with measured() as cost:
            again = render_cut(project, clips)
        runs["one clip changed"].append(cost)
        with measured() as cost:
            floor(work, paths)
        runs["floor"].append(cost)
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_ffmpeg = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if not opts.skip_moviepy and importlib.util.find_spec("moviepy") is not None:
        with measured() as cost:
            moviepy(work, root / "music.m4a", paths)
        runs["moviepy"] = [cost]
    costs = {
        name: Cost(statistics.median(c.wall for c in cs), statistics.median(c.cpu for c in cs))
        for name, cs in runs.items()
    }

    facts = probe(full.path)
    print(
        f"cut: {facts.frames} frames, {facts.duration:.3f} s, {facts.width}x{facts.height} at {facts.fps} fps; "
        f"sound {full.audio}"
    )
    print(
        f"re-render: {len(again.rendered)} pieces encoded ({', '.join(again.rendered)}), {len(again.reused)} reused"
    )
    for name, cost in costs.items():
        walls = ", ".join(f"{c.wall:.2f}" for c in runs[name])
        print(
            f"{name:>18}: {cost.wall:8.2f} s wall {cost.cpu:8.2f} s CPU   (median; wall of each run: {walls})"
        )
    print(
        f"{'peak RSS':>18}: shotlist {rss_self:.1f} MB, largest ffmpeg child {rss_ffmpeg:.1f} MB "
        f"(target < {TARGETS['rss_mb']} MB: {'ok' if rss_self < TARGETS['rss_mb'] else 'MISSED'})"
    )
    full_cost = costs["shotlist full"]
    rows = [
        ("full / floor", full_cost, costs["floor"], TARGETS["floor"], "<="),
        ("re-render / full", costs["one clip changed"], full_cost, TARGETS["rerender"], "<="),
    ]
    if "moviepy" in costs:
        rows.append(("moviepy / full", costs["moviepy"], full_cost, TARGETS["moviepy"], ">="))
    for name, a, b, target, op in rows:
        cells = []
        for kind, x, y in (("wall", a.wall, b.wall), ("CPU", a.cpu, b.cpu)):
            ratio = x / y
            ok = ratio <= target if op == "<=" else ratio >= target
            cells.append(f"{kind} {ratio:5.2f} {'ok' if ok else 'MISSED'}")
        print(f"{name:>18}: {'   '.join(cells)}   (target {op} {target})")


if __name__ == "__main__":
    main()
