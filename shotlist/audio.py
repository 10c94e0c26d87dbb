"""The cut's sound: one pass over the whole timeline, loudness-normalised, never segmented.

Audio is never segmented (per-segment AAC clicks and drifts at the joins): loudness belongs to the
whole programme. Every time is counted in samples at 48 kHz on the cut's own grid: item k spans samples
[round(start_k·R/fps), round(end_k·R/fps)), so the sound lasts exactly as long as the picture, to the sample.

What makes it cheap at any length: each shot's own sound is decoded, trimmed, padded and given its gain
and its crossfade ramps once, and kept by content (``ShotSound.key``) as raw samples, so a change to one
shot decodes one shot. The shots are laid on two tracks, even and odd, which never overlap (every shot
is on screen on its own for a frame), and the two are summed: where the picture dissolves, one shot's
fade-out and the next one's fade-in add up to a crossfade. Python streams both tracks into the one mix
pass, which also measures the loudness; the encode applies the measured gain.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING

from shotlist.cut import AudioResult
from shotlist.media import ClipFacts, MediaError, ffmpeg_exe, ffmpeg_version, probe, run_ffmpeg
from shotlist.spec import sha256_json
from shotlist.timeline import Timeline

if TYPE_CHECKING:
    from shotlist.clip import Clip
    from shotlist.store import Derived

RATE = 48000
STEREO = f"aresample={RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
#: Bytes per sample frame of the kept shot sounds: two channels of 32-bit float.
FRAME_BYTES = 8
DUCK_RAMP = Fraction(
    15, 100
)  # seconds: the music is already down when a line starts, and comes back after it
AAC_FRAME = Fraction(1024, RATE)
#: Bumped when the filters a shot's sound or the mix is made with change (kept sounds are then remade).
RECIPE = 1
#: Shots decoded by one ffmpeg process: enough to amortise its start, few enough to bound its memory.
DECODE_BATCH = 16


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


# --- each shot's own sound ------------------------------------------------------------------------


@dataclass(frozen=True)
class ShotSound:
    """One item's sound on the cut: its samples [at, at + n), with linear ramps over the overlaps with
    its neighbours (``fade_in`` samples at its head, ``fade_out`` at its tail): the crossfades."""

    item: int
    at: int
    n: int
    first: int  # first sample used of the clip's sound (the trim)
    fade_in: int
    fade_out: int
    key: str | None  # what the samples are made of; None: silence (a muted shot, or a clip without sound)


def sound_identity(cache: Path) -> Callable[[Clip], str]:
    """What a clip's sound is, apart from its picture: sha256 of its first audio stream's packets (a stream
    copy, no decode) with the stream's codec, rate and channels, kept in ``cache`` by the clip's hash.

    Two takes of a silent previz, or a re-pick with the same sound, are then the same sound: a change
    to the picture alone renders no sound again.
    """

    def identity(clip: Clip) -> str:
        from shotlist import durable, salvage

        memo = cache / clip.sha256
        known = salvage.read_cache(
            memo, lambda raw: raw.decode("ascii").strip() or None, "a sound's identity"
        )
        if known:
            return str(known)
        hashed = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(clip.path), "-map", "0:a:0", "-c", "copy"]
            + ["-f", "hash", "-hash", "sha256", "-"],
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        m = re.search(r"SHA256=([0-9a-f]{64})", hashed.stdout)  # unreadable: the clip's own hash stands
        f = clip.facts
        found = sha256_json(
            {
                "packets": m.group(1) if m else clip.sha256,
                "codec": f.audio_codec,
                "rate": f.sample_rate,
                "channels": f.channels,
            }
        )
        try:
            durable.write_text(memo, found + "\n", sync=False)  # a lost entry costs one stream copy
        except OSError:
            pass
        return found

    return identity


def shot_sounds(timeline: Timeline, identity: Callable[[Clip], str] | None = None) -> list[ShotSound]:
    """Every item's sound, where it sits and what it is made of; pure but for ``identity`` (what a clip's
    sound is: its hash by default, ``sound_identity`` to tell its sound apart from its picture)."""
    items, out = timeline.items, []
    for k, item in enumerate(items):
        at = samples(timeline.seconds(item.start))
        end = samples(timeline.seconds(item.end))
        fade_in = (
            samples(timeline.seconds(items[k - 1].end)) - at if k and items[k - 1].transition_frames else 0
        )
        fade_out = end - samples(timeline.seconds(items[k + 1].start)) if item.transition_frames else 0
        first = samples(Fraction(item.src_in, timeline.fps))
        key = None
        if item.clip.facts.has_audio and item.audio.mix == "keep":
            key = sha256_json(
                {
                    "recipe": RECIPE,
                    "ffmpeg": ffmpeg_version(),
                    "clip": identity(item.clip) if identity else item.clip.sha256,
                    "first": first,
                    "samples": end - at,
                    "gain_db": item.audio.gain_db,
                    "fade": [fade_in, fade_out],
                }
            )
        out.append(ShotSound(k, at, end - at, first, fade_in, fade_out, key))
    return out


def decode_sounds(timeline: Timeline, sounds: list[ShotSound], kept: Derived) -> None:
    """Decode and conform the shots' sounds that ``kept`` lacks, several shots per ffmpeg process."""
    todo = {s.key: s for s in sounds if s.key is not None and kept.get(s.key) is None}
    batch = list(todo.values())
    for lo in range(0, len(batch), DECODE_BATCH):
        _decode(timeline, batch[lo : lo + DECODE_BATCH], kept)


