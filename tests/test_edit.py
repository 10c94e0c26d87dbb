"""The edit: the rendered cut is what the storyboard plans, and a re-render encodes only what changed."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from shotlist.clip import Clip
from shotlist.edit import clear_pieces, render_cut
from shotlist.errors import StoryboardError
from shotlist.load import Project, load_project
from shotlist.media import ClipFacts, MediaError, available, probe, xfade_transitions
from shotlist.pieces import Encoder, Overlays, plan
from shotlist.storyboard import XFADE_TRANSITIONS
from shotlist.timeline import assemble
from tests.media_factory import Media, ffmpeg_log, frame_rgb, near, raw_frame
from tests.tiny_project import TinyProjects, edit_storyboard

FPS = 24
CutProject = Callable[..., Project]
ColourProject = Callable[..., tuple[Project, dict[str, Clip]]]


@pytest.fixture
def cut_project(tiny_project: TinyProjects) -> CutProject:
    """Call it with shots (and storyboard keys) for a loaded project: ``cut_project([{"id": "a"}])``."""

    def make(shots: list[dict[str, Any]], *, name: str = "film", **top: Any) -> Project:
        return load_project(tiny_project(edit_storyboard(shots, **top), name=name))

    return make


@pytest.fixture
def colour_project(cut_project: CutProject, media: Media) -> ColourProject:
    """Call it with colours for a project of one 2 s shot per colour, each a clip of that colour with its
    own tone, joined by ``transition``: ``project, clips = colour_project(["red", "blue"], "dissolve")``."""

    def make(
        colours: list[str], transition: Any = None, *, name: str = "film", **top: Any
    ) -> tuple[Project, dict[str, Clip]]:
        joined = {"transition": transition} if transition else {}
        shots = [{"id": c, **(joined if k < len(colours) - 1 else {})} for k, c in enumerate(colours)]
        project = cut_project(shots, name=name, **top)
        return project, {c: media.shot(c, c, tone=300 + 100 * k) for k, c in enumerate(colours)}

    return make


def frames_pts(video: Path) -> list[float]:
    """pts_time of every video frame, in display order."""
    log = ffmpeg_log("-i", str(video), "-map", "0:v:0", "-vf", "showinfo", "-f", "null", "-")
    return [float(x) for x in re.findall(r"pts_time:\s*([\d.]+)", log)]


def stream_duration(video: Path, stream: str) -> float:
    """Duration of one stream (``v`` or ``a``), from the timestamps a stream copy reports."""
    log = ffmpeg_log("-i", str(video), "-map", f"0:{stream}:0", "-c", "copy", "-f", "null", "-")
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", log)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def psnr(a: Path, b: Path) -> float:
    log = ffmpeg_log("-i", str(a), "-i", str(b), "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-")
    value = re.findall(r"average:(\S+)", log)[-1]
    return float("inf") if value == "inf" else float(value)


# --- quick: names and plans ---------------------------------------------------------------------------------


def test_xfade_transition_names_are_the_ones_the_binary_knows() -> None:
    assert set(XFADE_TRANSITIONS) == xfade_transitions()


def test_an_unknown_transition_is_reported_with_a_suggestion(cut_project: CutProject) -> None:
    with pytest.raises(StoryboardError) as caught:
        cut_project([{"id": "a", "transition": "disolve"}, {"id": "b"}])
    assert "shots[0].transition.type: 'disolve' is not a transition — did you mean 'dissolve'?" in str(
        caught.value
    )


def test_dissolve_is_a_cross_dissolve_and_xfades_dither_is_called_dither(cut_project: CutProject) -> None:
    names = {"dissolve": "fade", "dither": "dissolve", "dip-to-black": "fadeblack", "wipeleft": "wipeleft"}
    project = cut_project(
        [{"id": f"s{k}", "transition": name} for k, name in enumerate(names)] + [{"id": "end"}]
    )
    tl = assemble(project, {s.id: _fake_clip(s.id, s.id * 8) for s in project.shots})
    assert [i.transition for i in tl.items] == [*names.values(), "cut"]


def _fake_clip(shot: str, digest: str) -> Clip:
    facts = ClipFacts(duration=2.0, width=320, height=180, fps="24", frames=48, video_codec="h264")
    return Clip(shot=shot, path=Path(f"/nowhere/{digest}.mp4"), sha256=digest, facts=facts)


def _keys(project: Project, digests: dict[str, str]) -> dict[str, str]:
    clips = {s.id: _fake_clip(s.id, digests[s.id]) for s in project.shots}
    tl = assemble(project, clips)
    enc = Encoder(codec="h264", crf=20, preset="medium", width=320, height=180, fps=FPS)
    return {p.label: p.key for p in plan(tl, enc, Overlays(), "ffmpeg-test")}


def test_changing_one_clip_changes_one_body_and_its_two_seams(cut_project: CutProject) -> None:
    project = cut_project([*({"id": i, "transition": "dissolve"} for i in "abc"), {"id": "d"}])
    before = _keys(project, {i: i * 8 for i in "abcd"})
    after = _keys(project, {**{i: i * 8 for i in "abcd"}, "b": "changed"})
    assert sorted(before) == ["body a", "body b", "body c", "body d", "seam a>b", "seam b>c", "seam c>d"]
    changed = sorted(label for label in before if before[label] != after[label])
    assert changed == ["body b", "seam a>b", "seam b>c"]


def test_inserting_a_shot_leaves_the_other_pieces_keys_alone(cut_project: CutProject) -> None:
    # Keys are content, not positions: everything after the insertion moves on the cut but is reused.
    b = {"id": "b", "transition": "dissolve"}
    three = cut_project([{"id": "a"}, b, {"id": "c"}], name="3")
    four = cut_project([{"id": "a"}, {"id": "new"}, b, {"id": "c"}], name="4")
    digests = {"a": "1" * 8, "b": "2" * 8, "c": "3" * 8, "new": "4" * 8}
    old, new = _keys(three, digests), _keys(four, digests)
    assert set(old.values()) <= set(new.values())
    assert [label for label in new if new[label] not in old.values()] == ["body new"]


# --- slow: real encodes --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_cut_has_the_planned_length_size_rate_and_sound_and_each_shot_its_colour(
    colour_project: ColourProject,
) -> None:
    project, clips = colour_project(["red", "green", "blue"], {"type": "dissolve", "duration": 0.5})
    result = render_cut(project, clips)
    facts = probe(result.path)
    # 3 × 48 frames − 2 × 12 frames of dissolve.
    assert result.frames == facts.frames == 120
    assert abs(facts.duration - 5.0) <= 1 / FPS
    assert (facts.width, facts.height, facts.rate) == (320, 180, Fraction(FPS))
    assert facts.has_audio and facts.audio_codec == "aac"
    assert abs(stream_duration(result.path, "a") - 5.0) <= 1 / FPS
    for colour, at in (("red", 0.5), ("green", 2.0), ("blue", 4.5)):
        assert near(frame_rgb(result.path, at), colour), (colour, frame_rgb(result.path, at))
    # Halfway through the red→green dissolve (frames 36..47): a blend, neither colour.
    r, g, b = frame_rgb(result.path, 42 / FPS)
    assert 60 < r < 200 and 30 < g < 100 and b < 60, (r, g, b)
    assert not list(result.path.parent.glob(".*")), "temporary files left beside the cut"


@pytest.mark.slow
def test_wipes_slides_and_fades_to_black_and_white_render(colour_project: ColourProject) -> None:
    project, clips = colour_project(
        ["red", "green"],
        {"type": "fadewhite", "duration": 1.0},
        output={
            "resolution": "320x180",
            "fps": FPS,
            "file": "out/cut.mp4",
            "preset": "ultrafast",
            "fade_in": 0.5,
            "fade_out": 0.5,
        },
    )
    result = render_cut(project, clips)
    assert result.frames == 72
    assert min(frame_rgb(result.path, 36 / FPS)) > 150  # the middle of a fade through white
    assert sum(frame_rgb(result.path, 0)) < 30  # fades in from black
    assert sum(frame_rgb(result.path, 71 / FPS)) < 60  # and out to black
    assert near(frame_rgb(result.path, 15 / FPS), "red")


@pytest.mark.slow
def test_mixed_inputs_are_conformed_to_the_output(cut_project: CutProject, media: Media) -> None:
    project = cut_project(
        [
            {"id": "small", "fit": "contain", "transition": "dissolve"},
            {"id": "big", "transition": "wipeleft"},
            {"id": "last"},
        ],
    )
    clips = {
        "small": media.shot("small", "red", size="640x480", fps=25, audio=False),
        "big": media.shot("big", "green", size="1920x1080", fps=30, sample_rate=44100, channels=1),
        "last": media.shot("last", "blue", size="180x320", fps="30000/1001", seconds=2.1),
    }
    result = render_cut(project, clips)
    facts = probe(result.path)
    assert (facts.width, facts.height, facts.rate, facts.frames) == (320, 180, Fraction(FPS), 3 * 48 - 2 * 12)
    assert facts.sample_rate == 48000 and facts.channels == 2
    # 4:3 contained in 16:9: red in the middle, black bars at the sides.
    frame = raw_frame(result.path, 0.5)

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        k = (y * 320 + x) * 3
        return frame[k], frame[k + 1], frame[k + 2]

    assert sum(pixel(5, 90)) < 40 and near(pixel(160, 90), "red")
    assert near(frame_rgb(result.path, 2.0), "green") and near(frame_rgb(result.path, 4.5), "blue")


@pytest.mark.slow
def test_a_re_render_after_one_change_encodes_one_body_and_two_seams_and_equals_a_full_render(
    colour_project: ColourProject, media: Media
) -> None:
    colours = ["red", "green", "blue", "yellow"]
    project, clips = colour_project(colours, {"type": "dissolve", "duration": 0.5})
    first = render_cut(project, clips)
    assert len(first.rendered) == 7 and first.reused == []

    clips["green"] = media.shot("green", "magenta", tone=900)
    again = render_cut(project, clips)
    assert sorted(again.rendered) == ["body green", "seam green>blue", "seam red>green"]
    assert len(again.reused) == 4
    assert near(frame_rgb(again.path, 2.0), "magenta")
    incremental = project.root / "incremental.mp4"
    again.path.rename(incremental)

    clear_pieces(project)
    full = render_cut(project, clips)
    assert len(full.rendered) == 7
    assert probe(incremental).frames == probe(full.path).frames == 4 * 48 - 3 * 12
    assert abs(probe(incremental).duration - probe(full.path).duration) < 1e-6
    assert psnr(incremental, full.path) >= 40
    # A/V sync: every frame sits at n/fps (no drift at any join) and the sound lasts as long as the picture.
    pts = frames_pts(incremental)
    assert len(pts) == 156
    assert all(abs(t - n / FPS) < 0.5 / FPS for n, t in enumerate(pts)), "a frame is off its slot"
    assert abs(stream_duration(incremental, "a") - stream_duration(incremental, "v")) <= 1 / FPS


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["h265", "av1"])
def test_h265_and_av1_cuts_are_stitched_from_pieces_too(colour_project: ColourProject, codec: str) -> None:
    if {"h265": "libx265", "av1": "libsvtav1"}[codec] not in available("encoders"):
        pytest.skip(f"this ffmpeg has no encoder for {codec}")
    output = {
        "resolution": "320x180",
        "fps": FPS,
        "file": "out/cut.mp4",
        "codec": codec,
        "preset": "veryfast",
    }
    project, clips = colour_project(["red", "green", "blue"], "dissolve", output=output)
    result = render_cut(project, clips)
    facts = probe(result.path)
    assert facts.video_codec == {"h265": "hevc", "av1": "av1"}[codec]
    assert facts.frames == result.frames == 3 * 48 - 2 * 12 and len(result.rendered) == 5
    assert all(abs(t - n / FPS) < 0.5 / FPS for n, t in enumerate(frames_pts(result.path)))
    assert near(frame_rgb(result.path, 2.0), "green")


@pytest.mark.slow
def test_nothing_changed_means_nothing_is_encoded(colour_project: ColourProject) -> None:
    project, clips = colour_project(["red", "green"], "dissolve")
    render_cut(project, clips)
    second = render_cut(project, clips)
    assert second.rendered == [] and sorted(second.reused) == ["body green", "body red", "seam red>green"]
    assert probe(second.path).frames == 2 * 48 - 12


@pytest.mark.slow
def test_an_unchanged_cut_is_not_written_again_but_a_touched_one_is(colour_project: ColourProject) -> None:
    project, clips = colour_project(["red", "green"], "dissolve")
    first = render_cut(project, clips)
    stamp = first.path.stat().st_mtime_ns
    assert render_cut(project, clips).path.stat().st_mtime_ns == stamp  # a no-op build rewrites nothing
    first.path.write_bytes(b"damaged by hand")
    again = render_cut(project, clips)
    assert again.rendered == [] and probe(again.path).frames == 2 * 48 - 12  # pieces reused, cut rebuilt


@pytest.mark.slow
def test_a_preview_is_half_size_at_the_same_rate_beside_the_cut(colour_project: ColourProject) -> None:
    project, clips = colour_project(["red", "blue"])
    result = render_cut(project, clips, preview=True)
    facts = probe(result.path)
    assert result.path.name == "cut.preview.mp4"
    assert (facts.width, facts.height, facts.rate, facts.frames) == (160, 90, Fraction(FPS), 96)
    assert not (project.root / "out" / "cut.mp4").exists()


@pytest.mark.slow
def test_progress_is_reported_up_to_the_end(colour_project: ColourProject) -> None:
    project, clips = colour_project(["red", "blue"])
    seen: list[float] = []
    render_cut(project, clips, progress=seen.append)
    assert seen and seen[-1] == 1.0 and all(0 <= x <= 1 for x in seen)
    assert seen == sorted(seen)


@pytest.mark.slow
def test_sidecars_are_written_beside_the_cut(colour_project: ColourProject, cut_project: CutProject) -> None:
    _, clips = colour_project(["red", "blue"])
    project = cut_project(
        [{"id": "red", "caption": "Hello there"}, {"id": "blue"}], captions={"sidecars": ["srt", "vtt"]}
    )
    result = render_cut(project, clips)
    assert sorted(p.name for p in result.sidecars) == ["cut.srt", "cut.vtt"]
    assert "Hello there" in (project.root / "out" / "cut.srt").read_text()


@pytest.mark.slow
def test_burned_in_captions_are_drawn_on_the_frames_they_cover(
    colour_project: ColourProject, cut_project: CutProject
) -> None:
    # A folder name with every character ffmpeg's filtergraph syntax treats specially.
    folder = "it's a [test], a; b: c"
    shots = [{"id": "black", "caption": "WWWWWWWW"}, {"id": "blue"}]
    _, clips = colour_project(["black", "blue"])
    project = cut_project(shots, name=folder, captions={"burn_in": True, "size": 60, "sidecars": []})
    result = render_cut(project, clips)
    assert sum(frame_rgb(result.path, 1.0)) > 15, "no caption drawn over the black shot"
    assert near(frame_rgb(result.path, 3.0), "blue")
    assert result.rendered and result.reused == []
    # The caption is part of the piece's key: turning burn-in off renders the captioned body anew.
    plain = cut_project(shots, name=folder, captions={"burn_in": False, "sidecars": []})
    again = render_cut(plain, clips)
    assert again.rendered == ["body black"] and again.reused == ["body blue"]
    assert sum(frame_rgb(again.path, 1.0)) < 15


@pytest.mark.slow
def test_a_missing_clip_is_named_and_the_previous_cut_is_kept(colour_project: ColourProject) -> None:
    project, clips = colour_project(["red", "blue"])
    first = render_cut(project, clips)
    before = first.path.read_bytes()
    clips["blue"].path.unlink()
    with pytest.raises(MediaError, match=r"shot 'blue'.*missing"):
        render_cut(project, clips)
    assert first.path.read_bytes() == before
    assert sorted(p.name for p in first.path.parent.iterdir()) == ["cut.mp4", "cut.srt", "cut.vtt"]


@pytest.mark.slow
def test_a_corrupt_clip_is_named_and_no_cut_is_written(colour_project: ColourProject) -> None:
    project, clips = colour_project(["red", "blue"])
    clips["blue"].path.write_bytes(b"\x00not a video" * 1000)
    with pytest.raises(MediaError, match=r"blue"):
        render_cut(project, clips)
    out = project.root / "out"
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.slow
def test_a_truncated_clip_is_caught_by_the_frame_count(colour_project: ColourProject) -> None:
    project, clips = colour_project(["red", "blue"])
    data = clips["red"].path.read_bytes()
    clips["red"].path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"red"):
        render_cut(project, clips)
    assert not (project.root / "out" / "cut.mp4").exists()


# --- the edit means what an editor means ------------------------------------------------------------------


def _problems(cut_project: CutProject, shots: list[dict[str, Any]], **board: Any) -> list[Any]:
    with pytest.raises(StoryboardError) as caught:
        cut_project(shots, **board)
    assert all(p.line for p in caught.value.problems), "every problem points at its line"
    return caught.value.problems


def test_a_transition_that_rounds_to_the_whole_shot_is_a_validate_error_with_its_line(
    cut_project: CutProject,
) -> None:
    # 0.99 s is shorter than 1 s, but at 24 fps both are 24 frames: the edit could not place it.
    problems = _problems(
        cut_project,
        [
            {"id": "a", "duration": 1, "transition": {"type": "dissolve", "duration": 0.99}},
            {"id": "b", "duration": 3},
        ],
    )
    assert [p.loc for p in problems] == [("shots", 0, "transition", "duration")]
    assert "24 frames at 24 fps, not shorter than 'a' itself (24 frames)" in problems[0].message
    assert problems[0].fix == "make it at most 23 frames (0.958 s), or the shot longer"


def test_two_transitions_meeting_inside_a_shot_are_a_validate_error(cut_project: CutProject) -> None:
    shots: list[dict[str, Any]] = [
        {"id": "a", "transition": {"type": "dissolve", "duration": 1}},
        {"id": "b", "transition": {"type": "wipeleft", "duration": 1}},  # b is 2 s: no frame of its own
        {"id": "c"},
    ]
    problems = _problems(cut_project, shots)
    assert [p.loc for p in problems] == [("shots", 1, "transition", "duration")]
    assert "shot 'b' is 48 frames (2 s) and its transitions in (from 'a', 24 frames) and out (24 frames)" in (
        problems[0].message
    )


def test_a_transition_on_the_last_shot_is_a_validate_error(cut_project: CutProject) -> None:
    problems = _problems(cut_project, [{"id": "a"}, {"id": "b", "transition": "dissolve"}])
    assert [p.loc for p in problems] == [("shots", 1, "transition")]
    assert "the last shot 'b' has a transition, but no shot follows it" in problems[0].message
    # From defaults it applies between shots and simply has nothing to do after the last one.
    cut_project([{"id": "a"}, {"id": "b"}], defaults={"transition": "dissolve"})


def test_a_fade_longer_than_the_cut_is_a_validate_error(cut_project: CutProject) -> None:
    output = {"resolution": "320x180", "fps": FPS, "file": "out/cut.mp4", "fade_out": 5}
    problems = _problems(cut_project, [{"id": "a"}, {"id": "b"}], output=output)
    assert [p.loc for p in problems] == [("output", "fade_out")]
    assert "longer than the whole cut (96 frames, 4 s)" in problems[0].message


def test_clips_too_short_for_their_transitions_are_a_shotlist_error(cut_project: CutProject) -> None:
    from shotlist.errors import ShotlistError
    from shotlist.timeline import TimelineError

    project = cut_project([{"id": "a", "transition": {"type": "dissolve", "duration": 1}}, {"id": "b"}])
    short = dataclasses.replace(_fake_clip("a", "a" * 8), facts=ClipFacts(duration=0.5, fps="24", frames=12))
    with pytest.raises(TimelineError, match="shorter than the storyboard planned") as caught:
        assemble(project, {"a": short, "b": _fake_clip("b", "b" * 8)})
    assert isinstance(caught.value, ShotlistError)


def test_captions_change_at_the_middle_of_each_transition_as_the_export_cuts(cut_project: CutProject) -> None:
    from shotlist.captions import srt_text
    from shotlist.export import _visible

    # 13 frames of dissolve: the outgoing shot keeps 6 of them, the incoming one 7.
    project = cut_project(
        [
            {"id": "a", "caption": "one", "transition": {"type": "dissolve", "duration": 13 / FPS}},
            {"id": "b", "caption": "two"},
        ],
    )
    tl = assemble(project, {s.id: _fake_clip(s.id, s.id * 8) for s in project.shots})
    a, b = tl.captions
    assert (a.start, a.end) == (Fraction(0), Fraction(48 - 7, FPS)) and (b.start, b.end) == (
        Fraction(48 - 7, FPS),
        Fraction(83, FPS),
    )
    assert [n for _, n in _visible(tl)] == [41, 42]  # the export's cut point is the same frame
    assert "00:00:01,708 --> 00:00:03,458\ntwo" in srt_text(tl)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "smooth"), [("dissolve", True), ("dither", False)])
def test_a_dissolve_blends_every_pixel_and_a_dither_does_not(
    colour_project: ColourProject, name: str, smooth: bool
) -> None:
    project, clips = colour_project(["red", "blue"], {"type": name, "duration": 1})
    result = render_cut(project, clips)
    reds = raw_frame(result.path, 1.5)[0::3]  # the middle of the transition: half red, half blue
    spread = max(reds) - min(reds)
    assert (spread < 40) == smooth, spread


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_the_cut_can_be_a_mov_or_mkv_file(colour_project: ColourProject, suffix: str) -> None:
    output = {"resolution": "320x180", "fps": FPS, "file": f"out/cut{suffix}", "preset": "ultrafast"}
    project, clips = colour_project(["red", "blue"], "dissolve", output=output)
    result = render_cut(project, clips)
    facts = probe(result.path)
    assert result.path.suffix == suffix and facts.frames == 2 * 48 - 12 and facts.has_audio


@pytest.mark.slow
def test_a_change_to_the_picture_alone_keeps_the_sound(
    cut_project: CutProject, colour_project: ColourProject
) -> None:
    project, clips = colour_project(["red", "green"], {"type": "wipeleft", "duration": 0.5})
    first = render_cut(project, clips)
    assert first.sound_seconds > 0
    slide = cut_project([{"id": "red", "transition": {"type": "slideup", "duration": 0.5}}, {"id": "green"}])
    again = render_cut(slide, clips)
    assert again.rendered == ["seam red>green"] and again.sound_seconds == 0.0
    assert again.audio is not None and first.audio is not None and again.audio.lufs == first.audio.lufs
