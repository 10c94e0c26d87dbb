"""The animatic's encode: raw yuv420p frames piped through x264 into an MP4 with a silent AAC track.

The settings make the same frames give the same bytes on any machine: a fixed thread count, a
constant quantiser, bit-exact muxing and no metadata. The fake backend encodes its clips with them too.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from shotlist import durable
from shotlist.backends.animatic.frames import Frame
from shotlist.media import MediaError, ffmpeg_exe
from shotlist.spec import ShotSpec

# The frames are tagged as what they are (limited-range BT.709) on the way in as well as on the way
# out: tags on the output alone make ffmpeg insert a conversion pass that doubles its CPU time.
_BT709 = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
#: The same, as the end of a filter chain for a picture that ffmpeg makes itself (a lavfi source).
AS_BT709 = "format=yuv420p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"


def output_args(fps: int) -> list[str]:
    """ffmpeg's output options for a deterministic H.264 + AAC MP4 at ``fps`` (the file name goes after them)."""
    # x264's output depends on its thread count, so it is fixed, not left to the machine's cores. A
    # constant quantiser, not CRF: with CRF the P-frames of a still keep refining the first frame, a
    # visible "breathing" (and the files are larger).
    video = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "23", "-threads", "2", "-g", str(2 * fps)]
    audio = ["-c:a", "aac", "-b:a", "96k", "-ar", "48000", "-ac", "2"]
    exact = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
    bare = ["-map_metadata", "-1", "-map_chapters", "-1"]
    return [
        *video,
        "-pix_fmt",
        "yuv420p",
        *_BT709,
        *audio,
        *exact,
        *bare,
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]


def encode(
    frames: Iterable[Frame],
    count: int,
    spec: ShotSpec,
    dest: Path,
    progress: Callable[[float], None] | None,
) -> None:
    """Encode ``count`` frames of ``spec``'s size and rate into ``dest`` (nothing is left there on failure).

    ``progress`` gets 0..0.97 as frames go in and 1.0 once the file is in place.
    """
    # The clip is cheap to render again, so its rename is atomic but not fsynced.
    with tempfile.TemporaryFile() as log, durable.replacing(dest, sync=False) as tmp:
        proc = subprocess.Popen(
            _command(spec, count, tmp), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            _feed(proc, frames, count, progress)
            if proc.wait() != 0:
                raise MediaError(f"{spec.shot}: the animatic encode failed: {_last_words(log)}")
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if progress is not None:
        progress(1.0)


def _command(spec: ShotSpec, count: int, out: Path) -> list[str]:
    size, rate = f"{spec.width}x{spec.height}", str(spec.fps)
    frames = [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        size,
        "-framerate",
        rate,
        *_BT709,
        "-i",
        "pipe:0",
    ]
    silence = ["-f", "lavfi", "-t", f"{count / spec.fps:.6f}", "-i", "anullsrc=r=48000:cl=stereo"]
    streams = ["-map", "0:v:0", "-map", "1:a:0", "-frames:v", str(count)]
    quiet = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    return [ffmpeg_exe(), *quiet, *frames, *silence, *streams, *output_args(spec.fps), str(out)]


def _feed(
    proc: subprocess.Popen[bytes],
    frames: Iterable[Frame],
    count: int,
    progress: Callable[[float], None] | None,
) -> None:
    """Write every frame's planes to ffmpeg's stdin, then close it."""
    assert proc.stdin is not None
    try:
        for i, planes in enumerate(frames):
            for plane in planes:
                proc.stdin.write(plane)
            if progress is not None and i % 8 == 0:
                progress(0.97 * i / count)
        proc.stdin.close()
    except BrokenPipeError:  # ffmpeg stopped reading: its exit status and message say why
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()


def _last_words(log: IO[bytes]) -> str:
    """The last lines ffmpeg wrote to ``log``, on one line."""
    log.seek(0)
    message = log.read().decode("utf-8", "replace").strip().splitlines()[-4:]
    return " ".join(message) or "no message"