def _decode(timeline: Timeline, batch: list[ShotSound], kept: Derived) -> None:
    inputs: list[str] = []
    chains: list[str] = []
    outputs: list[str] = []
    made = []
    for i, s in enumerate(batch):
        item = timeline.items[s.item]
        inputs += ["-i", str(item.clip.path)]
        # apad then atrim: a clip whose sound is shorter than its picture still fills its frames, so
        # nothing after it drifts (editly #327).
        filters = [
            STEREO,
            f"atrim=start_sample={s.first}",
            "asetpts=PTS-STARTPTS",
            f"apad=whole_len={s.n}",
            f"atrim=end_sample={s.n}",
            f"volume={item.audio.gain_db}dB",
        ]
        if s.fade_in:
            filters.append(f"afade=t=in:ns={s.fade_in}:curve=tri")
        if s.fade_out:
            filters.append(f"afade=t=out:start_sample={s.n - s.fade_out}:ns={s.fade_out}:curve=tri")
        chains.append(f"[{i}:a:0]{','.join(filters)}[s{i}]")
        assert s.key is not None
        scratch = kept.scratch(s.key)
        made.append((s, scratch))
        outputs += ["-map", f"[s{i}]", "-c:a", "pcm_f32le", "-f", "f32le", str(scratch)]
    try:
        run_ffmpeg([*inputs, "-filter_complex", ";".join(chains), *outputs], what="decoding the shots' sound")
    except MediaError as exc:
        for _, scratch in made:
            scratch.unlink(missing_ok=True)
        named = [timeline.items[s.item] for s in batch if str(timeline.items[s.item].clip.path) in str(exc)]
        if named:
            raise MediaError(f"shot '{named[0].shot}': cannot read the sound of its clip: {exc}") from None
        raise
    for s, scratch in made:
        data = scratch.read_bytes()
        if len(data) != s.n * FRAME_BYTES:
            scratch.unlink(missing_ok=True)
            raise MediaError(
                f"shot '{timeline.items[s.item].shot}': its sound decoded to {len(data) // FRAME_BYTES} samples "
                f"instead of {s.n}"
            )
        silent = data.count(0) == len(data)
        if silent:  # a silent track (an animatic's) is kept as its length alone
            scratch.write_bytes(b"")
        assert s.key is not None
        kept.add(s.key, scratch, samples=s.n, silent=silent)


def _track(sounds: list[ShotSound], kept: Derived | None, total: int, out: IO[bytes]) -> None:
    """Write one track of raw samples: each sound at its place, silence around."""
    zeros = bytes(1 << 20)

    def silence(n: int) -> None:
        n *= FRAME_BYTES
        while n > 0:
            out.write(zeros[: min(n, len(zeros))])
            n -= len(zeros)

    pos = 0
    for s in sounds:
        silence(s.at - pos)
        record = kept.record(s.key) if kept is not None and s.key is not None else None
        if record is None or record.get("silent"):
            silence(s.n)
        else:
            with open(kept.path(s.key), "rb") as f:  # type: ignore[union-attr, arg-type]
                shutil.copyfileobj(f, out, 1 << 20)
        pos = s.at + s.n
    silence(total - pos)


@contextmanager
def _tracks(sounds: list[ShotSound], kept: Derived | None, total: int) -> Iterator[tuple[int, int]]:
    """Two pipes carrying the even and the odd shots' sounds, written by two threads; their read ends."""
    ends, threads = [], []
    for parity in (0, 1):
        r, w = os.pipe()
        ends.append(r)
        part = [s for s in sounds if s.item % 2 == parity]

        def write(w: int = w, part: list[ShotSound] = part) -> None:
            try:
                with os.fdopen(w, "wb") as f:
                    _track(part, kept, total, f)
            except BrokenPipeError:  # ffmpeg stopped reading (it failed; its error is raised)
                pass

        threads.append(threading.Thread(target=write, daemon=True))
    for t in threads:
        t.start()
    try:
        yield ends[0], ends[1]
    finally:
        for r in ends:
            os.close(r)
        for t in threads:
            t.join()


