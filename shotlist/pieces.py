"""The cut's picture as content-keyed pieces: *bodies* (a shot between its transitions) and *seams* (one xfade).

Shot k on the cut spans frames [start_k, end_k). With t_{k-1} frames of transition before it and t_k
after it, its body is frames [start_k + t_{k-1}, end_k - t_k) and the seam after it is the last t_k
frames of shot k crossfaded with the first t_k frames of shot k+1. Bodies and seams tile the cut, so
the cut is their concatenation, and a piece depends only on its own clips: a key made of what goes
into it (clip hashes, trims, conform, transition, fades and captions it overlaps, encoder, ffmpeg)
names its file in the store. Each piece is encoded by itself, from its own clips, so its bytes are a
function of its key alone: a cut joined from stored pieces is byte-identical to a fresh render, whatever
was built before. Editing one shot changes one body and at most two seams; inserting a shot changes
nothing else (keys are content, not positions).

This module is pure (no ffmpeg is run): planning and keys, so they can be tested without encodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from shotlist.spec import sha256_json
from shotlist.timeline import Item, Timeline

#: Bumped when the filters a piece is made with change, so stored pieces of an older recipe are not reused.
#: 2: every piece is its own encode (its bytes depend on its key alone); `dissolve` is a cross-dissolve.
RECIPE = 2
#: Encoder threads per piece. An encoder's output depends on its thread count (x264 and x265 split the
#: motion search by frame threads), so it is fixed, not taken from the machine: the same key gives the
#: same bytes on every machine. Pieces are encoded several at once instead.
THREADS = 2

CODECS = {"h264": "libx264", "h265": "libx265", "av1": "libsvtav1"}
#: SVT-AV1 counts presets 0 (slowest) .. 13; the nearest match for x264's names.
SVT_PRESETS = {
    "ultrafast": 12,
    "superfast": 11,
    "veryfast": 10,
    "faster": 9,
    "fast": 8,
    "medium": 7,
    "slow": 5,
    "slower": 4,
    "veryslow": 3,
    "placebo": 2,
}


@dataclass(frozen=True)
class Encoder:
    """The encode every piece shares. Pieces are joined by stream copy, so they must agree on every
    parameter the decoder reads from the first file only (profile, level, pix_fmt, rate, GOP, time base)."""

    codec: str  # h264 | h265 | av1
    crf: int
    preset: str
    width: int
    height: int
    fps: int

    @property
    def gop(self) -> int:
        return 10 * self.fps  # a keyframe at least every 10 s inside long bodies

    def args(self) -> list[str]:
        """ffmpeg output options for the video stream."""
        common = ["-pix_fmt", "yuv420p", "-r", str(self.fps), "-g", str(self.gop), "-threads", str(THREADS)]
        if self.codec == "h264":
            # stitchable=1: x264 keeps SPS/PPS independent of the content, so separately encoded
            # pieces share the parameter sets the concat demuxer takes from the first file.
            return [
                "-c:v",
                "libx264",
                "-preset",
                self.preset,
                "-crf",
                str(self.crf),
                "-profile:v",
                "high",
                *common,
                "-x264-params",
                "stitchable=1",
            ]
        if self.codec == "h265":
            # Closed GOPs: an open GOP's leading pictures would reference the previous piece.
            return [
                "-c:v",
                "libx265",
                "-preset",
                self.preset,
                "-crf",
                str(self.crf),
                "-profile:v",
                "main",
                *common,
                "-x265-params",
                f"open-gop=0:pools={THREADS}:frame-threads=1:log-level=error",
                "-tag:v",
                "hvc1",
            ]
        if self.codec == "av1":
            preset = SVT_PRESETS.get(self.preset, 8)
            return ["-c:v", "libsvtav1", "-preset", str(preset), "-crf", str(self.crf), *common]
        raise ValueError(f"unknown codec {self.codec!r}")

    def key(self) -> dict[str, Any]:
        return {"args": self.args(), "size": [self.width, self.height]}


@dataclass(frozen=True)
class Source:
    """Frames [first, last) of one item, counted from the item's first frame on the cut."""

    item: int
    first: int
    last: int


