"""Stitch benchmark: shotlist's render of two reference cuts against the encode floor (and MoviePy 2.x).

The reference cuts, both 1280x720 at 24 fps from textured clips with sound, a music bed at -12 dB,
libx264 preset medium (CRF 20) + AAC:

- ``fades``: 6 clips of 5 s joined by 0.5 s cross-dissolves;
- ``mixed``: 12 clips of 4 s joined by 0.5 s wipes, slides, a circle, dissolves and dips to black/white.

For each it measures, alternating, ``--repeat`` times:

- shotlist's full render (every piece and the sound made anew) and its re-render after one clip changes;
- the floor: one libx264 pass of the same settings over the same cut (the rendered cut decoded and
  encoded again, picture and sound: what the cut costs to encode once, transitions included);
- for reference, one such pass over the clips joined by the concat demuxer (no transitions);

and once, for ``fades``, MoviePy 2.x doing the same cut (in a child process, so its memory is not
counted as ours). It prints the medians and their ratios, the re-render's picture and sound times, and
the peak RSS of this process and of its largest ffmpeg child.

    python bench/stitch.py [--keep DIR] [--film fades|mixed] [--repeat N] [--skip-moviepy]
"""

from __future__ import annotations

import argparse
import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path

from shotlist.clip import Clip
from shotlist.cut import CutResult
from shotlist.edit import clear_pieces, render_cut
from shotlist.hashing import sha256_file
from shotlist.load import load_project
from shotlist.media import ffmpeg_exe, ffmpeg_version, probe

FPS = 24
SIZE = "1280x720"
CRF = 20
TARGETS = {"floor": 1.15, "moviepy": 3.0, "rerender": 0.35, "rss_mb": 200}


@dataclass(frozen=True)
class Film:
    name: str
    seconds: int  # per clip
    transitions: tuple[str, ...]  # after each clip but the last
    duration: float = 0.5  # of every transition

    @property
    def shots(self) -> int:
        return len(self.transitions) + 1


FILMS = {
    "fades": Film("fades", 5, ("dissolve",) * 5),
    "mixed": Film(
        "mixed",
        4,
        (
            "wipeleft",
            "slideup",
            "dissolve",
            "circleopen",
            "dip-to-black",
            "wiperight",
            "slideleft",
            "dip-to-white",
            "wipedown",
            "dissolve",
            "slideright",
        ),
    ),
}


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


def make_clip(path: Path, k: int, seconds: int, *, hue: int) -> Path:
    """A clip of a moving test pattern with a tone, at about the bitrate generated clips have (~4 Mb/s)."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r={FPS}:d={seconds},hue=h={hue}"),
        *("-f", "lavfi", "-i", f"sine=frequency={220 + 55 * k}:sample_rate=48000:duration={seconds}"),
        *("-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-ac", "2", "-shortest", str(path)),
    )
    return path


def clip(shot: str, path: Path) -> Clip:
    return Clip(shot=shot, path=path, sha256=sha256_file(path), facts=probe(path))


def storyboard(root: Path, film: Film) -> None:
    shots = []
    for k in range(film.shots):
        t = (
            f", transition: {{type: {film.transitions[k]}, duration: {film.duration}}}"
            if k < film.shots - 1
            else ""
        )
        shots.append(f"  - {{id: s{k}, subject: 'shot {k}'{t}}}")
    (root / "storyboard.yaml").write_text(
        textwrap.dedent(f"""\
        version: 1
        title: Stitch bench ({film.name})
        output: {{resolution: 720p, aspect: "16:9", fps: {FPS}, file: out/cut.mp4, preset: medium, crf: {CRF}}}
        defaults: {{mode: txt2vid, duration: {film.seconds}}}
        captions: {{sidecars: []}}
        soundtrack: {{music: {{file: music.m4a, gain_db: -12, duck: false}}}}
        shots:
        """)
        + "\n".join(shots)
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


def one_pass(inputs: list[str], dest: Path) -> None:
    """One libx264 + AAC pass of the cut's settings over ``inputs``."""
    ffmpeg(
        *inputs,
        *("-c:v", "libx264", "-preset", "medium", "-crf", str(CRF), "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", str(dest)),
    )


def clips_floor(work: Path, paths: list[Path]) -> None:
    listing = work / "floor.ffconcat"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{p}'\n" for p in paths))
    one_pass(["-f", "concat", "-safe", "0", "-i", str(listing)], work / "floor-clips.mp4")


