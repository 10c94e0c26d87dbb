"""ffmpeg, from the imageio-ffmpeg wheel: finding it, probing media with it, running it with progress.

The wheel ships no ffprobe, so probing reads ffmpeg's own stream report (``ffmpeg -i``) and counts
frames with a stream copy to the null muxer (no decode). Different wheels carry different ffmpeg
versions, so the filters shotlist needs are checked, not assumed (``missing_filters``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from shotlist.errors import ShotlistError

REQUIRED_FILTERS = (
    "xfade",
    "acrossfade",
    "loudnorm",
    "ebur128",
    "drawtext",
    "subtitles",
    "volume",
    "amix",
    "apad",
    "anullsrc",
    "afade",
    "aresample",
    "aformat",
    "atrim",
    "asetpts",
    "adelay",
    "asetnsamples",
    "scale",
    "crop",
    "pad",
    "fps",
    "settb",
    "setsar",
    "format",
    "concat",
)
REQUIRED_ENCODERS = ("libx264", "aac")


class MediaError(ShotlistError):
    """A media file is missing, unreadable or not what it should be; or ffmpeg failed on it."""


class FfmpegUnusable(ShotlistError):
    """$SHOTLIST_FFMPEG names no ffmpeg that runs. Not a MediaError: no input file is to blame, and no
    verdict on one may be kept."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: $SHOTLIST_FFMPEG, else the one the imageio-ffmpeg wheel ships."""
    exe = os.environ.get("SHOTLIST_FFMPEG")
    if exe:
        _check_runs(exe)
        return exe
    known = _known().get("exe")
    if isinstance(known, list) and len(known) == 3 and _signature(str(known[0])) == known[1:]:
        return str(known[0])  # imageio checks the binary by running it: once, not on every command
    import imageio_ffmpeg

    exe = str(imageio_ffmpeg.get_ffmpeg_exe())
    _remember("exe", [exe, *_signature(exe)])
    return exe


@functools.cache
def ffmpeg_version() -> str:
    """The version line of the ffmpeg binary, e.g. ``n9.0.2-17-g2a571b6068-20260930``."""

    def ask() -> str:
        out = _ffmpeg_says("-version")
        m = re.match(r"ffmpeg version (\S+)", out)
        return m.group(1) if m else "unknown"

    return str(_fact("version", ask))


def _check_runs(exe: str) -> None:
    """FfmpegUnusable unless ``exe`` answers ``-version`` as ffmpeg (asked once per binary, as its version)."""

    def ask() -> str:
        if not os.path.exists(exe) or os.path.isdir(exe):
            return "!there is no such file" if not os.path.exists(exe) else "!this is a folder, not a program"
        try:
            out = subprocess.run(
                [exe, "-version"], capture_output=True, text=True, errors="replace", check=False
            )
        except OSError as exc:
            return f"!it does not run: {exc.strerror or exc}"
        m = re.match(r"ffmpeg version (\S+)", out.stdout)
        return (
            m.group(1) if m else f"!it does not answer -version as ffmpeg does (exit status {out.returncode})"
        )

    # a missing file is asked about every time (its signature would be the same when it appears)
    version = ask() if not os.path.isfile(exe) else str(_fact("runs", ask, exe))
    if version.startswith("!"):
        raise FfmpegUnusable(
            f"SHOTLIST_FFMPEG={exe}: {version[1:]}\n"
            "  fix: point SHOTLIST_FFMPEG at an ffmpeg program, or unset it to use the one shotlist ships"
        )


@functools.cache
def available(kind: str) -> frozenset[str]:
    """Names ffmpeg lists for ``-filters`` or ``-encoders``."""

    def ask() -> list[str]:
        names = set()
        for line in _ffmpeg_says(f"-{kind}").splitlines():
            parts = line.split()
            if len(parts) >= 2 and re.fullmatch(r"[A-Z.|]{2,8}", parts[0]):
                names.add(parts[1])
        return sorted(names)

    return frozenset(_fact(kind, ask))


@functools.cache
def xfade_transitions() -> frozenset[str]:
    """The transitions this ffmpeg's xfade knows (older builds have fewer)."""

    def ask() -> list[str]:
        names = re.findall(r"^\s+(\w+)\s+-?\d+\s+\.\.FV", _ffmpeg_says("-h", "filter=xfade"), re.M)
        return sorted(n for n in names if n != "custom")

    return frozenset(_fact("xfade", ask))


# --- what shotlist learnt of its ffmpeg, kept between commands --------------------------------------------
# Asking ffmpeg its version, encoders and filters costs a process each (~15 ms), on every command that
# renders or checks media. The answers are kept per binary (path, size, mtime) in the user's cache
# folder; a lost or unwritable cache only costs asking again.


def _ffmpeg_says(*args: str) -> str:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", *args], capture_output=True, text=True, check=False)
    return out.stdout


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "shotlist" / "ffmpeg.json"