class _Graph:
    """The ffmpeg inputs and filter chains of the mix, added in order; inputs 0 and 1 are the two tracks."""

    TRACKS = 2

    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.chains: list[str] = []
        self.labels = 0

    def input(self, path: Path, *, loop: bool = False) -> int:
        self.inputs += [*(["-stream_loop", "-1"] if loop else []), "-i", str(path)]
        return self.TRACKS + self.inputs.count("-i") - 1

    def chain(self, sources: str, filters: str) -> str:
        self.labels += 1
        label = f"[a{self.labels}]"
        self.chains.append(f"{sources}{filters}{label}")
        return label


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
    """The mix before loudness: ffmpeg input arguments (music, voice-over, effects: inputs 2 on, after the
    two tracks of the shots' sound), the filter graph and its output label. Every file is checked here."""
    g = _Graph()
    total = samples(timeline.duration)
    music = _music(g, timeline, total)
    others = [*([music] if music else []), *_placed(g, timeline)]
    # normalize=0: amix would otherwise scale every input by the number still playing and swell when a
    # voice-over ends; duration=first keeps the cut's length (the tracks are exact). Summing the even and
    # odd tracks is what crossfades the shots' sound under the picture's transitions.
    mix = g.chain(
        "[0:a][1:a]" + "".join(others),
        f"amix=inputs={2 + len(others)}:normalize=0:duration=first:dropout_transition=0",
    )
    fades = []
    if timeline.fade_in:
        fades.append(f"afade=t=in:ns={samples(timeline.seconds(timeline.fade_in))}")
    if timeline.fade_out:
        n = samples(timeline.seconds(timeline.fade_out))
        fades.append(f"afade=t=out:start_sample={total - n}:ns={n}")
    mix = g.chain(mix, ",".join([*fades, f"atrim=end_sample={total}"]))
    return g.inputs, ";".join(g.chains), mix


def sound_key(
    timeline: Timeline, digest: Callable[[Path], str], identity: Callable[[Clip], str] | None = None
) -> str:
    """Everything the finished sound depends on (``digest`` gives a file's content hash): a cut whose
    picture alone changed keeps its sound."""
    music, path = timeline.music, timeline.music_path
    return sha256_json(
        {
            "recipe": RECIPE,
            "ffmpeg": ffmpeg_version(),
            "shots": [[s.at, s.n, s.key] for s in shot_sounds(timeline, identity)],
            "total": samples(timeline.duration),
            "placed": [[p.kind, digest(p.path), str(p.start), p.gain_db] for p in timeline.placed],
            "music": [music.model_dump(mode="json"), digest(path)] if music and path else None,
            "speech": [[str(c.start), str(c.end)] for c in timeline.captions if c.who is not None],
            "fades": [timeline.fade_in, timeline.fade_out, timeline.fps],
            "loudness": [timeline.loudness_lufs, timeline.true_peak_db],
        }
    )


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
    return _ebur128_summary(err, str(path))


def _ebur128_summary(stderr: str, what: str) -> tuple[float, float]:
    summary = stderr[stderr.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if not i or not peak:
        raise MediaError(f"{what}: ebur128 printed no summary")
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
    timeline: Timeline,
    dest: Path,
    *,
    progress: Callable[[float], None] | None = None,
    kept: Derived | None = None,
    identity: Callable[[Clip], str] | None = None,
) -> AudioResult:
    """Render the cut's sound to ``dest`` (AAC in .m4a, exactly the cut's length), normalised to its loudness target.

    ``kept`` keeps each shot's decoded sound between renders (the project's store); without it they
    are decoded into a temporary folder.
    """
    if not timeline.items:
        raise MediaError("the timeline is empty: there is no sound to render")

    def stage(lo: float, hi: float) -> Callable[[float], None] | None:
        return None if progress is None else (lambda x: progress(lo + (hi - lo) * x))

    # Every input is checked (and the graph built) before anything is written.
    inputs, graph, out = mix_graph(timeline)
    sounds = shot_sounds(timeline, identity)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".sound.{os.getpid()}.tmp-") as tmp:
        work = Path(tmp)
        if kept is None:
            from shotlist.store import Derived

            kept = Derived(work / "sounds", ".f32")
        decode_sounds(timeline, sounds, kept)
        mix = work / "mix.wav"
        m = _mix(timeline, sounds, kept, (inputs, graph, out), mix, stage(0.05, 0.6))
        source, gain, kind = _level(timeline, m, mix, work, stage(0.6, 0.75))
        encoded = work / "sound.m4a"
        _encode(source, encoded, gain)
        lufs, peak = measure(encoded)
        if kind != "none" and (abs(lufs - timeline.loudness_lufs) > 0.5 or peak > timeline.true_peak_db):
            # AAC is lossy: on noisy material it can shift loudness by about 1 LU and lift peaks a
            # little. One corrective gain, measured on the encoded file, keeps both promises.
            gain += min(timeline.loudness_lufs - lufs, timeline.true_peak_db - 0.1 - peak)
            _encode(source, encoded, gain)
            lufs, peak = measure(encoded)
        os.replace(encoded, dest)
    if progress is not None:
        progress(1.0)
    return AudioResult(path=dest, lufs=lufs, true_peak_db=peak, normalization_type=kind)


