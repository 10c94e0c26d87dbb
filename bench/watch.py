"""Benchmark: from saving a one-prompt edit to the new preview cut on disk, with `shotlist watch` running.

    python bench/watch.py [PROJECT] [--edits 5]

Copies the project (default: projects/kitsune-dawn) to a temporary folder, starts the watch (which
makes every shot with the animatic and renders the preview once), then saves ``--edits`` one-prompt
edits one after the other — each changes one shot's subject — and times each from the moment the
file is written to the moment the new preview file is in place. Target: ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import resource
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from shotlist.cut import output_path
from shotlist.load import load_project
from shotlist.watch import Round, watch

ROOT = Path(__file__).resolve().parent.parent


def _more(rounds: Sequence[object], count: int) -> bool:
    """Whether the watch finished a round since ``count`` were done."""
    return len(rounds) > count


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (the ffmpeg runs)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _edit(
    i: int, storyboard: Path, preview: Path, rounds: list[Round], done: threading.Condition
) -> tuple[float, float]:
    """Save edit ``i`` (one shot's subject) and wait for the new preview: the seconds from the save to the
    preview on disk, and the CPU seconds spent meanwhile."""
    text = storyboard.read_text()
    actions = list(re.finditer(r'^    subject: "([^"]*)"$', text, re.M))
    m = actions[i % len(actions)]
    before = preview.stat().st_mtime_ns
    count = len(rounds)
    cpu0 = _cpu()
    new = text[: m.start(1)] + m.group(1).rstrip(".") + f" (take {i + 1})" + text[m.end(1) :]
    saved = time.perf_counter()
    storyboard.write_text(new)
    with done:
        done.wait_for(functools.partial(_more, rounds, count), timeout=120)
    while preview.stat().st_mtime_ns == before and time.perf_counter() - saved < 60:
        time.sleep(0.005)
    return time.perf_counter() - saved, _cpu() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", default=str(ROOT / "projects" / "kitsune-dawn"))
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        shutil.copytree(
            args.project, root, ignore=shutil.ignore_patterns(".shotlist", "out", "shotlist.lock")
        )
        project = load_project(root)
        preview = output_path(project, preview=True)
        rounds: list[Round] = []
        done = threading.Condition()

        def on_round(r: Round) -> None:
            with done:
                rounds.append(r)
                done.notify_all()

        stop = threading.Event()
        began = time.perf_counter()
        thread = threading.Thread(
            target=watch,
            kwargs={"path": root, "say": lambda m: None, "stop": stop, "on_round": on_round},
            daemon=True,
        )
        thread.start()
        with done:
            done.wait_for(lambda: rounds, timeout=600)
        print(
            f"{len(project.shots)} shots; first preview (every shot made) in {time.perf_counter() - began:.1f} s"
        )
        # Edit the shots' subjects in turn (the animatic draws the subject): one prompt changes, one shot is made again.
        storyboard = root / "storyboard.yaml"
        latencies: list[float] = []
        cpu: list[float] = []
        for i in range(args.edits):
            time.sleep(0.5)  # a person types between saves
            latency, used = _edit(i, storyboard, preview, rounds, done)
            latencies.append(latency)
            cpu.append(used)
            r = rounds[-1]
            print(
                f"edit {i + 1}: made {', '.join(r.made) or 'nothing'}; preview on disk {latencies[-1]:.2f} s after "
                f"the save ({cpu[-1]:.2f} CPU s in this process and its ffmpegs; "
                + ", ".join(f"{k} {v:.2f} s" for k, v in r.phases.items())
                + ")"
            )
        stop.set()
        thread.join(timeout=30)
        print(
            f"save → preview: median {statistics.median(latencies):.2f} s (min {min(latencies):.2f}, max "
            f"{max(latencies):.2f}); CPU per save: median {statistics.median(cpu):.2f} s; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()
