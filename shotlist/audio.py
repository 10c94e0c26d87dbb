"""The cut's sound: one filter graph over the whole timeline, loudness-normalised in two passes.

Audio is never segmented (per-segment AAC clicks and drifts at the joins). Every time is counted in
samples at 48 kHz on the cut's own grid: item k spans samples [round(start_k·R/fps), round(end_k·R/fps)),
so the clips' audio, trimmed, padded and crossfaded under the video's transitions, lasts exactly as
long as the video, to the sample.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from shotlist.media import ClipFacts, MediaError, probe, run_ffmpeg
from shotlist.timeline import Timeline

RATE = 48000
STEREO = f"aresample={RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
DUCK_RAMP = Fraction(
    15, 100
)  # seconds: the music is already down when a line starts, and comes back after it
AAC_FRAME = Fraction(1024, RATE)


@dataclass(frozen=True)
class AudioResult:
    """The rendered sound of the cut and what an independent pass measured on it."""

    path: Path
    lufs: float  # integrated loudness after normalisation (ebur128)
    true_peak_db: float  # dBTP after normalisation (ebur128 peak=true)
    normalization_type: str  # linear | dynamic (loudnorm fell back) | none (silence: nothing to normalise)


def samples(seconds: Fraction) -> int:
    """Seconds on the cut → a sample index at 48 kHz (round half up, like frames)."""
    return math.floor(seconds * RATE + Fraction(1, 2))


def duck_windows(timeline: Timeline) -> list[tuple[Fraction, Fraction]]:
    """When someone speaks, in seconds on the cut: dialogue captions and voice-over files, merged."""
    spans = [(c.start, c.end) for c in timeline.captions if c.who is not None]
    for p in timeline.placed:
        if p.kind == "voiceover":
            spans.append((p.start, p.start + Fraction(probe(p.path, count_frames=False).duration)))
    merged: list[tuple[Fraction, Fraction]] = []
    # Lines closer than two ramps apart stay ducked between them rather than pumping up and down.
    for a, b in sorted(spans):
        if merged and a - merged[-1][1] <= 2 * DUCK_RAMP:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def duck_expression(windows: list[tuple[Fraction, Fraction]], duck_db: float) -> str:
    """A ``volume`` expression of t: 0 dB, ramping linearly to −duck_db over DUCK_RAMP before each window."""
    r = float(DUCK_RAMP)
    depth = "0"
    for a, b in windows:
        down = f"clip((t-{float(a) - r:.4f})/{r},0,1)"
        up = f"clip(({float(b) + r:.4f}-t)/{r},0,1)"
        depth = f"max({depth},min({down},{up}))"
    return f"pow(10,-{duck_db / 20:.6f}*{depth})"


class _Graph:
    """The ffmpeg inputs and filter chains of one render, added in order."""

    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.chains: list[str] = []
        self.labels = 0

    def input(self, path: Path, *, loop: bool = False) -> int:
        self.inputs += [*(["-stream_loop", "-1"] if loop else []), "-i", str(path)]
        return self.inputs.count("-i") - 1

    def chain(self, sources: str, filters: str) -> str:
        self.labels += 1
        label = f"[a{self.labels}]"
        self.chains.append(f"{sources}{filters}{label}")
        return label


def _clip_sound(g: _Graph, timeline: Timeline) -> str:
    """The clips' own sound: each item trimmed to its frames, crossfaded under transitions, cut at cuts."""
    fps = timeline.fps
    joined = ""
    for k, item in enumerate(timeline.items):
        n = samples(timeline.seconds(item.end)) - samples(timeline.seconds(item.start))
        if item.clip.facts.has_audio and item.audio.mix == "keep":
            i = g.input(item.clip.path)
            first = samples(Fraction(item.src_in, fps))
            # apad then atrim: a clip whose sound is shorter than its picture still fills its frames,
            # so nothing after it drifts (the drift reported in mifi/editly issue #327).
            label = g.chain(
                f"[{i}:a]",
                f"{STEREO},atrim=start_sample={first},asetpts=PTS-STARTPTS,"
                f"apad=whole_len={n},atrim=end_sample={n},volume={item.audio.gain_db}dB",
            )
        else:
            label = g.chain("", f"anullsrc=r={RATE}:cl=stereo,atrim=end_sample={n}")
        if k == 0:
            joined = label
            continue
        prev = timeline.items[k - 1]
        if prev.transition_frames:
            overlap = samples(timeline.seconds(prev.end)) - samples(timeline.seconds(item.start))
            joined = g.chain(f"{joined}{label}", f"acrossfade=ns={overlap}")
        else:
            joined = g.chain(f"{joined}{label}", "concat=n=2:v=0:a=1")
    return joined


