"""Exports for editors: every format loads back in OpenTimelineIO with the cut's clips, ranges and length."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest
import typer
from typer.testing import CliRunner

from shotlist.cli import export as export_cli
from shotlist.clip import Clip
from shotlist.export import editor_media, export_timeline
from shotlist.media import ClipFacts
from shotlist.pipeline import BuildOptions, build
from shotlist.storyboard import Music, ShotAudio
from shotlist.timeline import Item, Placed, Timeline
from tests.media_factory import Media
from tests.tiny_project import TinyProjects

FPS = 24


def fake_clip(folder: Path, name: str, seconds: float = 5.0, audio: bool = True) -> Clip:
    """A picked clip as the edit sees it (export reads only its path and probed facts)."""
    facts = ClipFacts(
        duration=seconds,
        width=1280,
        height=720,
        fps="24",
        frames=int(seconds * FPS),
        video_codec="h264",
        has_audio=audio,
        sample_rate=48000 if audio else 0,
        channels=2 if audio else 0,
    )
    return Clip(shot=name, path=folder / f"{name}.mp4", sha256=name * 8, facts=facts)


def three_shots(folder: Path, *, second_transition: str = "wipeleft") -> Timeline:
    """a (96 frames) cross-dissolve 12 → b (100) <second_transition> 13 → c (80) → 251 frames; b is muted."""
    plan = [
        ("a", 96, 12, "fade", "keep"),  # items carry xfade names: `fade` is a cross-dissolve
        ("b", 100, 13, second_transition, "mute"),
        ("c", 80, 0, "cut", "keep"),
    ]
    items, start = [], 0
    for name, length, t, kind, mix in plan:
        items.append(
            Item(
                shot=name,
                clip=fake_clip(folder, name),
                src_in=4,
                length=length,
                start=start,
                fit="cover",
                audio=ShotAudio(mix=mix),
                transition=kind if t else "cut",
                transition_frames=t,
            )
        )
        start += length - t
    return Timeline(fps=FPS, width=1280, height=720, items=items)


def load(path: Path) -> Any:
    found = otio.adapters.read_from_file(str(path), **({"rate": FPS} if path.suffix == ".edl" else {}))
    if isinstance(found, otio.schema.SerializableCollection):  # FCPXML reads back as a library
        found = next(iter(found.find_children(descended_from_type=otio.schema.Timeline)))
    return found


def video(tl: Any) -> Any:
    """The picture track. Hold ``tl`` while using it: OTIO empties a dropped timeline's tracks."""
    return next(t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video)


def frames(t: Any) -> int:
    return round(float(t.to_seconds()) * FPS)


SUFFIX = {"otio": ".otio", "fcpxml": ".fcpxml", "xml": ".xml", "edl": ".edl"}


@pytest.mark.parametrize("fmt", ["otio", "fcpxml", "xml", "edl"])
def test_every_format_loads_back_with_the_cuts_clips_and_length(tmp_path: Path, fmt: str) -> None:
    tl = three_shots(tmp_path)
    dest = tmp_path / "out" / f"cut{SUFFIX[fmt]}"
    export_timeline(tl, dest, fmt)
    back = load(dest)
    track = video(back)
    clips = list(track.find_clips())
    assert [c.name for c in clips] == ["a", "b", "c"]
    assert frames(track.duration()) == tl.frames == 251
    if fmt == "edl":
        # The CMX reader gives a dissolve's incoming clip the outgoing clip's FROM CLIP comment, so
        # read the paths from the file itself.
        text = dest.read_text()
        assert all(f"TO CLIP: {(tmp_path / f'{n}.mp4').as_uri()}" in text for n in "bc")
    else:
        urls = [c.media_reference.target_url for c in clips]
        assert urls == [(tmp_path / f"{n}.mp4").as_uri() for n in "abc"]


def test_transitions_become_handles_cut_at_the_middle_of_each_overlap(tmp_path: Path) -> None:
    tl = three_shots(tmp_path)
    export_timeline(tl, tmp_path / "cut.otio", "otio")
    back = load(tmp_path / "cut.otio")
    track = video(back)
    kinds = [type(c).__name__ for c in track]
    assert kinds == ["Clip", "Transition", "Clip", "Transition", "Clip"]
    a, ab, b, bc, c = list(track)
    # a: frames 4..100 of its file, cut 6 frames before its end (12-frame dissolve: 6 + 6).
    assert (frames(a.source_range.start_time), frames(a.source_range.duration)) == (4, 90)
    assert (frames(ab.in_offset), frames(ab.out_offset)) == (6, 6)
    # b starts 6 frames late, ends 7 early (13-frame wipe: 6 on the A side, 7 on the B side).
    assert (frames(b.source_range.start_time), frames(b.source_range.duration)) == (10, 87)
    assert (frames(bc.in_offset), frames(bc.out_offset)) == (6, 7)
    assert (frames(c.source_range.start_time), frames(c.source_range.duration)) == (10, 74)
    assert bc.metadata["shotlist"]["xfade"] == "wipeleft"
    # The transitions span exactly the frames the render blends: [84, 96) and [171, 184) on the cut.
    assert (
        frames(track.range_of_child(ab).start_time),
        frames(track.range_of_child(ab).end_time_exclusive()),
    ) == (84, 96)
    assert frames(track.range_of_child(bc).start_time) == tl.items[2].start == 171
    # Handles lie inside each file.
    for clip, transition_after in ((a, ab), (b, bc)):
        assert (
            clip.source_range.end_time_exclusive() + transition_after.out_offset
            <= clip.media_reference.available_range.end_time_exclusive()
        )


