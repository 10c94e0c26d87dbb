"""The cut's sound, kept by what it is made of: a picture-only change renders no sound again.

The sound is one pass over the whole timeline (mix, two loudness passes, encode): the longest part
of re-rendering a cut after one shot changed. It depends on the clips' *sound*, not their picture,
so it is keyed by a digest of each clip's audio packets (a stream copy, no decode; kept per clip
hash) with everything else the mix reads: where each clip sits, its trim, transitions, gain, the
music, placed audio and the loudness target. A new take of a silent previz, or a re-picked take with
the same sound, reuses the rendered sound. A lost cache entry only costs a render.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shotlist import durable
from shotlist.audio import AudioResult, render_audio
from shotlist.media import ffmpeg_exe
from shotlist.spec import sha256_json
from shotlist.timeline import Item, Timeline

VERSION = 1


def audio_digest(cache: Path, clip_sha: str, clip: Path, has_audio: bool) -> str:
    """sha256 of a clip's first audio stream's packets ("none" without sound), kept by the clip's hash."""
    if not has_audio:
        return "none"
    memo = cache / "audio" / f"{clip_sha}.txt"
    try:
        return memo.read_text().strip()
    except FileNotFoundError:
        pass
    out = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-i",
            str(clip),
            "-map",
            "0:a:0",
            "-c",
            "copy",
            "-f",
            "hash",
            "-hash",
            "sha256",
            "-",
        ],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    m = re.search(r"SHA256=([0-9a-f]{64})", out.stdout)
    digest = m.group(1) if m else f"clip:{clip_sha}"  # unreadable sound: fall back to the whole clip
    try:
        durable.write_text(memo, digest + "\n", sync=False)
    except OSError:
        pass
    return digest


def file_id(path: Path | None) -> Any:
    """A file as a key part: path, size and modification time (an audio file the user may replace)."""
    if path is None:
        return None
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def sound_inputs(timeline: Timeline, clip_id: Callable[[Item], str]) -> dict[str, Any]:
    """What the sound pass reads from the timeline, each clip named by ``clip_id`` (for keys)."""
    m = timeline.music
    return {
        "sound": [
            [
                clip_id(i),
                i.src_in,
                i.length,
                i.start,
                i.transition,
                i.transition_frames,
                i.audio.mix,
                i.audio.gain_db,
            ]
            for i in timeline.items
        ],
        "placed": [[p.kind, file_id(p.path), str(p.start), p.gain_db] for p in timeline.placed],
        "music": [m.model_dump(mode="json") if m else None, file_id(timeline.music_path)],
        "loudness": [timeline.loudness_lufs, timeline.true_peak_db],
    }


def sound_key(timeline: Timeline, cache: Path) -> str:
    """Everything the sound pass reads, with each clip named by its sound alone."""

    def sound_of(i: Item) -> str:
        return audio_digest(cache, i.clip.sha256, i.clip.path, i.clip.facts.has_audio)

    return sha256_json(
        {
            "version": VERSION,
            "fps": timeline.fps,
            "frames": timeline.frames,
            **sound_inputs(timeline, sound_of),
        }
    )


def render_sound(timeline: Timeline, dest: Path, cache: Path) -> AudioResult:
    """The timeline's sound at ``dest``: from ``cache`` when the same sound was rendered before, else rendered."""
    key = sound_key(timeline, cache)
    kept, facts = cache / f"{key}.m4a", cache / f"{key}.json"
    raw = durable.read_json(facts)
    if kept.is_file() and isinstance(raw, dict):
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept, dest)
        return AudioResult(
            path=dest,
            lufs=raw["lufs"],
            true_peak_db=raw["true_peak_db"],
            normalization_type=raw["normalization_type"],
        )
    result = render_audio(timeline, dest)
    try:
        tmp = kept.with_name(f".{kept.name}.{os.getpid()}")
        shutil.copyfile(dest, tmp)
        os.replace(tmp, kept)
        durable.write_text(
            facts,
            json.dumps(
                {
                    "lufs": result.lufs,
                    "true_peak_db": result.true_peak_db,
                    "normalization_type": result.normalization_type,
                }
            ),
            sync=False,
        )
    except OSError:
        pass  # the next render renders it again
    return result