def music_facts(path: Path) -> ClipFacts:
    """The music file's probed facts; MediaError naming the file when it has no sound."""
    facts = probe(path, count_frames=False)
    if not facts.has_audio:
        raise MediaError(f"{path}: the music file has no sound (not an audio file)")
    return facts


def _music(g: _Graph, timeline: Timeline, total: int) -> str | None:
    music, path = timeline.music, timeline.music_path
    if music is None or path is None:
        return None
    facts = music_facts(path)
    offset = samples(Fraction(music.start).limit_denominator(10**6))
    available = samples(Fraction(facts.duration).limit_denominator(10**6)) - offset
    if not music.loop and available <= 0:
        raise MediaError(
            f"{path}: the music starts at {music.start} s but the file is only {facts.duration:.2f} s"
        )
    # Without looping the bed ends where the file does; its fade-out belongs there, not at the cut's end.
    heard = total if music.loop else min(total, available)
    i = g.input(path, loop=music.loop)
    filters = [
        STEREO,
        f"atrim=start_sample={offset}:end_sample={offset + heard}",
        "asetpts=PTS-STARTPTS",
        f"volume={music.gain_db}dB",
    ]
    if music.fade_in:
        filters.append(f"afade=t=in:ns={min(samples(Fraction(music.fade_in)), heard)}")
    if music.fade_out:
        n = min(samples(Fraction(music.fade_out)), heard)
        filters.append(f"afade=t=out:start_sample={heard - n}:ns={n}")
    windows = duck_windows(timeline) if music.duck and music.duck_db > 0 else []
    if windows:
        # Gain automation from the known line times, not sidechaincompress: it can start the ramp
        # before a line (a compressor cannot look ahead), it never truncates the bed to the
        # sidechain's length, and the same timeline always gives the same mix.
        filters += [
            "asetnsamples=n=480",
            f"volume=volume='{duck_expression(windows, music.duck_db)}':eval=frame",
        ]
    filters.append(f"apad=whole_len={total}")
    return g.chain(f"[{i}:a]", ",".join(filters))


def _placed(g: _Graph, timeline: Timeline) -> list[str]:
    out = []
    for p in timeline.placed:
        if not probe(p.path, count_frames=False).has_audio:
            raise MediaError(f"{p.path}: the {p.kind} file has no sound (not an audio file)")
        i = g.input(p.path)
        out.append(
            g.chain(f"[{i}:a]", f"{STEREO},volume={p.gain_db}dB,adelay=delays={samples(p.start)}S:all=1")
        )
    return out


def mix_graph(timeline: Timeline) -> tuple[list[str], str, str]:
    """ffmpeg input arguments, the filter graph and its output label for the whole mix, before loudness."""
    g = _Graph()
    total = samples(timeline.duration)
    clips = _clip_sound(g, timeline)
    music = _music(g, timeline, total)
    others = [*([music] if music else []), *_placed(g, timeline)]
    mix = clips
    if others:
        # normalize=0: amix would otherwise scale every input by the number still playing and swell
        # when a voice-over ends; duration=first keeps the cut's length (the clips' track is exact).
        mix = g.chain(
            clips + "".join(others),
            f"amix=inputs={1 + len(others)}:normalize=0:duration=first:dropout_transition=0",
        )
    fades = []
    if timeline.fade_in:
        fades.append(f"afade=t=in:ns={samples(timeline.seconds(timeline.fade_in))}")
    if timeline.fade_out:
        n = samples(timeline.seconds(timeline.fade_out))
        fades.append(f"afade=t=out:start_sample={total - n}:ns={n}")
    mix = g.chain(mix, ",".join([*fades, f"atrim=end_sample={total}"]))
    return g.inputs, ";".join(g.chains), mix


_JSON = re.compile(r"\{[^{}]*\}", re.S)


def _loudnorm_report(stderr: str) -> dict[str, str]:
    found = _JSON.findall(stderr)
    if not found:
        raise MediaError(f"loudnorm printed no measurement: {stderr.strip()[-300:]}")
    report: dict[str, str] = json.loads(found[-1])
    return report