def test_the_shots_sound_track_leaves_a_gap_where_a_shot_is_muted(tmp_path: Path) -> None:
    tl = three_shots(tmp_path)
    export_timeline(tl, tmp_path / "cut.otio", "otio")
    back = load(tmp_path / "cut.otio")
    sound = next(t for t in back.tracks if t.name == "A1 shots")
    assert [type(c).__name__ for c in sound] == ["Clip", "Gap", "Clip"]
    assert frames(sound.duration()) == 251


def test_music_loops_and_voice_over_lands_on_its_frame(tmp_path: Path, media: Media) -> None:
    tl = three_shots(tmp_path)
    bed, vo = media.sound("bed", "sine=d=4"), media.sound("vo", "sine=d=1.5")  # PCM: no encode
    tl.music, tl.music_path = Music(file="bed.wav", start=1.0), bed
    tl.placed = [
        Placed(kind="voiceover", path=vo, start=Fraction(5, 2), gain_db=-3.0),
        Placed(kind="effect", path=vo, start=Fraction(3), gain_db=0.0),
    ]
    warnings = export_timeline(tl, tmp_path / "cut.otio", "otio")
    assert any("audio levels" in w for w in warnings)
    back = load(tmp_path / "cut.otio")
    tracks = {t.name: t for t in back.tracks}
    music = tracks["A music"]
    # 3 s of the bed from its 1 s mark, then the whole bed again from the top, cut at the cut's end.
    parts = [(frames(c.source_range.start_time), frames(c.source_range.duration)) for c in music]
    assert parts[0][0] == 24 and sum(n for _, n in parts) == 251 and parts[1][0] == 0
    voice = tracks["A2 voice"]
    assert frames(voice.range_of_child(list(voice.find_clips())[0]).start_time) == 60  # 2.5 s
    assert "A3 voice" in tracks  # the effect overlaps the voice-over: its own track


def test_each_format_says_what_it_drops(tmp_path: Path) -> None:
    tl = three_shots(tmp_path)
    assert export_timeline(tl, tmp_path / "cut.otio", "otio") == []
    fcpx = export_timeline(tl, tmp_path / "cut.fcpxml", "fcpxml")
    assert any("drops transitions" in w for w in fcpx)
    assert any(
        "wipeleft" in w and "cross dissolve" in w for w in export_timeline(tl, tmp_path / "cut.xml", "xml")
    )
    edl = export_timeline(tl, tmp_path / "cut.edl", "edl")
    assert any("one video track" in w for w in edl)
    dissolves_only = three_shots(tmp_path, second_transition="fade")
    assert not any("cross dissolve" in w for w in export_timeline(dissolves_only, tmp_path / "d.xml", "xml"))


def test_an_unknown_format_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'aaf'"):
        export_timeline(three_shots(tmp_path), tmp_path / "cut.aaf", "aaf")
    assert not (tmp_path / "cut.aaf").exists()


STORYBOARD = """\
version: 1
title: Two shots
output: {resolution: 64x36, fps: 24, file: out/two.mp4}
defaults: {model: animatic, duration: 2}
shots:
  - id: one
    mode: txt2vid
    framing: wide
    subject: "A red lantern"
    action: "sways slowly in the wind"
    lighting: "soft dusk light"
    transition: {type: dissolve, duration: 0.5}
  - id: two
    mode: txt2vid
    framing: close-up
    subject: "A paper crane"
    action: "rests on a wooden table"
    lighting: "warm lamp light"
"""


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """shotlist (test app with only the export command)."""

    export_cli.register(app)
    return app


def test_export_without_clips_says_which_shots_are_missing(tiny_project: TinyProjects) -> None:
    root = tiny_project(STORYBOARD)
    result = CliRunner().invoke(cli(), ["export", str(root), "--format", "edl"])
    assert result.exit_code != 0
    assert "one, two" in str(result.exception) or "one, two" in result.output
    assert not (root / "out").exists()


@pytest.mark.slow
def test_export_command_writes_the_pinned_cut(tiny_project: TinyProjects) -> None:
    root = tiny_project(STORYBOARD)
    assert build(root, BuildOptions(render=False, yes=True)).ok
    result = CliRunner().invoke(cli(), ["export", str(root), "--format", "xml"])
    assert result.exit_code == 0, result.output
    back = load(root / "out" / "two.xml")
    track = video(back)
    assert len(list(track.find_clips())) == 2
    assert frames(track.duration()) == 48 + 48 - 12
    out = root.parent / "elsewhere.otio"
    assert CliRunner().invoke(cli(), ["export", str(root), "-f", "otio", "-o", str(out)]).exit_code == 0
    again = load(out)
    assert frames(video(again).duration()) == 84


def test_exported_clips_are_named_files_an_editor_imports(tmp_path: Path) -> None:
    obj = tmp_path / "objects" / "ab" / ("ab" * 32)
    obj.parent.mkdir(parents=True)
    obj.write_bytes(b"video bytes")
    clips = {"mask": Clip(shot="mask", path=obj, sha256="ab" * 32, facts=ClipFacts(duration=1.0))}
    linked = editor_media(clips, tmp_path / "out" / "cut.media")
    again = editor_media(clips, tmp_path / "out" / "cut.media")
    assert linked["mask"].path.name == "mask.mp4" and linked["mask"].path.read_bytes() == b"video bytes"
    assert again == linked and linked["mask"].sha256 == "ab" * 32
