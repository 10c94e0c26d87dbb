"""The edit: the rendered cut is what the storyboard plans, and a re-render encodes only what changed."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from shotlist.clip import Clip
from shotlist.edit import binary_transitions, clear_pieces, render_cut
from shotlist.errors import StoryboardError
from shotlist.load import Project, load_project
from shotlist.media import ClipFacts, MediaError, available, ffmpeg_exe, probe
from shotlist.pieces import Encoder, Overlays, plan
from shotlist.storyboard import XFADE_TRANSITIONS
from shotlist.timeline import assemble
from tests.media_factory import clip_of, frame_rgb, make_clip, near

FPS = 24


def write_project(root: Path, shots: list[dict[str, Any]], **board: Any) -> Project:
    """A project folder with a storyboard of ``shots`` (txt2vid, 2 s each unless given)."""
    root.mkdir(parents=True, exist_ok=True)
    full = [{"mode": "txt2vid", "subject": f"a {s['id']} card", "duration": 2, **s} for s in shots]
    data: dict[str, Any] = {
        "version": 1,
        "output": {"resolution": "320x180", "fps": FPS, "file": "out/cut.mp4", "preset": "ultrafast"},
        "shots": full,
        **board,
    }
    (root / "storyboard.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_project(root)


def colour_project(
    root: Path, colours: list[str], transition: Any = None, **board: Any
) -> tuple[Project, dict[str, Clip]]:
    """One 2 s shot per colour, each a clip of that colour with a tone, joined by ``transition``."""
    shots = [
        {"id": c, **({"transition": transition} if transition and k < len(colours) - 1 else {})}
        for k, c in enumerate(colours)
    ]
    project = write_project(root, shots, **board)
    clips = {
        c: clip_of(c, make_clip(root / "clips" / f"{c}.mp4", c, tone=300 + 100 * k))
        for k, c in enumerate(colours)
    }
    return project, clips


def frames_pts(video: Path) -> list[float]:
    """pts_time of every video frame, in display order."""
    out = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-i",
            str(video),
            "-map",
            "0:v:0",
            "-vf",
            "showinfo",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return [float(x) for x in re.findall(r"pts_time:\s*([\d.]+)", out.stderr)]


def stream_duration(video: Path, stream: str) -> float:
    """Duration of one stream (``v`` or ``a``), from the timestamps a stream copy reports."""
    out = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-i",
            str(video),
            "-map",
            f"0:{stream}:0",
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", out.stderr)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def psnr(a: Path, b: Path) -> float:
    out = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-i",
            str(a),
            "-i",
            str(b),
            "-lavfi",
            "[0:v][1:v]psnr",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    value = re.findall(r"average:(\S+)", out.stderr)[-1]
    return float("inf") if value == "inf" else float(value)


# --- quick: names and plans ---------------------------------------------------------------------------------


def test_xfade_transition_names_are_the_ones_the_binary_knows() -> None:
    assert set(XFADE_TRANSITIONS) == binary_transitions()


def test_an_unknown_transition_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(StoryboardError) as caught:
        write_project(tmp_path, [{"id": "a", "transition": "disolve"}, {"id": "b"}])
    assert "shots[0].transition.type: 'disolve' is not a transition — did you mean 'dissolve'?" in str(
        caught.value
    )


def test_dissolve_is_a_cross_dissolve_and_xfades_dither_is_called_dither(tmp_path: Path) -> None:
    names = {"dissolve": "fade", "dither": "dissolve", "dip-to-black": "fadeblack", "wipeleft": "wipeleft"}
    project = write_project(
        tmp_path, [{"id": f"s{k}", "transition": name} for k, name in enumerate(names)] + [{"id": "end"}]
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


def test_changing_one_clip_changes_one_body_and_its_two_seams(tmp_path: Path) -> None:
    project = write_project(tmp_path, [*({"id": i, "transition": "dissolve"} for i in "abc"), {"id": "d"}])
    before = _keys(project, {i: i * 8 for i in "abcd"})
    after = _keys(project, {**{i: i * 8 for i in "abcd"}, "b": "changed"})
    assert sorted(before) == ["body a", "body b", "body c", "body d", "seam a>b", "seam b>c", "seam c>d"]
    changed = sorted(label for label in before if before[label] != after[label])
    assert changed == ["body b", "seam a>b", "seam b>c"]


def test_inserting_a_shot_leaves_the_other_pieces_keys_alone(tmp_path: Path) -> None:
    # Keys are content, not positions: everything after the insertion moves on the cut but is reused.
    three = write_project(tmp_path / "3", [{"id": "a"}, {"id": "b", "transition": "dissolve"}, {"id": "c"}])
    four = write_project(
        tmp_path / "4", [{"id": "a"}, {"id": "new"}, {"id": "b", "transition": "dissolve"}, {"id": "c"}]
    )
    digests = {"a": "1" * 8, "b": "2" * 8, "c": "3" * 8, "new": "4" * 8}
    old, new = _keys(three, digests), _keys(four, digests)
    assert set(old.values()) <= set(new.values())
    assert [label for label in new if new[label] not in old.values()] == ["body new"]


# --- slow: real encodes --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_cut_has_the_planned_length_size_rate_and_sound_and_each_shot_its_colour(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "green", "blue"], {"type": "dissolve", "duration": 0.5})
    result = render_cut(project, clips)
    facts = probe(result.path)
    # 3 × 48 frames − 2 × 12 frames of dissolve.
    assert result.frames == facts.frames == 120
    assert abs(facts.duration - 5.0) <= 1 / FPS
    assert (facts.width, facts.height, facts.rate) == (320, 180, FPS)
    assert facts.has_audio and facts.audio_codec == "aac"
    assert abs(stream_duration(result.path, "a") - 5.0) <= 1 / FPS
    for colour, at in (("red", 0.5), ("green", 2.0), ("blue", 4.5)):
        assert near(frame_rgb(result.path, at), colour), (colour, frame_rgb(result.path, at))
    # Halfway through the red→green dissolve (frames 36..47): a blend, neither colour.
    r, g, b = frame_rgb(result.path, 42 / FPS)
    assert 60 < r < 200 and 30 < g < 100 and b < 60, (r, g, b)
    assert not list(result.path.parent.glob(".*")), "temporary files left beside the cut"


@pytest.mark.slow
def test_wipes_slides_and_fades_to_black_and_white_render(tmp_path: Path) -> None:
    project, clips = colour_project(
        tmp_path,
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
def test_mixed_inputs_are_conformed_to_the_output(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        [
            {"id": "small", "fit": "contain", "transition": "dissolve"},
            {"id": "big", "transition": "wipeleft"},
            {"id": "last"},
        ],
    )
    clips = {
        "small": clip_of("small", make_clip(tmp_path / "s.mp4", "red", size="640x480", fps=25, audio=False)),
        "big": clip_of(
            "big",
            make_clip(tmp_path / "b.mp4", "green", size="1920x1080", fps=30, sample_rate=44100, channels=1),
        ),
        "last": clip_of(
            "last", make_clip(tmp_path / "l.mp4", "blue", size="180x320", fps="30000/1001", seconds=2.1)
        ),
    }
    result = render_cut(project, clips)
    facts = probe(result.path)
    assert (facts.width, facts.height, facts.rate, facts.frames) == (320, 180, FPS, 3 * 48 - 2 * 12)
    assert facts.sample_rate == 48000 and facts.channels == 2
    # 4:3 contained in 16:9: red in the middle, black bars at the sides.
    out = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-ss",
            "0.5",
            "-i",
            str(result.path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    left, middle = (
        out[(90 * 320 + 5) * 3 : (90 * 320 + 5) * 3 + 3],
        out[(90 * 320 + 160) * 3 : (90 * 320 + 160) * 3 + 3],
    )
    assert sum(left) < 40 and near((middle[0], middle[1], middle[2]), "red")
    assert near(frame_rgb(result.path, 2.0), "green") and near(frame_rgb(result.path, 4.5), "blue")


@pytest.mark.slow
def test_a_re_render_after_one_change_encodes_one_body_and_two_seams_and_equals_a_full_render(
    tmp_path: Path,
) -> None:
    colours = ["red", "green", "blue", "yellow"]
    project, clips = colour_project(tmp_path, colours, {"type": "dissolve", "duration": 0.5})
    first = render_cut(project, clips)
    assert len(first.rendered) == 7 and first.reused == []

    clips["green"] = clip_of("green", make_clip(tmp_path / "clips" / "magenta.mp4", "magenta", tone=900))
    again = render_cut(project, clips)
    assert sorted(again.rendered) == ["body green", "seam green>blue", "seam red>green"]
    assert len(again.reused) == 4
    assert near(frame_rgb(again.path, 2.0), "magenta")
    incremental = tmp_path / "incremental.mp4"
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
def test_h265_and_av1_cuts_are_stitched_from_pieces_too(tmp_path: Path, codec: str) -> None:
    if {"h265": "libx265", "av1": "libsvtav1"}[codec] not in available("encoders"):
        pytest.skip(f"this ffmpeg has no encoder for {codec}")
    output = {
        "resolution": "320x180",
        "fps": FPS,
        "file": "out/cut.mp4",
        "codec": codec,
        "preset": "veryfast",
    }
    project, clips = colour_project(tmp_path, ["red", "green", "blue"], "dissolve", output=output)
    result = render_cut(project, clips)
    facts = probe(result.path)
    assert facts.video_codec == {"h265": "hevc", "av1": "av1"}[codec]
    assert facts.frames == result.frames == 3 * 48 - 2 * 12 and len(result.rendered) == 5
    assert all(abs(t - n / FPS) < 0.5 / FPS for n, t in enumerate(frames_pts(result.path)))
    assert near(frame_rgb(result.path, 2.0), "green")


@pytest.mark.slow
def test_nothing_changed_means_nothing_is_encoded(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "green"], "dissolve")
    render_cut(project, clips)
    second = render_cut(project, clips)
    assert second.rendered == [] and sorted(second.reused) == ["body green", "body red", "seam red>green"]
    assert probe(second.path).frames == 2 * 48 - 12


def test_an_unchanged_cut_is_not_written_again_but_a_touched_one_is(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "green"], "dissolve")
    first = render_cut(project, clips)
    stamp = first.path.stat().st_mtime_ns
    assert render_cut(project, clips).path.stat().st_mtime_ns == stamp  # a no-op build rewrites nothing
    first.path.write_bytes(b"damaged by hand")
    again = render_cut(project, clips)
    assert again.rendered == [] and probe(again.path).frames == 2 * 48 - 12  # pieces reused, cut rebuilt


@pytest.mark.slow
def test_a_preview_is_half_size_at_the_same_rate_beside_the_cut(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "blue"])
    result = render_cut(project, clips, preview=True)
    facts = probe(result.path)
    assert result.path.name == "cut.preview.mp4"
    assert (facts.width, facts.height, facts.rate, facts.frames) == (160, 90, FPS, 96)
    assert not (tmp_path / "out" / "cut.mp4").exists()


@pytest.mark.slow
def test_progress_is_reported_up_to_the_end(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "blue"])
    seen: list[float] = []
    render_cut(project, clips, progress=seen.append)
    assert seen and seen[-1] == 1.0 and all(0 <= x <= 1 for x in seen)
    assert seen == sorted(seen)


@pytest.mark.slow
def test_sidecars_are_written_beside_the_cut(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "blue"])
    project = write_project(
        tmp_path,
        [{"id": "red", "caption": "Hello there"}, {"id": "blue"}],
        captions={"sidecars": ["srt", "vtt"]},
    )
    result = render_cut(project, clips)
    assert sorted(p.name for p in result.sidecars) == ["cut.srt", "cut.vtt"]
    assert "Hello there" in (tmp_path / "out" / "cut.srt").read_text()


@pytest.mark.slow
def test_burned_in_captions_are_drawn_on_the_frames_they_cover(tmp_path: Path) -> None:
    # A folder name with every character ffmpeg's filtergraph syntax treats specially.
    tmp_path = tmp_path / "it's a [test], a; b: c"
    project, clips = colour_project(tmp_path, ["black", "blue"])
    project = write_project(
        tmp_path,
        [{"id": "black", "caption": "WWWWWWWW"}, {"id": "blue"}],
        captions={"burn_in": True, "size": 60, "sidecars": []},
    )
    result = render_cut(project, clips)
    assert sum(frame_rgb(result.path, 1.0)) > 15, "no caption drawn over the black shot"
    assert near(frame_rgb(result.path, 3.0), "blue")
    assert result.rendered and result.reused == []
    # The caption is part of the piece's key: turning burn-in off renders the captioned body anew.
    plain = write_project(
        tmp_path,
        [{"id": "black", "caption": "WWWWWWWW"}, {"id": "blue"}],
        captions={"burn_in": False, "sidecars": []},
    )
    again = render_cut(plain, clips)
    assert again.rendered == ["body black"] and again.reused == ["body blue"]
    assert sum(frame_rgb(again.path, 1.0)) < 15


@pytest.mark.slow
def test_a_missing_clip_is_named_and_the_previous_cut_is_kept(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "blue"])
    first = render_cut(project, clips)
    before = first.path.read_bytes()
    clips["blue"].path.unlink()
    with pytest.raises(MediaError, match=r"shot 'blue'.*missing"):
        render_cut(project, clips)
    assert first.path.read_bytes() == before
    assert sorted(p.name for p in first.path.parent.iterdir()) == ["cut.mp4", "cut.srt", "cut.vtt"]


@pytest.mark.slow
def test_a_corrupt_clip_is_named_and_no_cut_is_written(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "blue"])
    clips["blue"].path.write_bytes(b"\x00not a video" * 1000)
    with pytest.raises(MediaError, match=r"blue"):
        render_cut(project, clips)
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.slow
def test_a_truncated_clip_is_caught_by_the_frame_count(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "blue"])
    data = clips["red"].path.read_bytes()
    clips["red"].path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"red"):
        render_cut(project, clips)
    assert not (tmp_path / "out" / "cut.mp4").exists()


# --- the edit means what an editor means ------------------------------------------------------------------


def _problems(root: Path, shots: list[dict[str, Any]], **board: Any) -> list[Any]:
    with pytest.raises(StoryboardError) as caught:
        write_project(root, shots, **board)
    assert all(p.line for p in caught.value.problems), "every problem points at its line"
    return caught.value.problems


def test_a_transition_that_rounds_to_the_whole_shot_is_a_validate_error_with_its_line(tmp_path: Path) -> None:
    # 0.99 s is shorter than 1 s, but at 24 fps both are 24 frames: the edit could not place it.
    problems = _problems(
        tmp_path,
        [
            {"id": "a", "duration": 1, "transition": {"type": "dissolve", "duration": 0.99}},
            {"id": "b", "duration": 3},
        ],
    )
    assert [p.loc for p in problems] == [("shots", 0, "transition", "duration")]
    assert "24 frames at 24 fps, not shorter than 'a' itself (24 frames)" in problems[0].message
    assert problems[0].fix == "make it at most 23 frames (0.958 s), or the shot longer"


def test_two_transitions_meeting_inside_a_shot_are_a_validate_error(tmp_path: Path) -> None:
    shots: list[dict[str, Any]] = [
        {"id": "a", "transition": {"type": "dissolve", "duration": 1}},
        {"id": "b", "transition": {"type": "wipeleft", "duration": 1}},  # b is 2 s: no frame of its own
        {"id": "c"},
    ]
    problems = _problems(tmp_path, shots)
    assert [p.loc for p in problems] == [("shots", 1, "transition", "duration")]
    assert "shot 'b' is 48 frames (2 s) and its transitions in (from 'a', 24 frames) and out (24 frames)" in (
        problems[0].message
    )


def test_a_transition_on_the_last_shot_is_a_validate_error(tmp_path: Path) -> None:
    problems = _problems(tmp_path, [{"id": "a"}, {"id": "b", "transition": "dissolve"}])
    assert [p.loc for p in problems] == [("shots", 1, "transition")]
    assert "the last shot 'b' has a transition, but no shot follows it" in problems[0].message
    # From defaults it applies between shots and simply has nothing to do after the last one.
    write_project(tmp_path, [{"id": "a"}, {"id": "b"}], defaults={"transition": "dissolve"})


def test_a_fade_longer_than_the_cut_is_a_validate_error(tmp_path: Path) -> None:
    output = {"resolution": "320x180", "fps": FPS, "file": "out/cut.mp4", "fade_out": 5}
    problems = _problems(tmp_path, [{"id": "a"}, {"id": "b"}], output=output)
    assert [p.loc for p in problems] == [("output", "fade_out")]
    assert "longer than the whole cut (96 frames, 4 s)" in problems[0].message


def test_clips_too_short_for_their_transitions_are_a_shotlist_error(tmp_path: Path) -> None:
    from shotlist.errors import ShotlistError
    from shotlist.timeline import TimelineError

    project = write_project(
        tmp_path, [{"id": "a", "transition": {"type": "dissolve", "duration": 1}}, {"id": "b"}]
    )
    short = dataclasses.replace(_fake_clip("a", "a" * 8), facts=ClipFacts(duration=0.5, fps="24", frames=12))
    with pytest.raises(TimelineError, match="shorter than the storyboard planned") as caught:
        assemble(project, {"a": short, "b": _fake_clip("b", "b" * 8)})
    assert isinstance(caught.value, ShotlistError)


def test_captions_change_at_the_middle_of_each_transition_as_the_export_cuts(tmp_path: Path) -> None:
    from shotlist.captions import srt_text
    from shotlist.export import _visible

    # 13 frames of dissolve: the outgoing shot keeps 6 of them, the incoming one 7.
    project = write_project(
        tmp_path,
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


def _pixels(video: Path, seconds: float) -> bytes:
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-ss", f"{seconds:.4f}", "-i", str(video)]
        + ["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    )
    return out.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("name", "smooth"), [("dissolve", True), ("dither", False)])
def test_a_dissolve_blends_every_pixel_and_a_dither_does_not(tmp_path: Path, name: str, smooth: bool) -> None:
    project, clips = colour_project(tmp_path, ["red", "blue"], {"type": name, "duration": 1})
    result = render_cut(project, clips)
    reds = _pixels(result.path, 1.5)[0::3]  # the middle of the transition: half red, half blue
    spread = max(reds) - min(reds)
    assert (spread < 40) == smooth, spread


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_the_cut_can_be_a_mov_or_mkv_file(tmp_path: Path, suffix: str) -> None:
    output = {"resolution": "320x180", "fps": FPS, "file": f"out/cut{suffix}", "preset": "ultrafast"}
    project, clips = colour_project(tmp_path, ["red", "blue"], "dissolve", output=output)
    result = render_cut(project, clips)
    facts = probe(result.path)
    assert result.path.suffix == suffix and facts.frames == 2 * 48 - 12 and facts.has_audio


@pytest.mark.slow
def test_a_change_to_the_picture_alone_keeps_the_sound(tmp_path: Path) -> None:
    project, clips = colour_project(tmp_path, ["red", "green"], {"type": "wipeleft", "duration": 0.5})
    first = render_cut(project, clips)
    assert first.sound_seconds > 0
    slide = write_project(
        tmp_path, [{"id": "red", "transition": {"type": "slideup", "duration": 0.5}}, {"id": "green"}]
    )
    again = render_cut(slide, clips)
    assert again.rendered == ["seam red>green"] and again.sound_seconds == 0.0
    assert again.audio is not None and first.audio is not None and again.audio.lufs == first.audio.lufs