def measure(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of a file, by an ``ebur128=peak=true`` pass."""
    err = run_ffmpeg(
        [
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true:framelog=quiet",
            "-loglevel",
            "info",
            "-f",
            "null",
            "-",
        ],
        what=f"measuring the loudness of {path.name}",
    )
    summary = err[err.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if not i or not peak:
        raise MediaError(f"{path}: ebur128 printed no summary")
    return float(i.group(1)), float(peak.group(1))


def _encode(wav: Path, dest: Path, gain_db: float) -> None:
    run_ffmpeg(
        [
            "-i",
            str(wav),
            *(["-af", f"volume={gain_db:.2f}dB"] if gain_db else []),
            "-c:a",
            "aac",
            "-b:a",
            "192k",
            "-ar",
            str(RATE),
            "-movflags",
            "+faststart",
            str(dest),
        ],
        what="encoding the sound of the cut",
    )


def render_audio(
    timeline: Timeline, dest: Path, *, progress: Callable[[float], None] | None = None
) -> AudioResult:
    """Render the cut's sound to ``dest`` (AAC in .m4a, exactly the cut's length), normalised to its loudness target."""
    if not timeline.items:
        raise MediaError("the timeline is empty: there is no sound to render")
    seconds = float(timeline.duration)

    def stage(lo: float, hi: float) -> Callable[[float], None] | None:
        return None if progress is None else (lambda x: progress(lo + (hi - lo) * x))

    # Every input is checked (and the graph built) before anything is written.
    inputs, graph, out = mix_graph(timeline)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".shotlist-audio-") as work:
        # The mix goes to float WAV once, so the two loudness passes re-read samples, not the graph.
        mix = Path(work) / "mix.wav"
        run_ffmpeg(
            [*inputs, "-filter_complex", graph, "-map", out, "-c:a", "pcm_f32le", "-ar", str(RATE), str(mix)],
            duration=seconds,
            progress=stage(0.0, 0.5),
            what="mixing the sound of the cut",
        )
        target = f"I={timeline.loudness_lufs}:TP={timeline.true_peak_db}"
        err = run_ffmpeg(
            [
                "-i",
                str(mix),
                "-af",
                f"loudnorm={target}:LRA=11:print_format=json",
                "-loglevel",
                "info",
                "-f",
                "null",
                "-",
            ],
            duration=seconds,
            progress=stage(0.5, 0.7),
            what="measuring loudness",
        )
        m = _loudnorm_report(err)
        level = Path(work) / "level.wav"
        if not math.isfinite(float(m["input_i"])) or float(m["input_i"]) < -70:
            # Silence (nothing but muted clips): there is no loudness to bring to the target.
            level, kind = mix, "none"
        else:
            # loudnorm reads a measured LRA of exactly 0 (a steady bed, a tone) as "not given" and goes
            # dynamic (af_loudnorm.c init); 0.01 LU is the same measurement to two decimals.
            measured_lra = max(float(m["input_lra"]), 0.01)
            # linear=true is a plain gain when the measured range and peak allow it; loudnorm falls back
            # to dynamic gain riding otherwise. LRA target ≥ the measured range, so only a true-peak
            # overshoot can force that fallback (reported, not hidden).
            lra = min(max(11.0, measured_lra + 0.5), 50.0)
            apply = (
                f"loudnorm={target}:LRA={lra}:measured_I={m['input_i']}:measured_TP={m['input_tp']}"
                f":measured_LRA={measured_lra}:measured_thresh={m['input_thresh']}"
                f":offset={m['target_offset']}:linear=true:print_format=json"
            )
            # loudnorm works at 192 kHz in dynamic mode; -ar brings the output back to 48 kHz.
            err = run_ffmpeg(
                [
                    "-i",
                    str(mix),
                    "-af",
                    apply,
                    "-loglevel",
                    "info",
                    "-ar",
                    str(RATE),
                    "-c:a",
                    "pcm_f32le",
                    str(level),
                ],
                duration=seconds,
                progress=stage(0.7, 0.85),
                what="normalising loudness",
            )
            kind = _loudnorm_report(err).get("normalization_type", "unknown")
        tmp = Path(work) / "sound.m4a"
        _encode(level, tmp, 0.0)
        lufs, peak = measure(tmp)
        if kind != "none" and (abs(lufs - timeline.loudness_lufs) > 0.5 or peak > timeline.true_peak_db):
            # AAC is lossy: on noisy material it can shift loudness by about 1 LU and lift peaks a
            # little. One corrective gain, measured on the encoded file, keeps both promises.
            gain = min(timeline.loudness_lufs - lufs, timeline.true_peak_db - 0.1 - peak)
            _encode(level, tmp, gain)
            lufs, peak = measure(tmp)
        os.replace(tmp, dest)
    if progress is not None:
        progress(1.0)
    return AudioResult(path=dest, lufs=lufs, true_peak_db=peak, normalization_type=kind)
