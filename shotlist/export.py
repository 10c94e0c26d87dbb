"""The cut for a real editor: an OpenTimelineIO timeline, written as OTIO, FCPXML, FCP 7 XML or an EDL.

xfade overlaps two clips and shortens the cut by the overlap; an OTIO transition does neither, it
plays over the cut point using media beyond the clips' ranges (handles). So each transition of t
frames becomes a cut at the overlap's midpoint: the outgoing clip ends ceil(t/2) frames early, the
incoming one starts floor(t/2) frames late, and a transition with in_offset floor(t/2) (the A side)
and out_offset ceil(t/2) spans exactly the frames the render blends. The handles are media the
render used, so they always exist. Track lengths equal the cut's length to the frame.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import opentimelineio as otio

from shotlist.media import probe
from shotlist.timeline import Item, Timeline, frames_of, on_screen

#: --format → (OTIO adapter, file suffix).
FORMATS: dict[str, tuple[str, str]] = {
    "otio": ("otio_json", ".otio"),
    "fcpxml": ("fcpx_xml", ".fcpxml"),
    "xml": ("fcp_xml", ".xml"),
    "edl": ("cmx_3600", ".edl"),
}
#: xfade transitions that are an editor's cross-dissolve, a plain blend of A into B (the rest are dips,
#: wipes, slides, …; xfade's own `dissolve` is a per-pixel dither, not a cross-dissolve).
DISSOLVES = frozenset({"fade", "fadefast", "fadeslow"})


def _rt(frames: int, fps: int) -> Any:
    return otio.opentime.RationalTime(frames, fps)


def _range(start: int, duration: int, fps: int) -> Any:
    return otio.opentime.TimeRange(_rt(start, fps), _rt(duration, fps))


def _clip(
    name: str, path: Path, source: tuple[int, int], available_s: float, fps: int, metadata: dict[str, Any]
) -> Any:
    ref = otio.schema.ExternalReference(
        target_url=path.resolve().as_uri(),
        available_range=_range(0, max(frames_of(available_s, fps), 1), fps),
    )
    return otio.schema.Clip(
        name=name, media_reference=ref, source_range=_range(*source, fps), metadata={"shotlist": metadata}
    )


def _transition(item: Item, following: Item, fps: int) -> Any:
    a_side = item.transition_frames // 2
    kind = (
        otio.schema.TransitionTypes.SMPTE_Dissolve
        if item.transition in DISSOLVES
        else otio.schema.TransitionTypes.Custom
    )
    return otio.schema.Transition(
        name=f"{item.transition}: {item.shot} → {following.shot}",
        transition_type=kind,
        in_offset=_rt(a_side, fps),
        out_offset=_rt(item.transition_frames - a_side, fps),
        metadata={"shotlist": {"xfade": item.transition}},
    )


def _visible(timeline: Timeline) -> list[tuple[int, int]]:
    """Per item, the source frames it shows on the track: (first frame, count), cut at each overlap's middle."""
    out = []
    for item, (first, end) in zip(timeline.items, on_screen(timeline.items), strict=True):
        if end <= first:
            # An editor's track has no room for a shot its two transitions cover entirely.
            raise ValueError(
                f"shot '{item.shot}' ({item.length} frames) is covered by its transitions; "
                "shorten them to export the cut"
            )
        out.append((item.src_in + first - item.start, end - first))
    return out


def _picture_track(timeline: Timeline, sound: bool) -> Any:
    """V1 (or, with ``sound``, A1: the clips' own sound, a gap where a shot is muted or silent)."""
    fps = timeline.fps
    kind = otio.schema.TrackKind.Audio if sound else otio.schema.TrackKind.Video
    track = otio.schema.Track(name="A1 shots" if sound else "V1", kind=kind)
    visible = _visible(timeline)
    heard = [not sound or (i.clip.facts.has_audio and i.audio.mix == "keep") for i in timeline.items]
    for k, item in enumerate(timeline.items):
        if k and timeline.items[k - 1].transition_frames and heard[k - 1] and heard[k]:
            track.append(_transition(timeline.items[k - 1], item, fps))
        if heard[k]:
            # "role" also keeps the FCP 7 writer from folding the sound clip into a back-reference to
            # the picture clip, which its reader cannot follow when the two tracks' transitions differ.
            meta: dict[str, Any] = {
                "shot": item.shot,
                "sha256": item.clip.sha256,
                "role": "sound" if sound else "picture",
            }
            if sound and item.audio.gain_db:
                meta["gain_db"] = item.audio.gain_db
            track.append(_clip(item.shot, item.clip.path, visible[k], item.clip.facts.duration, fps, meta))
        else:
            track.append(otio.schema.Gap(source_range=_range(0, visible[k][1], fps)))
    return track


def _placed_tracks(timeline: Timeline) -> list[Any]:
    """Voice-over and effects on as many tracks as their overlaps need, each file at its frame."""
    fps, end = timeline.fps, timeline.frames
    lanes: list[tuple[Any, int]] = []  # (track, first free frame)
    for p in sorted(timeline.placed, key=lambda p: p.start):
        start = frames_of(p.start, fps)
        seconds = probe(p.path, count_frames=False).duration
        length = min(frames_of(seconds, fps), end - start)
        if length <= 0:
            continue
        lane = next((n for n, (_, free) in enumerate(lanes) if free <= start), None)
        if lane is None:
            lanes.append(
                (otio.schema.Track(name=f"A{len(lanes) + 2} voice", kind=otio.schema.TrackKind.Audio), 0)
            )
            lane = len(lanes) - 1
        track, free = lanes[lane]
        if start > free:
            track.append(otio.schema.Gap(source_range=_range(0, start - free, fps)))
        track.append(
            _clip(p.path.stem, p.path, (0, length), seconds, fps, {"kind": p.kind, "gain_db": p.gain_db})
        )
        lanes[lane] = (track, start + length)
    return [track for track, _ in lanes]


