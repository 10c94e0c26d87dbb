"""Automatic QC of takes: what ffmpeg's filters see in a clip, and the findings a project's thresholds draw.

A bad frame means regenerating the whole clip, so a take is checked before a person spends attention
on it. ``measure`` decodes the clip once (scaled down: the rules need no detail) through
``blackdetect``, ``freezedetect``, ``scdet`` and ``signalstats`` on the picture and ``silencedetect``
and ``astats`` on the sound, and keeps what they saw at sensitive settings (``QcFacts``, cached by
the clip's hash in ``.shotlist/qc/``). ``judge`` turns those facts into findings with the project's
thresholds (``qc:`` in the storyboard) and what the recipe asked (duration, size, native audio), so
changing a threshold re-judges every take without decoding anything again.

The animatic's previz and cards are drawn, not generated: a still card is meant to be still, so they
are not checked.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from shotlist import durable
from shotlist.media import ClipFacts, MediaError, ffmpeg_exe, probe
from shotlist.storyboard import QcSettings

Level = Literal["error", "warning", "info"]
FACTS_VERSION = 1
UNCHECKED_BACKENDS = frozenset({"animatic"})  # drawn locally: nothing a model could have botched

# Detection runs at sensitive settings; the project's thresholds then decide what is a finding.
_DETECT = (
    "scale=160:-2,"
    "blackdetect=d=0.04:pix_th=0.10,"
    "freezedetect=n=0.003:d=0.2,"
    "scdet=threshold=8,"
    "signalstats,"
    "metadata=print"
)
# 16-bit, as a player hears it: an overshoot decoded from AAC is then clamped to full scale.
_AUDIO = "silencedetect=n=-50dB:d=0.3,aformat=sample_fmts=s16,astats=measure_perchannel=none"


@dataclass(frozen=True)
class QcFacts:
    """What the filters saw in one clip (times in seconds)."""

    duration: float
    width: int
    height: int
    frame_s: float = 0.0  # one frame's length
    black: list[tuple[float, float]] = field(default_factory=list)  # (start, end)
    frozen: list[tuple[float, float]] = field(default_factory=list)
    cuts: list[tuple[float, float]] = field(default_factory=list)  # (time, scdet score 0..100)
    jumps: list[tuple[float, float]] = field(default_factory=list)  # (time, mean-luma change, 0..255)
    has_audio: bool = False
    silence: list[tuple[float, float]] = field(default_factory=list)
    peak_db: float | None = None
    peak_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"version": FACTS_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> QcFacts:
        def pairs(name: str) -> list[tuple[float, float]]:
            return [(float(a), float(b)) for a, b in d.get(name, [])]

        return cls(
            duration=float(d["duration"]),
            width=int(d["width"]),
            height=int(d["height"]),
            frame_s=float(d.get("frame_s", 0.0)),
            black=pairs("black"),
            frozen=pairs("frozen"),
            cuts=pairs("cuts"),
            jumps=pairs("jumps"),
            has_audio=bool(d.get("has_audio")),
            silence=pairs("silence"),
            peak_db=None if d.get("peak_db") is None else float(d["peak_db"]),
            peak_count=int(d.get("peak_count", 0)),
        )


@dataclass(frozen=True)
class QcFinding:
    """One QC rule a take breaks: its id, level, what was seen, and where in the clip."""

    rule: str  # the QC rule's id
    level: Level
    message: str
    at: float | None = None  # seconds into the clip, when the finding is at one moment

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --- measuring ---------------------------------------------------------------------------------------

# Each reads one filter's lines in ffmpeg's log.
_FRAME = re.compile(r"frame:\s*\d+\s+pts:\s*\S+\s+pts_time:([\d.]+)")  # metadata=print: a frame's time
_KEY = re.compile(r"\] (lavfi\.[\w.]+)=(\S+)")  # metadata=print: a key of the frame above
_BLACK = re.compile(r"black_start:([\d.]+) black_end:([\d.]+)")  # blackdetect
_FREEZE = re.compile(r"lavfi\.freezedetect\.freeze_(start|end): ([\d.]+)")  # freezedetect
_SILENCE = re.compile(r"silence_(start|end): (-?[\d.]+)")  # silencedetect
_PEAK_DB = re.compile(r"Peak level dB: (-?[\d.]+|-inf)")  # astats' summary of the whole clip
_PEAK_COUNT = re.compile(r"Peak count: ([\d.]+)")


def measure(path: Path) -> QcFacts:
    """Decode ``path`` once through the QC filters; MediaError when ffmpeg cannot read it."""
    header = probe(path, count_frames=False)
    has_audio = header.has_audio
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-i", str(path)]
    cmd += ["-map", "0:v:0", "-vf", _DETECT, "-f", "null", "-"]
    if has_audio:
        cmd += ["-map", "0:a:0", "-af", _AUDIO, "-f", "null", "-"]
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    if out.returncode != 0:
        raise MediaError(f"QC of {path.name} failed: {out.stderr.strip().splitlines()[-1:]}")
    return _parse(out.stderr, header)


def _parse(log: str, header: ClipFacts) -> QcFacts:
    times: list[float] = []
    luma: list[float] = []
    cuts: list[tuple[float, float]] = []
    score = 0.0
    for line in log.splitlines():
        m = _FRAME.search(line)
        if m:
            times.append(float(m.group(1)))
            continue
        k = _KEY.search(line)
        if k is None or not times:
            continue
        if k.group(1) == "lavfi.signalstats.YAVG":
            luma.append(float(k.group(2)))
        elif k.group(1) == "lavfi.scd.score":
            score = float(k.group(2))
        elif k.group(1) == "lavfi.scd.time":
            cuts.append((float(k.group(2)), round(score, 2)))
    step = (times[-1] - times[0]) / max(len(times) - 1, 1) if times else 0.0
    end = times[-1] + step if times else 0.0
    duration = end or header.duration
    has_audio = header.has_audio
    jumps = [
        (round(times[i], 4), round(luma[i] - luma[i - 1], 2))
        for i in range(1, min(len(times), len(luma)))
        if abs(luma[i] - luma[i - 1]) >= 3.0
    ]
    peak = _PEAK_DB.findall(log)
    counts = _PEAK_COUNT.findall(log)
    return QcFacts(
        duration=round(duration, 4),
        width=header.width,
        height=header.height,
        frame_s=round(step, 6),
        black=[(float(a), float(b)) for a, b in _BLACK.findall(log)],
        frozen=_spans(_FREEZE.findall(log), duration),
        cuts=cuts,
        jumps=jumps,
        has_audio=has_audio,
        silence=_spans(_SILENCE.findall(log), duration) if has_audio else [],
        peak_db=None if not peak or peak[-1] == "-inf" else float(peak[-1]),
        peak_count=int(float(counts[-1])) if counts else 0,
    )


def _spans(marks: Iterable[tuple[str, str]], duration: float) -> list[tuple[float, float]]:
    """(start, end) pairs from a filter's start/end log lines; a span still open at the end runs to it."""
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for kind, value in marks:
        if kind == "start":
            start = max(float(value), 0.0)
        elif start is not None:
            spans.append((start, float(value)))
            start = None
    if start is not None and duration > start:
        spans.append((start, duration))
    return spans


