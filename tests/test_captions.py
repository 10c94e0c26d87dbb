"""Caption files: valid SRT/WebVTT/ASS that players read back, timed to the cut, text kept as text."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from shotlist.captions import font_family, write_ass, write_sidecars
from shotlist.fonts import font_path
from shotlist.media import ffmpeg_exe
from shotlist.timeline import Caption, Timeline

FONT = font_path()


def timeline(*captions: Caption) -> Timeline:
    return Timeline(fps=24, width=1280, height=720, items=[], captions=list(captions))


def read_back(path: Path) -> str:
    """The file as ffmpeg's own subtitle demuxer reads it, converted to SRT (fails if it is not valid)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "srt", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def cues(srt: str) -> list[tuple[str, str, str]]:
    blocks = [b for b in srt.strip().split("\n\n") if b.strip()]
    out = []
    for n, block in enumerate(blocks, start=1):
        index, timing, *text = block.split("\n")
        assert index == str(n)
        start, end = timing.split(" --> ")
        out.append((start, end, "\n".join(text)))
    return out


LINE = Caption(Fraction(37, 24), Fraction(96, 24), "Hey, I missed you", who="mika", shot="b")
NOTE = Caption(Fraction(0), Fraction(25, 24), "Kyoto, 1998", shot="a")


def test_srt_and_vtt_are_timed_to_the_cut_and_name_the_speaker(tmp_path: Path) -> None:
    srt, vtt = write_sidecars(timeline(LINE, NOTE), tmp_path / "out" / "cut.mp4", ["srt", "vtt"])
    assert (srt.name, vtt.name) == ("cut.srt", "cut.vtt")
    assert cues(srt.read_text()) == [
        ("00:00:00,000", "00:00:01,042", "Kyoto, 1998"),  # 25 frames at 24 fps
        ("00:00:01,542", "00:00:04,000", "MIKA: Hey, I missed you"),  # frame 37
    ]
    text = vtt.read_text()
    assert text.startswith("WEBVTT\n\n")
    assert "00:00:01.542 --> 00:00:04.000\n<v mika>Hey, I missed you</v>\n" in text


@pytest.mark.slow
def test_players_read_the_sidecars_back_with_the_same_cues(tmp_path: Path) -> None:
    srt, vtt = write_sidecars(timeline(LINE, NOTE), tmp_path / "cut", ["srt", "vtt"])
    from_srt, from_vtt = cues(read_back(srt)), cues(read_back(vtt))
    assert [(a, b) for a, b, _ in from_srt] == [
        ("00:00:00,000", "00:00:01,042"),
        ("00:00:01,542", "00:00:04,000"),
    ]
    assert [(a, b) for a, b, _ in from_vtt] == [(a, b) for a, b, _ in from_srt]
    assert from_srt[1][2] == "MIKA: Hey, I missed you"
    assert "Hey, I missed you" in from_vtt[1][2]


def test_caption_text_cannot_break_the_file_or_become_markup(tmp_path: Path) -> None:
    tricky = Caption(Fraction(1), Fraction(2), "a --> b\n\n<i>not italic</i> & {\\b1}x\\N", who="mika")
    after = Caption(Fraction(3), Fraction(4), "after")
    srt, vtt = write_sidecars(timeline(tricky, after), tmp_path / "cut", ["srt", "vtt"])
    srt_cues = cues(srt.read_text())
    assert len(srt_cues) == 2  # the blank line inside the text did not end the cue early
    assert "-->" not in srt_cues[0][2]
    vtt_text = vtt.read_text()
    assert "&lt;i&gt;not italic&lt;/i&gt; &amp;" in vtt_text
    assert vtt_text.count(" --> ") == 2

    ass = write_ass(timeline(tricky, after), tmp_path / "cut.ass", 36).read_text()
    dialogue = [ln for ln in ass.splitlines() if ln.startswith("Dialogue:")]
    assert len(dialogue) == 2
    text = dialogue[0].split(",", 9)[9]
    assert "{" not in text and "}" not in text  # no override block: the braces show as text
    assert text.endswith("x\\\u2060N")  # a literal backslash-N, not a line break
    assert "\\N" in text  # the caption's own line break is one


def test_ass_is_sized_to_the_cut_and_names_the_shipped_fonts_family(tmp_path: Path) -> None:
    family = font_family(FONT)
    assert family == "DejaVu Sans"
    ass = write_ass(timeline(LINE), tmp_path / "cut.ass", 42).read_text()
    assert "PlayResX: 1280\nPlayResY: 720\n" in ass
    style = next(ln for ln in ass.splitlines() if ln.startswith("Style: "))
    assert style.split(",")[1:3] == [family, "42"]
    assert "Dialogue: 0,0:00:01.54,0:00:04.00,Default,mika,0,0,0,,MIKA: Hey, I missed you" in ass


@pytest.mark.slow
def test_libass_burns_the_captions_in_with_the_shipped_font(tmp_path: Path) -> None:
    ass = write_ass(timeline(Caption(Fraction(0), Fraction(1), "{shown} text")), tmp_path / "cut.ass", 40)
    out = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "debug",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=black:s=1280x720:d=0.5",
            "-vf",
            f"subtitles={ass}:fontsdir={FONT.parent},format=gray,crop=1280:200:0:520",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    log = out.stderr.decode(errors="replace")
    assert re.search(r"fontselect: \(DejaVu Sans, 400, 0\) -> DejaVuSans", log)
    lit = sum(1 for p in out.stdout if p > 128)
    assert lit > 500  # the text, braces included, is on the picture


def test_an_unknown_sidecar_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'ttml'"):
        write_sidecars(timeline(LINE), tmp_path / "cut", ["ttml"])
    assert not list(tmp_path.iterdir())