def _signature(path: str) -> list[int]:
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


@functools.cache
def _known() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fact(name: str, ask: Callable[[], Any], exe: str | None = None) -> Any:
    """A fact of this ffmpeg binary (``exe``, else the one in use), asked of it once per binary."""
    exe = exe or ffmpeg_exe()
    key = f"{exe}|{_signature(exe)}"
    facts = _known().get(key)
    if not isinstance(facts, dict) or name not in facts:
        facts = dict(facts) if isinstance(facts, dict) else {}
        facts[name] = ask()
        _remember(key, facts)
    return facts[name]


def _remember(key: str, value: Any) -> None:
    known = _known()
    known[key] = value
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(known), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def missing_filters() -> list[str]:
    """Filters and encoders shotlist needs that this ffmpeg lacks (empty when all are there)."""
    return [f for f in REQUIRED_FILTERS if f not in available("filters")] + [
        e for e in REQUIRED_ENCODERS if e not in available("encoders")
    ]


@dataclass(frozen=True)
class ClipFacts:
    """What a media file is, as probed: the facts the edit and the store need."""

    duration: float  # seconds: frames / fps for video, else the container's duration
    width: int = 0
    height: int = 0
    fps: str = "0"  # a fraction as text ("24", "30000/1001") so it is exact and JSON-friendly
    frames: int = 0
    video_codec: str | None = None
    pix_fmt: str | None = None
    sar: str = "1:1"
    has_audio: bool = False
    audio_codec: str | None = None
    sample_rate: int = 0
    channels: int = 0

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def rate(self) -> Fraction:
        return Fraction(self.fps)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClipFacts:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+)(.*)")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)(.*)")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)")
_SAR = re.compile(r"SAR (\d+:\d+)")
_HZ = re.compile(r"(\d+) Hz")
_LAYOUT = re.compile(r"Hz, ([^,]+)")
_FRAME = re.compile(r"^frame=(\d+)", re.M)
_KNOWN_PIX = re.compile(r"\b(yuv\w+|rgb\w*|bgr\w*|gray\w*|nv12|nv21|pal8|monob|ya8)\b")


def _fps_text(value: str) -> str:
    # ffmpeg prints NTSC rates rounded (29.97); recover the exact 30000/1001 family.
    x = float(value)
    for base in (24, 30, 48, 60, 120):
        if abs(x - base * 1000 / 1001) < 0.006:
            return f"{base * 1000}/1001"
    f = Fraction(value).limit_denominator(1001)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def probe(path: Path, *, count_frames: bool = True) -> ClipFacts:
    """Probe a media file with ffmpeg; MediaError if it is missing or not media."""
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    report = out.stderr
    video = _VIDEO.search(report)
    audio = _AUDIO.search(report)
    if not video and not audio:
        last = report.strip().splitlines()[-1] if report.strip() else "no output"
        raise MediaError(f"{path}: not a video or audio file ({last})")
    d = _DURATION.search(report)
    container = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else 0.0
    facts: dict[str, Any] = {"duration": container}
    if video and "attached pic" not in video.group(2):
        rest = video.group(2)
        size = _SIZE.search(rest)
        fps = _FPS.search(rest)
        sar = _SAR.search(rest)
        pix = _KNOWN_PIX.search(rest)
        facts.update(
            video_codec=video.group(1),
            width=int(size.group(1)) if size else 0,
            height=int(size.group(2)) if size else 0,
            fps=_fps_text(fps.group(1)) if fps else "0",
            sar=sar.group(1) if sar else "1:1",
            pix_fmt=pix.group(1) if pix else None,
        )
        if count_frames:
            try:
                frames = frame_counts([path])[0]
            except MediaError:  # the header reads but the packets do not: no frames to speak of
                frames = 0
            facts["frames"] = frames
            if frames and facts["fps"] != "0":
                facts["duration"] = float(frames / Fraction(facts["fps"]))
    if audio:
        rest = audio.group(2)
        hz = _HZ.search(rest)
        layout = _LAYOUT.search(rest)
        channels = {"mono": 1, "stereo": 2}.get(layout.group(1).strip() if layout else "", 0)
        if not channels and layout:
            m = re.match(r"(\d+)", layout.group(1).strip())
            channels = int(m.group(1)) if m else 2
        facts.update(
            has_audio=True,
            audio_codec=audio.group(1),
            sample_rate=int(hz.group(1)) if hz else 0,
            channels=channels,
        )
    return ClipFacts(**facts)


def sound_problem(path: Path) -> str | None:
    """What keeps the edit from mixing this sound file ("is empty (0 bytes)", …), or None when it is sound."""
    if path.stat().st_size == 0:
        return "is empty (0 bytes)"
    try:
        facts = probe(path, count_frames=False)
    except MediaError:
        return "is not a sound file ffmpeg can read"
    if not facts.has_audio:
        return "has no sound in it"
    try:
        empty = _packet_counts([path], "audio")[0] == 0
    except MediaError:
        return "is damaged: its sound does not read"
    if empty:  # a music bed looped from no samples at all would keep ffmpeg busy forever
        return "has no sound in it (its header names a sound stream, but it holds no samples)"
    return None