def _music_track(timeline: Timeline) -> Any | None:
    """The music bed from its start offset, repeated when it loops, cut at the end of the cut."""
    music, path = timeline.music, timeline.music_path
    if music is None or path is None:
        return None
    from shotlist.audio import music_facts

    facts = music_facts(path)
    fps, remaining = timeline.fps, timeline.frames
    whole = frames_of(facts.duration, fps)
    first = min(frames_of(music.start, fps), max(whole - 1, 0))
    track = otio.schema.Track(name="A music", kind=otio.schema.TrackKind.Audio)
    meta = {
        "gain_db": music.gain_db,
        "fade_in": music.fade_in,
        "fade_out": music.fade_out,
        "duck_db": music.duck_db if music.duck else 0,
    }
    while remaining > 0 and whole > first:
        length = min(whole - first, remaining)
        track.append(_clip(path.stem, path, (first, length), facts.duration, fps, meta))
        remaining -= length
        first = 0
        if not music.loop:
            break
    return track


def build_otio(timeline: Timeline, name: str = "shotlist cut") -> Any:
    """The cut as an ``opentimelineio.schema.Timeline``: V1 pictures, A1 their sound, voice-over, music."""
    tl = otio.schema.Timeline(name=name, global_start_time=_rt(0, timeline.fps))
    tl.tracks.append(_picture_track(timeline, sound=False))
    tl.tracks.append(_picture_track(timeline, sound=True))
    for track in _placed_tracks(timeline):
        tl.tracks.append(track)
    music = _music_track(timeline)
    if music is not None:
        tl.tracks.append(music)
    return tl


def _warnings(timeline: Timeline, fmt: str) -> list[str]:
    """What the format leaves out, in sentences the command prints."""
    transitions = [i for i in timeline.items if i.transition_frames]
    out = []
    if fmt == "fcpxml" and transitions:
        out.append(
            f"FCPXML export drops transitions: {len(transitions)} transition(s) become cuts at the middle "
            "of each overlap; add them back in Final Cut Pro"
        )
    others = sorted({i.transition for i in transitions if i.transition not in DISSOLVES})
    if fmt in ("xml", "edl") and others:
        editor = "FCP 7 XML" if fmt == "xml" else "EDL"
        out.append(
            f"{editor} export writes every transition as a cross dissolve, so {', '.join(others)} "
            "will play as dissolves"
        )
    if fmt == "edl" and (
        timeline.placed or timeline.music or any(i.clip.facts.has_audio for i in timeline.items)
    ):
        out.append("an EDL holds one video track: the sound (shots' audio, voice-over, music) is not in it")
    if timeline.fade_in or timeline.fade_out:
        out.append("the fade from/to black at the start/end of the cut is not exported")
    if (
        timeline.music
        or any(p.gain_db for p in timeline.placed)
        or any(i.audio.gain_db for i in timeline.items)
    ):
        if fmt != "edl":
            out.append(
                "audio levels (gains, music fades and ducking, loudness) are not exported: "
                "set them in the editor" + (" (they are in each clip's metadata)" if fmt == "otio" else "")
            )
    return out


def export_timeline(timeline: Timeline, dest: Path, fmt: str) -> list[str]:
    """Write the cut to ``dest`` in ``fmt`` (otio, fcpxml, xml, edl); return what the format could not keep."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not timeline.items:
        raise ValueError("the timeline is empty: there is nothing to export")
    adapter, _ = FORMATS[fmt]
    tl = build_otio(timeline, name=dest.stem)
    if fmt == "edl":
        # The CMX writer reads track 0 only and refuses more than two audio tracks.
        picture = tl.tracks[0].deepcopy()
        tl = otio.schema.Timeline(name=tl.name, global_start_time=tl.global_start_time)
        tl.tracks.append(picture)
    kwargs: dict[str, Any] = {"rate": timeline.fps} if fmt == "edl" else {}
    text = otio.adapters.write_to_string(tl, adapter_name=adapter, **kwargs)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)
    return _warnings(timeline, fmt)


def editor_media(clips: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The clips as files an editor will import: ``<folder>/<shot>.mp4``, hard links into the store.

    Store objects are named by their hash with no suffix, which editors refuse to import. A hard link
    costs no space and keeps the bytes the lock pins; a copy is made where links are not possible.
    """
    import dataclasses
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for shot, clip in clips.items():
        dest = folder / f"{shot}.mp4"
        if not (dest.is_file() and os.path.samefile(dest, clip.path)):
            tmp = folder / f".{shot}.mp4.tmp"
            tmp.unlink(missing_ok=True)
            try:
                os.link(clip.path, tmp)
            except OSError:
                shutil.copyfile(clip.path, tmp)
            os.replace(tmp, dest)
        out[shot] = dataclasses.replace(clip, path=dest.resolve())
    return out