def _mix(
    timeline: Timeline,
    sounds: list[ShotSound],
    kept: Derived,
    graph: tuple[list[str], str, str],
    wav: Path,
    progress: Callable[[float], None] | None,
) -> tuple[float, float]:
    """Mix the whole cut into ``wav`` (float) and measure it in the same pass: (loudness LUFS, true peak dBTP).

    ebur128 measures what loudnorm's first pass would, for a tenth of the work (loudnorm resamples to
    192 kHz); loudnorm itself runs only when a plain gain cannot reach the target (``_level``).
    """
    inputs, chains, out = graph
    raw = ["-f", "f32le", "-ar", str(RATE), "-ch_layout", "stereo"]
    with _tracks(sounds, kept, samples(timeline.duration)) as (even, odd):
        err = run_ffmpeg(
            [
                "-loglevel",
                "info",
                *raw,
                "-i",
                f"pipe:{even}",
                *raw,
                "-i",
                f"pipe:{odd}",
                *inputs,
                "-filter_complex",
                f"{chains};{out}asplit=2[mix][m];[m]ebur128=peak=true:framelog=quiet[measured]",
                "-map",
                "[mix]",
                "-c:a",
                "pcm_f32le",
                str(wav),
                "-map",
                "[measured]",
                "-f",
                "null",
                "-",
            ],
            duration=float(timeline.duration),
            progress=progress,
            what="mixing the sound of the cut",
            pass_fds=(even, odd),
        )
    return _ebur128_summary(err, "the mix")


def _level(
    timeline: Timeline,
    measured: tuple[float, float],
    mix: Path,
    work: Path,
    progress: Callable[[float], None] | None,
) -> tuple[Path, float, str]:
    """What to encode to reach the loudness target: (file, gain in dB, normalisation type)."""
    lufs, peak = measured
    if not math.isfinite(lufs) or lufs < -70:
        return mix, 0.0, "none"  # silence (nothing but muted clips): no loudness to bring to the target
    gain = timeline.loudness_lufs - lufs
    if peak + gain <= timeline.true_peak_db:
        # What loudnorm's linear mode is: one plain gain, the mix keeps its dynamics. Applied in the
        # encode itself, so the sound is read once more, not twice.
        return mix, gain, "linear"
    # The gain would push the true peak over the target: loudnorm rides the gain (dynamic mode, a 3 s
    # look-ahead and a limiter), from its own first pass. It reads a measured LRA of exactly 0 (a
    # steady bed) as "not given"; 0.01 LU is the same measurement to two decimals.
    seconds = float(timeline.duration)
    target = f"I={timeline.loudness_lufs}:TP={timeline.true_peak_db}"
    err = run_ffmpeg(
        ["-i", str(mix), "-af", f"loudnorm={target}:LRA=11:print_format=json", "-loglevel", "info"]
        + ["-f", "null", "-"],
        duration=seconds,
        what="measuring loudness",
    )
    m = _loudnorm_report(err)
    measured_lra = max(float(m["input_lra"]), 0.01)
    lra = min(max(11.0, measured_lra + 0.5), 50.0)
    apply = (
        f"loudnorm={target}:LRA={lra}:measured_I={m['input_i']}:measured_TP={m['input_tp']}"
        f":measured_LRA={measured_lra}:measured_thresh={m['input_thresh']}"
        f":offset={m['target_offset']}:linear=true:print_format=json"
    )
    level = work / "level.wav"
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
        progress=progress,
        what="normalising loudness",
    )
    return level, 0.0, _loudnorm_report(err).get("normalization_type", "unknown")
