"""Scale benchmark: a film of N shots renders in bounded memory, at about one encode pass of its length.

The film: the example's ten shots (projects/kitsune-dawn, made 3 s long by the animatic at 720p24)
repeated to N shots, each clip stream-copied with its own tag so that every shot has its own bytes and
keys, joined by 0.5 s cross-dissolves, under the example's music bed, libx264 medium CRF 20 + AAC.
For each N it measures, each step in a fresh process (so peak memory is per step):

- shotlist's full render (every piece and the sound made anew);
- the floor: one libx264 pass of the same settings over the same cut (the rendered cut decoded and
  encoded again, picture and sound: what the cut costs to encode once, transitions included);
- the re-render after one shot's clip changes: its wall time, and how long the picture (the pieces it
  encodes) and the sound (one pass over the whole programme, beside the picture) took;
- the peak RSS of the largest process of each step.

    python bench/scale.py [--shots 12 50 100 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from shotlist.clip import Clip, pinned_clips
from shotlist.edit import clear_pieces, render_cut
from shotlist.hashing import sha256_file
from shotlist.load import load_project
from shotlist.media import ffmpeg_exe, ffmpeg_version, probe
from shotlist.pipeline import BuildOptions, build

REPO = Path(__file__).resolve().parent.parent
SECONDS = 3
DISSOLVE = 0.5
CRF = 20
TARGETS = {"floor": 1.15, "rss_mb": 1000}


def base_clips(work: Path) -> list[Path]:
    """The example's shots, 3 s each, made by the animatic: the clips every film here repeats."""
    root = work / "base"
    if not (root / "storyboard.yaml").is_file():
        shutil.copytree(REPO / "projects" / "kitsune-dawn", root)
        text = (root / "storyboard.yaml").read_text()
        text = re.sub(r"(?m)^(\s+)duration: \d+(\.\d+)?$", rf"\g<1>duration: {SECONDS}", text)
        text = text.replace("duration: 5,", f"duration: {SECONDS},")
        (root / "storyboard.yaml").write_text(text)
    result = build(root, BuildOptions(yes=True, render=False))
    assert result.ok and not result.missing, (result.failures, result.missing)
    clips, _ = pinned_clips(load_project(root))
    return [clip.path for clip in clips.values()]


