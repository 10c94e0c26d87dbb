"""Small colour-coded media for tests, made with ffmpeg's lavfi sources (no files checked in).

A clip is a solid colour with a sine tone, so a test can tell from one decoded frame which shot it
came from and from a probe that the sound is there. Everything is tiny (320x180, 1-2 s) to keep
encodes fast. Tests get them through the ``media`` fixture (tests/conftest.py), which encodes each
distinct clip once per session and hands every test its own copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from shotlist.clip import Clip
from shotlist.media import ffmpeg_exe, probe

#: Colours far apart in RGB, so frames from different shots never look alike after compression.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),  # ffmpeg's green is HTML green
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}


def ffmpeg(*args: str) -> str:
    """Run ffmpeg quietly; return stderr; raise CalledProcessError with stderr on failure."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise subprocess.CalledProcessError(out.returncode, args, out.stdout, out.stderr)
    return out.stderr


def make_clip(
    path: Path,
    colour: str = "red",
    *,
    size: str = "320x180",
    fps: int | str = 24,
    seconds: float = 2.0,
    audio: bool = True,
    sample_rate: int = 48000,
    channels: int = 2,
    tone: int = 440,
) -> Path:
    """An H.264 MP4 of one colour (plus a sine tone unless ``audio=False``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["-f", "lavfi", "-i", f"color=c={colour}:s={size}:r={fps}:d={seconds}"]
    if audio:
        layout = "mono" if channels == 1 else "stereo"
        args += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={tone}:sample_rate={sample_rate}:duration={seconds}",
            "-af",
            f"aformat=channel_layouts={layout}",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    ffmpeg(*args)
    return path


def make_tone(path: Path, *, seconds: float = 4.0, frequency: int = 220, sample_rate: int = 44100) -> Path:
    """An audio-only file (a sine), e.g. a music bed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={frequency}:sample_rate={sample_rate}:duration={seconds}",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        str(path),
    )
    return path


def clip_of(shot: str, path: Path) -> Clip:
    """The Clip the edit consumes: file, sha256 and probed facts."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Clip(shot=shot, path=path, sha256=digest, facts=probe(path))


def ffmpeg_log(*args: str) -> str:
    """ffmpeg's log at level info: what a measuring filter (showinfo, psnr, volumedetect) prints."""
    return ffmpeg("-loglevel", "info", *args)


def raw_frame(video: Path, seconds: float, *vf: str) -> bytes:
    """The frame shown at ``seconds`` as raw RGB bytes, after the filters ``vf`` if any."""
    filters = ["-vf", ",".join(vf)] if vf else []
    args = ["-ss", f"{seconds:.4f}", "-i", str(video), "-frames:v", "1", *filters]
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        *args,
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def frame_rgb(video: Path, seconds: float) -> tuple[int, int, int]:
    """Mean RGB of the frame shown at ``seconds`` (decoded by ffmpeg, scaled to one pixel)."""
    r, g, b = raw_frame(video, seconds, "scale=1:1:flags=area")[:3]
    return r, g, b


def near(rgb: tuple[int, int, int], colour: str, tolerance: int = 40) -> bool:
    """Whether a decoded colour is ``colour`` within ``tolerance`` per channel (compression, YUV rounding)."""
    want = COLOURS[colour]
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, want, strict=True))


def wav(path: Path, source: str) -> Path:
    """A 48 kHz stereo PCM file from a lavfi audio source (``sine=f=300:d=0.5``, ``anoisesrc=d=4``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", source, "-ac", "2", "-ar", "48000", str(path))
    return path


class Media:
    """Media files in one test's folder (what the ``media`` fixture gives).

    A clip with the same options is encoded once per session into ``cache`` and copied from there:
    the edit and sound tests ask for the same few colours over and over.
    """

    def __init__(self, folder: Path, cache: Path) -> None:
        self.folder = folder
        self.cache = cache

    def clip(self, colour: str = "red", *, name: str | None = None, **options: Any) -> Path:
        """A copy of ``make_clip(colour, **options)`` at ``folder/NAME.mp4`` (NAME defaults to the colour)."""
        recipe = json.dumps([colour, options], sort_keys=True)
        cached = self.cache / f"{hashlib.sha256(recipe.encode()).hexdigest()[:16]}.mp4"
        if not cached.exists():
            make_clip(cached.with_suffix(".part.mp4"), colour, **options).rename(cached)
        dest = self.folder / f"{name or colour}.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, dest)
        return dest

    def shot(self, shot: str, colour: str = "red", **options: Any) -> Clip:
        """The Clip of shot ``shot``: a ``colour`` clip probed as the edit consumes it."""
        return clip_of(shot, self.clip(colour, name=shot, **options))

    def sound(self, name: str, source: str) -> Path:
        """``folder/NAME.wav`` from a lavfi audio source (PCM: nothing to encode)."""
        return wav(self.folder / f"{name}.wav", source)
