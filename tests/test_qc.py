"""Automatic QC: each rule against a clip the test makes with ffmpeg, and a clean clip that breaks none."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotlist.qc import QcFacts, cached_facts, facts_of, judge, measure, rank, summary
from shotlist.storyboard import QcSettings
from tests.media_factory import ffmpeg

pytestmark = pytest.mark.slow  # every test encodes and decodes real clips

SIZE = "160x90"
MOVING = f"testsrc2=s={SIZE}:r=24"  # a busy test card that changes every frame
RECIPE = {"duration": 3.0, "size": [160, 90], "audio": False}


def encode(path: Path, graph: str, *, audio: str | None = None) -> Path:
    """A clip from one lavfi filter graph (``[v]`` its picture), with ``audio`` as a lavfi source."""
    args = ["-filter_complex", graph, "-map", "[v]"]
    if audio is not None:
        args = ["-f", "lavfi", "-i", audio, *args, "-map", "0:a", "-c:a", "aac", "-shortest"]
    ffmpeg(*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))
    return path


def rules(path: Path, recipe: dict[str, object] = RECIPE, qc: QcSettings | None = None) -> dict[str, str]:
    return {f.rule: f.message for f in judge(measure(path), recipe, qc or QcSettings())}


def test_a_clean_moving_clip_has_no_findings(tmp_path: Path) -> None:
    clip = encode(tmp_path / "clean.mp4", f"{MOVING}:d=3[v]")
    assert rules(clip) == {}


def test_a_black_stretch_is_found_with_its_time_and_length(tmp_path: Path) -> None:
    clip = encode(
        tmp_path / "black.mp4",
        f"{MOVING}:d=1[a];color=c=black:s={SIZE}:r=24:d=1[b];{MOVING}:d=1[c];[a][b][c]concat=n=3[v]",
    )
    found = rules(clip)
    assert found == {"black": "black 1.0 s at 1.0 s"}  # not also frozen, nor a splice at its edges


def test_a_frozen_stretch_is_found(tmp_path: Path) -> None:
    clip = encode(
        tmp_path / "freeze.mp4", f"{MOVING}:d=3,split[x][y];[x][y]freezeframes=first=24:last=52:replace=24[v]"
    )
    facts = measure(clip)
    assert [f.rule for f in judge(facts, RECIPE, QcSettings())] == ["frozen"]
    [(start, end)] = facts.frozen  # frames 24-52 repeat frame 24; the encoder's noise settles in a few frames
    assert 1.0 <= start <= 1.3 and 2.1 <= end <= 2.3


def test_two_scenes_spliced_in_one_clip_is_a_hard_cut(tmp_path: Path) -> None:
    clip = encode(
        tmp_path / "splice.mp4",
        f"{MOVING}:d=1.5[a];smptebars=s={SIZE}:r=24:d=1.5,noise=alls=20:allf=t[b];[a][b]concat=n=2[v]",
    )
    found = rules(clip)
    assert found == {"splice": "a hard cut inside the clip at 1.5 s"}


def test_flicker_is_found_and_not_taken_for_cuts(tmp_path: Path) -> None:
    clip = encode(
        tmp_path / "flicker.mp4",
        f"{MOVING}:d=3,eq=brightness='if(between(t,1,2)*mod(floor(n/2),2),-0.3,0)':eval=frame[v]",
    )
    found = rules(clip)
    assert list(found) == ["flicker"]
    assert "at 1.1 s" in found["flicker"]  # the first dark frame is frame 26


def test_silence_is_a_finding_only_where_native_audio_was_asked(tmp_path: Path) -> None:
    quiet = encode(tmp_path / "quiet.mp4", f"{MOVING}:d=3[v]", audio="anullsrc=r=48000:cl=stereo")
    speaking = {**RECIPE, "audio": True}
    assert rules(quiet) == {}
    assert rules(quiet, speaking) == {"silent": "native audio was asked for but 3.0 s of 3.0 s is silent"}
    mute = encode(tmp_path / "mute.mp4", f"{MOVING}:d=3[v]")
    assert rules(mute, speaking) == {"silent": "native audio was asked for but the clip has no sound track"}
    tone = encode(tmp_path / "tone.mp4", f"{MOVING}:d=3[v]", audio="sine=f=440:r=48000")
    assert rules(tone, speaking) == {}


def test_clipped_sound_is_found(tmp_path: Path) -> None:
    loud = encode(tmp_path / "loud.mp4", f"{MOVING}:d=3[v]", audio="sine=f=440:r=48000,volume=30dB")
    assert list(rules(loud)) == ["clipping"]


def test_duration_and_shape_drift_against_the_recipe(tmp_path: Path) -> None:
    clip = encode(tmp_path / "short.mp4", "testsrc2=s=160x96:r=24:d=2.5[v]")
    found = judge(measure(clip), RECIPE, QcSettings())
    assert {f.rule: (f.level, f.message) for f in found} == {
        "duration-drift": ("warning", "lasts 2.50 s, asked 3 s"),
        "shape-drift": ("warning", "160x96, asked 160x90 (the edit scales it)"),
    }


def test_thresholds_and_ignore_come_from_the_project(tmp_path: Path) -> None:
    clip = encode(
        tmp_path / "black.mp4",
        f"{MOVING}:d=1[a];color=c=black:s={SIZE}:r=24:d=0.5[b];{MOVING}:d=1.5[c];[a][b][c]concat=n=3[v]",
    )
    assert "black" in rules(clip)
    assert rules(clip, qc=QcSettings(black_min_s=1.0)) == {}
    assert rules(clip, qc=QcSettings(ignore=["black"])) == {}


def test_facts_are_cached_by_clip_hash(tmp_path: Path) -> None:
    clip = encode(tmp_path / "clean.mp4", f"{MOVING}:d=1[v]")
    store = tmp_path / ".shotlist"
    assert cached_facts(store, "ab" * 32) is None
    first = facts_of(store, "ab" * 32, clip)
    clip.unlink()  # a second look never decodes again
    assert facts_of(store, "ab" * 32, clip) == first == cached_facts(store, "ab" * 32)
    assert QcFacts.from_json(first.to_json()) == first


def test_rank_orders_errors_before_warnings_and_summary_reads_as_sentences() -> None:
    facts = QcFacts(duration=3, width=160, height=90, black=[(1.0, 2.0)], cuts=[(0.5, 60.0)])
    found = judge(facts, RECIPE, QcSettings())
    assert summary(found) == "black 1.0 s at 1.0 s; a hard cut inside the clip at 0.5 s"
    assert rank(found) == (1, 1, 0)
    assert summary([]) == "ok"
