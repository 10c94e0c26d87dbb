"""Live smoke test: one short real clip from every hosted provider whose keys are set. IT SPENDS MONEY.

A script a person runs by hand, before a release or after a provider changes its API: CI never runs
it against the real providers (tests/test_doctor.py runs it against local fake servers). ``--dry-run`` prints
what a run would cost by the catalog's estimates and spends nothing. Run it from the repository root
with the providers' keys in the environment:

    python scripts/smoke_live.py --dry-run        # the plan and its estimated cost; spends nothing
    python scripts/smoke_live.py [--provider ark --provider veo ...] [--out smoke-out]

For each configured provider it picks the catalog's cheapest text-to-video model (image-to-video with
a generated test card where a provider has no text-to-video), at its shortest duration and its
smallest size from 480p up, and prints the planned clips and their estimated total first. Then it
submits, polls, downloads and probes each clip and prints the file, its probed facts and the cost
(as the provider reported it, else the catalog estimate, marked). Without any key it prints which
keys are missing and exits 0, so it is safe to run anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from shotlist.backends.base import JobState, JobStatus
from shotlist.catalog import ModelEntry, backend_for, catalog, estimate_cost
from shotlist.cli.doctor import missing_keys
from shotlist.media import probe
from shotlist.spec import MediaInput, ShotSpec

PROMPT = (
    "Wide shot of a red paper lantern swaying gently in a night breeze on a quiet street, warm glow, "
    "soft bokeh lights behind it. The camera holds still. Realistic, cinematic lighting."
)
HEIGHTS = {"480p": 480, "512P": 512, "540p": 540, "720p": 720, "720P": 720, "768P": 768, "1080p": 1080}


@dataclass(frozen=True)
class Pick:
    """The clip one provider will make: model, mode, duration, resolution and its estimate."""

    entry: ModelEntry
    mode: str
    duration: float
    resolution: str
    estimate: float


def shortest(entry: ModelEntry) -> float:
    return entry.durations.min if not isinstance(entry.durations, list) else min(entry.durations)


def pick(models: list[ModelEntry]) -> Pick | None:
    """The cheapest clip a provider can make: text-to-video if it has it, else image-to-video."""
    options = []
    for e in models:
        mode = "txt2vid" if "txt2vid" in e.modes else "img2vid" if "img2vid" in e.modes else None
        if mode is None:
            continue
        resolution = e.resolution_for("480p")
        allowed = e.extra.get(f"{mode}_resolutions")  # a size some modes lack (MiniMax: 512P needs an image)
        if allowed and resolution not in allowed:
            resolution = str(allowed[0])
        seconds = shortest(e)
        options.append(Pick(e, mode, seconds, resolution, estimate_cost(e, seconds, resolution)))
    # text-to-video first (no input to prepare), then the cheapest
    return min(options, key=lambda p: (p.mode != "txt2vid", p.estimate), default=None)


def plan(environ: dict[str, str]) -> tuple[list[Pick], dict[str, list[str]]]:
    """The picks for every provider with its keys set, and the missing keys of the others."""
    # One clip per catalog prefix (ark/, volcengine/, veo/...): a provider with two regions and two keys
    # is two providers here.
    providers: dict[str, list[ModelEntry]] = {}
    for e in catalog().values():
        if e.env and e.status != "shutdown" and e.backend:
            providers.setdefault(e.id.split("/")[0], []).append(e)
    picks, missing = [], {}
    for name, models in sorted(providers.items()):
        lacking = missing_keys(models[0], environ)
        if lacking:
            missing[name] = lacking
            continue
        chosen = pick(models)
        if chosen:
            picks.append(chosen)
    return picks, missing


def test_card(path: Path, width: int, height: int) -> MediaInput:
    """A plain picture to start an image-to-video clip from."""
    im = Image.new("RGB", (width, height), (24, 20, 32))
    draw = ImageDraw.Draw(im)
    draw.ellipse((width * 0.4, height * 0.3, width * 0.6, height * 0.75), fill=(200, 40, 30))
    im.save(path)
    return MediaInput(
        role="image",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        width=width,
        height=height,
        path=str(path),
        name="lantern",
    )


def spec_for(p: Pick, workdir: Path) -> ShotSpec:
    aspect = "16:9" if "16:9" in p.entry.aspects or "*" in p.entry.aspects else p.entry.aspects[0]
    w_ratio, h_ratio = (int(x) for x in aspect.split(":"))
    height = HEIGHTS.get(p.resolution, 720)
    width = height * w_ratio // h_ratio // 2 * 2
    inputs = (test_card(workdir / "card.png", width, height),) if p.mode == "img2vid" else ()
    prompt = (
        PROMPT.replace("The camera holds still.", "[Static shot]") if p.entry.dialect == "minimax" else PROMPT
    )
    return ShotSpec(
        shot=f"smoke-{p.entry.provider}",
        backend=p.entry.provider,
        model=p.entry.id,
        mode=p.mode,
        prompt=prompt,
        duration=p.duration,
        width=width,
        height=height,
        aspect=aspect,
        fps=p.entry.fps[0] or 24,
        inputs=inputs,
        params={"camera": {"move": "static", "speed": "slow"}},
    )


async def generate(p: Pick, out: Path, workdir: Path) -> tuple[JobStatus, Path | None, float]:
    """Submit, poll to the end, download: the status, the file (on success) and the wall time."""
    backend = backend_for(p.entry, workdir)
    start = time.monotonic()
    try:
        job = await backend.submit(spec_for(p, workdir))
        print(f"  {p.entry.id}: submitted as {job}", flush=True)
        interval = float(getattr(backend, "poll_interval", 5.0))
        deadline = start + max(600.0, p.entry.latency_s * 5)
        while True:
            status = await backend.poll(job)
            if status.done or time.monotonic() > deadline:
                break
            await asyncio.sleep(interval)
        if status.state is not JobState.SUCCEEDED:
            return status, None, time.monotonic() - start
        dest = out / f"{p.entry.id.replace('/', '_')}.mp4"
        await backend.fetch(job, dest)
        return status, dest, time.monotonic() - start
    finally:
        await backend.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan and its estimated cost; spend nothing"
    )
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        help="only this provider, as the catalog ids begin (ark, volcengine, veo...; repeatable)",
    )
    parser.add_argument("--out", type=Path, default=Path("smoke-out"), help="where the clips go")
    args = parser.parse_args()

    picks, missing = plan(dict(os.environ))
    if args.provider:
        picks = [
            p for p in picks if p.entry.id.split("/")[0] in args.provider or p.entry.provider in args.provider
        ]
    for provider, names in sorted(missing.items()):
        print(f"skip  {provider}: set {', '.join(names)} to include it")
    if not picks:
        print("no provider key is set: nothing to generate (this costs nothing).")
        return 0
    print("plan (catalog estimates):")
    for p in picks:
        print(f"  {p.entry.id:<28} {p.mode} {p.duration:g} s at {p.resolution:<6} ≈ ${p.estimate:.2f}")
    print(f"  total ≈ ${sum(p.estimate for p in picks):.2f}")
    if args.dry_run:
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="shotlist-smoke-") as tmp:
        for p in picks:
            try:
                status, path, wall = asyncio.run(generate(p, args.out, Path(tmp)))
            except Exception as exc:  # one provider's failure must not hide the others' results
                print(f"FAIL  {p.entry.id}: {type(exc).__name__}: {exc}")
                failed += 1
                continue
            cost = (
                f"${status.cost:.4f} (reported)"
                if status.cost is not None
                else f"${p.estimate:.2f} (estimate)"
            )
            if path is None:
                print(f"FAIL  {p.entry.id}: {status.state.value}: {status.message} — cost {cost}")
                failed += 1
                continue
            facts = probe(path)
            print(
                f"ok    {p.entry.id}: {path} {facts.width}x{facts.height} {facts.fps} fps {facts.duration:.2f} s "
                f"{facts.video_codec}{' +audio' if facts.has_audio else ''} in {wall:.0f} s — cost {cost}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
