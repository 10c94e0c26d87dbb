"""Benchmark: how close the scheduler comes to the ideal wall time when generation is the bottleneck.

    python bench/schedule.py [--shots 24] [--latency 2] [--concurrency 4]

Builds a project of independent shots against the fake backend (every job takes ``--latency``
seconds, at most ``--concurrency`` at once), timing the whole ``build(render=False)``: planning,
submits, polls, downloads, verification and storing included. The ideal is
ceil(shots / concurrency) × latency; the target is ≤ 1.15 × the ideal.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from shotlist.backends.fake import FakeModels
from shotlist.generate import ShotEvent
from shotlist.pipeline import BuildOptions, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shots", type=int, default=24)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "film"
        root.mkdir()
        shots = "".join(
            f'  - id: shot-{i:02d}\n    subject: "A paper lantern number {i}"\n'
            f'    action: "floats slowly upward"\n'
            for i in range(args.shots)
        )
        (root / "storyboard.yaml").write_text(
            "version: 1\ntitle: Lanterns\noutput: {resolution: 64x36, fps: 8}\n"
            "defaults: {model: animatic, duration: 1}\nshots:\n" + shots
        )
        models = FakeModels(Path(tmp) / "jobs", latency=args.latency, concurrency=args.concurrency)
        running = 0
        peak = 0
        started: list[float] = []

        def watch(event: ShotEvent) -> None:
            nonlocal running, peak
            if event.state == "waiting" and not started:
                started.append(time.perf_counter())  # the plan is made: generation starts
            if event.state == "submitted":
                running += 1
                peak = max(peak, running)
            elif event.state == "downloading":
                running -= 1

        t = time.perf_counter()
        result = build(root, BuildOptions(models=models, yes=True, render=False, progress=watch))
        end = time.perf_counter()
        wall, generating = end - t, end - started[0]
        assert result.ok and len(result.made) == args.shots, result.failures
        ideal = math.ceil(args.shots / args.concurrency) * args.latency
        print(
            f"{args.shots} shots, {args.latency:g} s each, {args.concurrency} at once; ideal {ideal:.2f} s "
            f"(target <= 1.15 x); at most {peak} jobs ran at once"
        )
        print(f"  whole build(render=False): {wall:.2f} s, ratio {wall / ideal:.3f}")
        print(
            f"  generation (plan made → last clip stored): {generating:.2f} s, ratio {generating / ideal:.3f}"
        )


if __name__ == "__main__":
    main()