MOVIEPY = """
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


def moviepy(work: Path, music: Path, paths: list[Path], film: Film) -> None:
    args = [*map(str, paths), str(music), str(work / "moviepy.mp4"), str(film.duration), str(CRF)]
    subprocess.run([sys.executable, "-c", MOVIEPY, *args], check=True)


@dataclass
class Runs:
    costs: dict[str, list[Cost]] = field(
        default_factory=lambda: {
            "shotlist full": [],
            "one clip changed": [],
            "floor: the cut": [],
            "floor: the clips": [],
        }
    )
    full: CutResult | None = None
    again: list[CutResult] = field(default_factory=list)

    def median(self, name: str) -> Cost:
        cs = self.costs[name]
        return Cost(statistics.median(c.wall for c in cs), statistics.median(c.cpu for c in cs))


def bench(work: Path, film: Film, repeat: int) -> tuple[Runs, list[Path], Path]:
    """Make the film's clips and project, then alternate full render, one-clip re-render and floor."""
    root = work / film.name
    (root / "clips").mkdir(parents=True, exist_ok=True)
    paths = [
        make_clip(root / "clips" / f"s{k}.mp4", k, film.seconds, hue=360 * k // film.shots)
        for k in range(film.shots)
    ]
    music = root / "music.m4a"
    ffmpeg(
        *("-f", "lavfi", "-i"),
        f"aevalsrc=0.3*sin(2*PI*196*t)+0.2*sin(2*PI*247*t):s=44100:d={film.shots * film.seconds + 5}",
        *("-c:a", "aac", str(music)),
    )
    changed = make_clip(root / "clips" / "s3-take2.mp4", 3, film.seconds, hue=200)
    storyboard(root, film)
    project = load_project(root)
    clips = {f"s{k}": clip(f"s{k}", p) for k, p in enumerate(paths)}
    original, other = clips["s3"], clip("s3", changed)
    runs = Runs()
    # Shotlist and the floors alternate, and the medians are compared: on a shared machine a single
    # pair of runs measures the neighbours' load as much as the work.
    for _ in range(repeat):
        clear_pieces(project)  # pieces, kept sounds and cut records: a first render
        clips["s3"] = original
        with measured() as cost:
            runs.full = render_cut(project, clips)
        runs.costs["shotlist full"].append(cost)
        with measured() as cost:
            one_pass(["-i", str(runs.full.path)], root / "floor-cut.mp4")
        runs.costs["floor: the cut"].append(cost)
        clips["s3"] = other
        with measured() as cost:
            runs.again.append(render_cut(project, clips))
        runs.costs["one clip changed"].append(cost)
        with measured() as cost:
            clips_floor(root, paths)
        runs.costs["floor: the clips"].append(cost)
    return runs, paths, music


def report(film: Film, runs: Runs, extra: dict[str, Cost]) -> None:
    assert runs.full is not None
    facts = probe(runs.full.path)
    again = runs.again[-1]
    print(
        f"\n[{film.name}] {film.shots} clips of {film.seconds} s, {', '.join(sorted(set(film.transitions)))}; "
        f"cut: {facts.frames} frames, {facts.duration:.3f} s, {facts.width}x{facts.height} at {facts.fps} fps; "
        f"sound {runs.full.audio.normalization_type if runs.full.audio else None}"
    )
    pictures = statistics.median(a.picture_seconds for a in runs.again)
    sounds = statistics.median(a.sound_seconds for a in runs.again)
    print(
        f"re-render: {len(again.rendered)} pieces encoded ({', '.join(again.rendered)}), {len(again.reused)} "
        f"reused; picture {pictures:.2f} s, sound {sounds:.2f} s (wall, side by side; medians)"
    )
    costs = {name: runs.median(name) for name in runs.costs} | extra
    for name, cost in costs.items():
        walls = ", ".join(f"{c.wall:.2f}" for c in runs.costs.get(name, []))
        print(
            f"{name:>18}: {cost.wall:8.2f} s wall {cost.cpu:8.2f} s CPU   (median; wall of each run: {walls})"
        )
    full = costs["shotlist full"]
    rows: list[tuple[str, Cost, Cost, float | None, str]] = [
        ("full / floor", full, costs["floor: the cut"], TARGETS["floor"], "<="),
        ("full / clips floor", full, costs["floor: the clips"], None, ""),
        ("re-render / full", costs["one clip changed"], full, TARGETS["rerender"], "<="),
    ]
    if "moviepy" in costs:
        rows.append(("moviepy / full", costs["moviepy"], full, TARGETS["moviepy"], ">="))
    for name, a, b, target, op in rows:
        cells = []
        for kind, x, y in (("wall", a.wall, b.wall), ("CPU", a.cpu, b.cpu)):
            ratio = x / y
            ok = target is None or (ratio <= target if op == "<=" else ratio >= target)
            cells.append(f"{kind} {ratio:5.2f}{'' if target is None else ' ok' if ok else ' MISSED'}")
        print(
            f"{name:>18}: {'   '.join(cells)}   ({'for reference' if target is None else f'target {op} {target}'})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temporary folder)")
    ap.add_argument("--film", choices=sorted(FILMS), action="append", help="only this film (repeatable)")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of shotlist and the floor, alternating (default 3)"
    )
    ap.add_argument("--skip-moviepy", action="store_true", help="leave MoviePy out (it takes minutes)")
    opts = ap.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="shotlist-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"ffmpeg {ffmpeg_version()}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; work in {work}")
    for name in opts.film or sorted(FILMS):
        film = FILMS[name]
        runs, paths, music = bench(work, film, opts.repeat)
        extra: dict[str, Cost] = {}
        if name == "fades" and not opts.skip_moviepy and importlib.util.find_spec("moviepy") is not None:
            with measured() as cost:
                moviepy(work / name, music, paths, film)
            extra["moviepy"] = cost
        report(film, runs, extra)
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_ffmpeg = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"\npeak RSS: shotlist {rss_self:.1f} MB (target < {TARGETS['rss_mb']} MB: "
        f"{'ok' if rss_self < TARGETS['rss_mb'] else 'MISSED'}), largest child {rss_ffmpeg:.1f} MB"
    )


if __name__ == "__main__":
    main()