# --- the cache, by clip hash -------------------------------------------------------------------------


def _cache_path(store_dir: Path, sha: str) -> Path:
    return store_dir / "qc" / sha[:2] / f"{sha}.json"


def cached_facts(store_dir: Path, sha: str) -> QcFacts | None:
    """The facts measured earlier for this clip, or None (nothing is decoded)."""
    raw = durable.read_json(_cache_path(store_dir, sha))
    if not isinstance(raw, dict) or raw.get("version") != FACTS_VERSION:
        return None
    try:
        return QcFacts.from_json(raw)
    except (KeyError, TypeError, ValueError):
        return None  # a damaged cache entry only costs a new measurement


def facts_of(store_dir: Path, sha: str, clip: Path) -> QcFacts:
    """The clip's QC facts: from the cache, else measured once and cached."""
    found = cached_facts(store_dir, sha)
    if found is None:
        found = measure(clip)
        try:
            durable.write_json(_cache_path(store_dir, sha), found.to_json(), sync=False)
        except OSError:
            pass  # a lost cache entry only costs time
    return found


def check_stored(store_dir: Path, sha: str, clip: Path, backend: str) -> None:
    """QC a take as it is stored (caching its facts); a QC that cannot run never loses the take."""
    if checked(backend):
        try:
            facts_of(store_dir, sha, clip)
        except MediaError:
            pass  # measured again when the take is listed, and reported there if it still fails


# --- judging -----------------------------------------------------------------------------------------


def judge(facts: QcFacts, recipe: dict[str, Any], qc: QcSettings) -> list[QcFinding]:
    """The findings of one take: its facts against the project's thresholds and what the recipe asked."""
    found = _picture(facts, qc) + _sound(facts, recipe, qc) + _shape(facts, recipe, qc)
    return [f for f in found if f.rule not in qc.ignore]


