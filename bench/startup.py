"""How fast the command starts and validates: `shotlist --help`, `--version`, and a 500-shot storyboard.

Targets: --help and --version under 0.3 s; validate of 500 shots under 1 s. Each figure is
the median wall time of several runs of the installed console script in a fresh process, the way a
user meets it. Run: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHOT = """\
  - id: shot-{i:03d}
    mode: {mode}
    framing: close-up
    subject: "A carved kitsune mask, number {i}"
    action: "rests on moss-covered stone"
    scene: "a misty forest at dawn"
    lighting: "soft volumetric light rays through the trees"
    motion: ["leaves drift slowly downward", "mist swirls gently around the stone"]
    still: ["the mask stays fixed in frame"]
    camera: {{move: dolly-in, speed: slow}}
    style: film
    duration: 5
{extra}"""


def storyboard(shots: int) -> str:
    """A valid storyboard of ``shots`` shots that uses every mode, a character, styles and chains."""
    parts = [
        "version: 1\ntitle: Bench\n",
        'styles:\n  film: "35mm film grain, muted palette"\n',
        'characters:\n  mika: {look: "a young woman in a yellow raincoat", ref: assets/mika.png}\n',
        "shots:\n",
    ]
    for i in range(shots):
        mode = ("txt2vid", "img2vid", "ref2vid")[i % 3]
        extra = ""
        if mode == "img2vid":
            source = "assets/frame.png" if i % 2 else f"{{shot: shot-{i - 1:03d}, frame: last}}"
            extra = f"    image: {source}\n"
        elif mode == "ref2vid":
            extra = "    refs: [mika]\n"
        if i < shots - 1:  # a transition joins a shot to the next: the last has none
            extra += "    transition: {type: dissolve, duration: 0.5}\n"
        parts.append(SHOT.format(i=i, mode=mode, extra=extra))
    return "".join(parts)


def make_project(root: Path, shots: int) -> None:
    """The benchmark's project at ``root``: the storyboard of ``shots`` shots and its two images."""
    from PIL import Image

    (root / "assets").mkdir()
    Image.new("RGB", (1280, 720), (40, 60, 90)).save(root / "assets" / "frame.png")
    Image.new("RGB", (512, 512), (200, 160, 40)).save(root / "assets" / "mika.png")
    (root / "storyboard.yaml").write_text(storyboard(shots), encoding="utf-8")


def command() -> list[str]:
    found = shutil.which("shotlist", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "shotlist"]


def median_wall(args: list[str], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of ``runs`` fresh processes.

    CPU time is what the command costs whatever else the machine is doing; wall time is what a user
    waits on this machine now. Both are printed so a figure taken on a busy machine can be read.
    """
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--shots", type=int, default=500)
    ns = parser.parse_args()
    base = command()
    rows = [
        ("shotlist --help", *median_wall(base + ["--help"], ns.runs), 0.3),
        ("shotlist --version", *median_wall(base + ["--version"], ns.runs), 0.3),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        make_project(Path(tmp), ns.shots)
        rows.append(
            (f"shotlist validate ({ns.shots} shots)", *median_wall(base + ["validate", tmp], ns.runs), 1.0)
        )
        rows.append((f"  load_project in-process, warm ({ns.shots} shots)", *_in_process(tmp, ns.runs), 0.0))
    load = os.getloadavg()[0]
    print(
        f"median of {ns.runs} runs; {os.cpu_count()} CPUs, load average {load:.1f}; Python {sys.version.split()[0]}"
    )
    print(f"  {'':<50} {'wall':>8} {'cpu':>8}")
    for name, wall, cpu, target in rows:
        verdict = "" if not target else ("  ok" if wall < target else f"  over the {target:g} s target")
        print(f"  {name:<50} {wall * 1000:5.0f} ms {cpu * 1000:5.0f} ms{verdict}")


def _in_process(folder: str, runs: int) -> tuple[float, float]:
    from shotlist.load import load_project

    load_project(folder)  # imports and image decoding out of the way: what is left is parse + validate
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        load_project(folder)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


if __name__ == "__main__":
    main()