@dataclass(frozen=True)
class Piece:
    """A body or a seam: where it sits on the cut, what it is made of, and its content key."""

    kind: str  # body | seam
    label: str  # for people: "body mika", "seam mika>walk"
    start: int  # first frame on the cut
    frames: int
    sources: tuple[Source, ...]  # one for a body; A then B for a seam
    transition: str | None
    key: str

    @property
    def end(self) -> int:
        return self.start + self.frames


@dataclass(frozen=True)
class Overlays:
    """What is drawn over the whole cut: fades to/from black and burned-in captions."""

    fade_in: int = 0  # frames
    fade_out: int = 0
    captions: tuple[tuple[Fraction, Fraction, str, str | None], ...] = ()  # start, end (s), text, who
    captions_style: str = ""  # a digest of the caption style (ASS header); empty when nothing is burned


def plan(timeline: Timeline, encoder: Encoder, overlays: Overlays, ffmpeg: str) -> list[Piece]:
    """The pieces that tile the cut, in order, each with its key. Empty bodies are left out."""
    items = timeline.items
    pieces: list[Piece] = []
    for k, item in enumerate(items):
        before = items[k - 1].transition_frames if k else 0
        after = item.transition_frames
        body = item.length - before - after
        if body > 0:
            src = Source(k, before, before + body)
            pieces.append(
                _piece(
                    "body",
                    f"body {item.shot}",
                    item.start + before,
                    body,
                    (src,),
                    None,
                    timeline,
                    encoder,
                    overlays,
                    ffmpeg,
                )
            )
        if after:
            nxt = items[k + 1]
            srcs = (Source(k, item.length - after, item.length), Source(k + 1, 0, after))
            pieces.append(
                _piece(
                    "seam",
                    f"seam {item.shot}>{nxt.shot}",
                    nxt.start,
                    after,
                    srcs,
                    item.transition,
                    timeline,
                    encoder,
                    overlays,
                    ffmpeg,
                )
            )
    return pieces


def _source_key(item: Item, src: Source) -> dict[str, Any]:
    return {
        "clip": item.clip.sha256,
        "from": item.src_in + src.first,
        "to": item.src_in + src.last,
        "fit": item.fit,
    }


def _piece(
    kind: str,
    label: str,
    start: int,
    frames: int,
    sources: tuple[Source, ...],
    transition: str | None,
    tl: Timeline,
    encoder: Encoder,
    overlays: Overlays,
    ffmpeg: str,
) -> Piece:
    recipe: dict[str, Any] = {
        "recipe": RECIPE,
        "ffmpeg": ffmpeg,
        "encoder": encoder.key(),
        "kind": kind,
        "frames": frames,
        "sources": [_source_key(tl.items[s.item], s) for s in sources],
    }
    if transition is not None:
        recipe["transition"] = transition
    recipe.update(_overlay_key(start, frames, tl, overlays))
    return Piece(kind, label, start, frames, sources, transition, sha256_json(recipe))


def fades(start: int, frames: int, tl: Timeline, overlays: Overlays) -> tuple[bool, bool]:
    """Whether the fade in / fade out of the cut reaches into frames [start, start + frames)."""
    fade_in = overlays.fade_in > 0 and start < overlays.fade_in
    fade_out = overlays.fade_out > 0 and start + frames > tl.frames - overlays.fade_out
    return fade_in, fade_out


def captions_over(
    start: int, frames: int, tl: Timeline, overlays: Overlays
) -> list[tuple[Fraction, Fraction, str, str | None]]:
    """The burned-in caption events shown on any frame of [start, start + frames)."""
    a, b = Fraction(start, tl.fps), Fraction(start + frames, tl.fps)
    return [c for c in overlays.captions if c[0] < b and c[1] > a]


def _overlay_key(start: int, frames: int, tl: Timeline, overlays: Overlays) -> dict[str, Any]:
    """What of the cut-wide overlays lands on this piece, relative to the piece (so a moved piece keeps its key)."""
    out: dict[str, Any] = {}
    fade_in, fade_out = fades(start, frames, tl, overlays)
    if fade_in:
        out["fade_in"] = [-start, overlays.fade_in]
    if fade_out:
        out["fade_out"] = [tl.frames - overlays.fade_out - start, overlays.fade_out]
    shown = captions_over(start, frames, tl, overlays)
    if shown:
        at = Fraction(start, tl.fps)
        out["captions"] = [[str(s - at), str(e - at), text, who] for s, e, text, who in shown]
        out["captions_style"] = overlays.captions_style
    return out