def make_film(work: Path, base: list[Path], n: int) -> Path:
    """A project of n shots whose clips are the base clips in turn, each with bytes of its own."""
    root = work / f"film-{n}"
    (root / "clips").mkdir(parents=True, exist_ok=True)
    for k in range(n):
        path = root / "clips" / f"s{k}.mp4"
        if not path.is_file():
            ffmpeg("-i", str(base[k % len(base)]), "-c", "copy", "-metadata", f"comment=shot {k}", str(path))
    changed = root / "clips" / "changed.mp4"
    if not changed.is_file():
        ffmpeg(
            "-i",
            str(base[(n // 2 + 1) % len(base)]),
            "-c",
            "copy",
            "-metadata",
            "comment=changed",
            str(changed),
        )
    shutil.copyfile(REPO / "projects" / "kitsune-dawn" / "assets" / "score.wav", root / "score.wav")
    shots = "\n".join(
        f"  - {{id: s{k}, subject: 'shot {k}'"
        + (f", transition: {{type: dissolve, duration: {DISSOLVE}}}" if k < n - 1 else "")
        + "}"
        for k in range(n)
    )
    (root / "storyboard.yaml").write_text(
        textwrap.dedent(f"""\
        version: 1
        title: Scale bench ({n} shots)
        output: {{resolution: 720p, aspect: "16:9", fps: 24, file: out/cut.mp4, preset: medium, crf: {CRF}}}
        defaults: {{mode: txt2vid, duration: {SECONDS}}}
        captions: {{sidecars: []}}
        soundtrack: {{music: {{file: score.wav, gain_db: -12, duck: false}}}}
        shots:
        """)
        + shots
        + "\n"
    )
    return root


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


# --- one step, in a process of its own -------------------------------------------------------------------------


def step(kind: str, root: Path) -> dict[str, Any]:
    """Run one step here and return what it cost (this process is a fresh child of the bench)."""
    n = len(list((root / "clips").glob("s*.mp4")))
    paths = [root / "clips" / f"s{k}.mp4" for k in range(n)]
    began = time.perf_counter()
    out: dict[str, Any] = {}
    if kind == "floor":
        ffmpeg(
            *("-i", str(root / "out" / "cut.mp4")),
            *("-c:v", "libx264", "-preset", "medium", "-crf", str(CRF), "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", str(root / "floor.mp4")),
        )
    else:
        project = load_project(root)
        facts = probe(paths[0])  # every clip is 3 s of 720p24 with the same streams
        clips = {f"s{k}": Clip(f"s{k}", p, sha256_file(p), facts) for k, p in enumerate(paths)}
        if kind == "full":
            clear_pieces(project)
        else:
            changed = root / "clips" / "changed.mp4"
            clips[f"s{n // 2}"] = Clip(f"s{n // 2}", changed, sha256_file(changed), facts)
        result = render_cut(project, clips)
        out = {
            "frames": result.frames,
            "duration": result.duration,
            "encoded": len(result.rendered),
            "pieces": len(result.rendered) + len(result.reused),
            "picture": result.picture_seconds,
            "sound": result.sound_seconds,
        }
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return out | {
        "wall": time.perf_counter() - began,
        "cpu": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
        "rss_self": own.ru_maxrss / 1024,
        "rss_child": kids.ru_maxrss / 1024,
    }


def child(kind: str, root: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--step", kind, str(root)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} step failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(n: int, floor: dict[str, Any], full: dict[str, Any], change: dict[str, Any]) -> str:
    rss = max(
        floor["rss_child"], full["rss_child"], full["rss_self"], change["rss_child"], change["rss_self"]
    )
    wall, cpu = full["wall"] / floor["wall"], full["cpu"] / floor["cpu"]
    return "\n".join(
        [
            f"N={n}: cut {full['duration'] / 60:.1f} min ({full['frames']} frames, {full['pieces']} pieces)",
            f"  floor {floor['wall']:.1f} s wall / {floor['cpu']:.1f} s CPU; full render {full['wall']:.1f} s / "
            f"{full['cpu']:.1f} s: {wall:.2f} / {cpu:.2f} x floor "
            f"({'ok' if wall <= TARGETS['floor'] else 'MISSED'} / {'ok' if cpu <= TARGETS['floor'] else 'MISSED'}"
            f", target <= {TARGETS['floor']})",
            f"  one shot changed: {change['wall']:.1f} s wall, {change['encoded']} pieces encoded; picture "
            f"{change['picture']:.1f} s ({change['picture'] / change['wall']:.0%}), sound {change['sound']:.1f} s "
            f"({change['sound'] / change['wall']:.0%}) side by side; {change['wall'] / full['wall']:.2f} x full",
            f"  peak RSS of any process: {rss:.0f} MB (floor's ffmpeg {floor['rss_child']:.0f}, render's largest "
            f"ffmpeg {max(full['rss_child'], change['rss_child']):.0f}, shotlist "
            f"{max(full['rss_self'], change['rss_self']):.0f}; target < {TARGETS['rss_mb']} MB: "
            f"{'ok' if rss < TARGETS['rss_mb'] else 'MISSED'})",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, nargs="+", default=[12, 50, 100, 300])
    ap.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temporary folder)")
    ap.add_argument("--step", nargs=2, metavar=("KIND", "ROOT"), help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.step:
        print(json.dumps(step(opts.step[0], Path(opts.step[1]))))
        return
    work = opts.keep or Path(tempfile.mkdtemp(prefix="shotlist-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"ffmpeg {ffmpeg_version()}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; work in {work}")
    base = base_clips(work)
    for n in opts.shots:
        root = make_film(work, base, n)
        full = child("full", root)
        floor = child("floor", root)  # one pass over the cut just rendered
        change = child("change", root)
        print(report(n, floor, full, change), flush=True)
        if not opts.keep:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