def _picture(facts: QcFacts, qc: QcSettings) -> list[QcFinding]:
    out: list[QcFinding] = []
    black = facts.black  # all of it: a short black stretch is neither a freeze nor a cut
    for a, b in [(a, b) for a, b in black if b - a >= qc.black_min_s]:
        whole = _whole(facts, a, b)
        what = "the whole clip is black" if whole else f"black {b - a:.1f} s at {a:.1f} s"
        out.append(QcFinding("black", "error" if whole else "warning", what, a))
    for a, b in facts.frozen:
        moving = b - a - sum(max(0.0, min(b, y) - max(a, x)) for x, y in black)  # black is reported as black
        if moving >= qc.freeze_min_s:
            whole = _whole(facts, a, b)
            what = "the picture never moves" if whole else f"frozen {b - a:.1f} s at {a:.1f} s"
            out.append(QcFinding("frozen", "warning", what, a))
    flicker = _flicker(facts, qc, black)
    out += flicker
    edges = [t for span in black for t in span]
    for t, score in facts.cuts:
        near_black = any(abs(t - e) < 0.15 for e in edges)
        in_flicker = any(f.at is not None and f.at - 0.1 <= t <= f.at + 1.1 for f in flicker)
        if score >= qc.splice_score and not near_black and not in_flicker:
            out.append(QcFinding("splice", "error", f"a hard cut inside the clip at {t:.1f} s", t))
    return out


def _whole(facts: QcFacts, start: float, end: float) -> bool:
    """Whether a span covers the clip (a filter may end it at the last frame's start)."""
    slack = max(0.05, 1.5 * facts.frame_s)
    return start <= slack and end >= facts.duration - slack


def _flicker(facts: QcFacts, qc: QcSettings, black: list[tuple[float, float]]) -> list[QcFinding]:
    """Repeated frame-to-frame jumps of the mean luma within one second (a cut or a fade is one jump)."""
    edges = [t for span in black for t in span]
    jumps = [t for t, d in facts.jumps if abs(d) >= qc.flicker_luma and all(abs(t - e) > 0.1 for e in edges)]
    out: list[QcFinding] = []
    i = 0
    while i < len(jumps):
        window = [t for t in jumps[i:] if t - jumps[i] < 1.0]
        if len(window) >= qc.flicker_count:
            out.append(
                QcFinding(
                    "flicker",
                    "warning",
                    f"flicker: {len(window)} luma jumps in 1 s at {jumps[i]:.1f} s",
                    jumps[i],
                )
            )
            i += len(window)
        else:
            i += 1
    return out


def _sound(facts: QcFacts, recipe: dict[str, Any], qc: QcSettings) -> list[QcFinding]:
    out: list[QcFinding] = []
    if recipe.get("audio"):
        quiet = sum(b - a for a, b in facts.silence)
        if not facts.has_audio:
            out.append(
                QcFinding("silent", "error", "native audio was asked for but the clip has no sound track")
            )
        elif facts.duration and quiet >= qc.silent_fraction * facts.duration:
            out.append(
                QcFinding(
                    "silent",
                    "error",
                    f"native audio was asked for but {quiet:.1f} s of {facts.duration:.1f} s is silent",
                )
            )
    if facts.peak_db is not None and facts.peak_db >= -0.1 and facts.peak_count >= qc.clip_samples:
        out.append(
            QcFinding("clipping", "warning", f"the sound clips ({facts.peak_count} samples at full scale)")
        )
    return out


def _shape(facts: QcFacts, recipe: dict[str, Any], qc: QcSettings) -> list[QcFinding]:
    out: list[QcFinding] = []
    asked = recipe.get("duration")
    if isinstance(asked, (int, float)) and abs(facts.duration - asked) > qc.duration_tolerance_s:
        out.append(QcFinding("duration-drift", "warning", f"lasts {facts.duration:.2f} s, asked {asked:g} s"))
    size = recipe.get("size")
    if isinstance(size, list) and len(size) == 2 and facts.width and [facts.width, facts.height] != size:
        w, h = size
        off = abs(facts.width / facts.height - w / h) / (w / h)
        level: Level = "warning" if off > 0.01 else "info"
        out.append(
            QcFinding(
                "shape-drift", level, f"{facts.width}x{facts.height}, asked {w}x{h} (the edit scales it)"
            )
        )
    return out


# --- takes ---------------------------------------------------------------------------------------------


def checked(backend: str) -> bool:
    """Whether takes of this backend are checked (the animatic's drawn previz is not)."""
    return backend not in UNCHECKED_BACKENDS


def rank(findings: list[QcFinding]) -> tuple[int, int, int]:
    """How bad a take's findings are, for ``--pick best``: errors first, then warnings, then infos."""
    return (
        sum(f.level == "error" for f in findings),
        sum(f.level == "warning" for f in findings),
        sum(f.level == "info" for f in findings),
    )


def summary(findings: list[QcFinding]) -> str:
    """Findings as one short line ("frozen 1.2 s at 2.0 s; splice …"), or "ok"."""
    return "; ".join(f.message for f in findings) or "ok"