def frame_counts(files: Sequence[Path]) -> list[int]:
    """Video frames in each file, counted by one stream-copy pass over all of them (no decode)."""
    return _packet_counts(files, "video")


def _packet_counts(files: Sequence[Path], kind: Literal["video", "audio"]) -> list[int]:
    """Packets of each file's first ``kind`` stream, counted by one stream-copy pass (no decode)."""
    args = [a for f in files for a in ("-i", str(f))] + [
        a for i in range(len(files)) for a in ("-map", f"{i}:{kind[0]}:0")
    ]
    err = run_ffmpeg(
        ["-loglevel", "verbose", *args, "-c", "copy", "-f", "null", "-"],
        what="counting frames" if kind == "video" else "reading the sound",
    )
    counts = {
        int(m.group(1)): int(m.group(2))
        for m in re.finditer(rf"Output stream #0:(\d+) \({kind}\): (\d+) packets muxed", err)
    }
    return [counts.get(i, 0) for i in range(len(files))]


def _child_env() -> dict[str, str]:
    """The environment ffmpeg runs in: ours, with glibc's malloc asked to use transparent huge pages.

    An encoder allocates a few hundred MB of frames as it starts, and a piece of the cut is a short
    encode, so faulting that memory in page by page is a large part of its system time; with huge
    pages (where the kernel gives them on request) it is a third of it. Output bytes do not change, and
    a libc that does not know the setting ignores it.
    """
    env = dict(os.environ)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    if not any(t.startswith("glibc.malloc.hugetlb=") for t in tunables):
        tunables.append("glibc.malloc.hugetlb=1")
    env["GLIBC_TUNABLES"] = ":".join(tunables)
    return env


def run_ffmpeg(
    args: Sequence[str],
    *,
    duration: float | None = None,
    progress: Callable[[float], None] | None = None,
    what: str = "ffmpeg",
    pass_fds: Sequence[int] = (),
) -> str:
    """Run ffmpeg with ``args`` (no binary name); report progress 0..1; return stderr; MediaError on failure.

    Progress comes from ``-progress pipe:1``: ``out_time_us`` (``out_time_ms`` is microseconds too).
    ``pass_fds`` are descriptors the child keeps under the same numbers (inputs read as ``pipe:N``).
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    if progress is not None and duration:
        cmd += ["-progress", "pipe:1", "-nostats"]
    cmd += list(args)
    if progress is None or not duration:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            pass_fds=tuple(pass_fds),
            env=_child_env(),
        )
        if out.returncode != 0:
            raise MediaError(f"{what} failed: {_tail(out.stderr)}")
        return out.stderr
    out = _run_reporting(cmd, duration, progress, pass_fds)
    if out.returncode != 0:
        raise MediaError(f"{what} failed: {_tail(out.stderr)}")
    progress(1.0)
    return out.stderr


def _run_reporting(
    cmd: list[str], duration: float, progress: Callable[[float], None], pass_fds: Sequence[int]
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``, reporting its ``out_time_us`` progress lines while a thread drains its stderr."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        pass_fds=tuple(pass_fds),
        env=_child_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    import threading

    err: list[str] = []
    reader = threading.Thread(
        target=lambda: err.append(proc.stderr.read() if proc.stderr else ""), daemon=True
    )
    reader.start()
    for line in proc.stdout:
        if line.startswith("out_time_us="):
            try:
                us = int(line.split("=", 1)[1])
            except ValueError:
                continue
            progress(min(max(us / 1e6 / duration, 0.0), 1.0))
    proc.wait()
    reader.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, "", "".join(err))


def _tail(stderr: str, lines: int = 6) -> str:
    text = "\n".join(ln for ln in stderr.strip().splitlines()[-lines:])
    return text or "no message from ffmpeg"


def extract_frame(video: Path, at: str | float, dest: Path) -> Path:
    """Write one frame of ``video`` as PNG: ``first``, ``last`` or a time in seconds. Atomic."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp.png")
    if at == "last":
        args = ["-sseof", "-0.5", "-i", str(video), "-update", "1", "-frames:v", "100000"]
    else:
        seconds = 0.0 if at == "first" else float(at)
        args = ["-ss", f"{seconds:.6f}", "-i", str(video), "-frames:v", "1"]
    run_ffmpeg(
        [*args, "-f", "image2", "-c:v", "png", str(tmp)], what=f"extracting frame {at} of {video.name}"
    )
    if not tmp.is_file():
        raise MediaError(f"{video}: no frame at {at}")
    os.replace(tmp, dest)
    return dest
