"""The cut's sound: lined up with the picture to the sample, ducked under speech, at the loudness target."""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from shotlist.audio import AAC_FRAME, duck_expression, duck_windows, render_audio, samples
from shotlist.clip import Clip
from shotlist.media import MediaError, probe
from shotlist.storyboard import Dialogue, Music, ShotAudio
from shotlist.timeline import Caption, Item, Placed, Timeline
from tests.media_factory import Media, ffmpeg

FPS = 24


def tiny_clip(
    media: Media, name: str, seconds: float, *, tone: int | None = None, rate: int = 48000, mono: bool = False
) -> Clip:
    """A 64×36, 24 fps clip of shot ``name`` with a sine tone (at ``rate``, mono or stereo), or silent without ``tone``."""
    return media.shot(
        name,
        size="64x36",
        fps=FPS,
        seconds=seconds,
        audio=tone is not None,
        sample_rate=rate,
        channels=1 if mono else 2,
        tone=tone or 440,
    )


def cut(
    clips: list[Clip], lengths: list[int], transitions: list[int], *, audio: list[ShotAudio] | None = None
) -> Timeline:
    """A timeline of the clips, in order, each ``lengths[k]`` frames, with ``transitions[k]`` frames after it."""
    items, start = [], 0
    for k, (clip, length) in enumerate(zip(clips, lengths, strict=True)):
        t = transitions[k] if k < len(transitions) else 0
        items.append(
            Item(
                shot=clip.shot,
                clip=clip,
                src_in=0,
                length=length,
                start=start,
                fit="cover",
                audio=audio[k] if audio else ShotAudio(),
                transition="dissolve" if t else "cut",
                transition_frames=t,
            )
        )
        start += length - t
    return Timeline(fps=FPS, width=64, height=36, items=items)


def level_db(path: Path, start: float, end: float) -> float:
    """RMS level (dBFS) of the file between two times, decoded and trimmed sample-exactly."""
    err = ffmpeg(
        "-loglevel",
        "info",
        "-i",
        str(path),
        "-af",
        f"atrim=start={start}:end={end},volumedetect",
        "-f",
        "null",
        "-",
    )
    m = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", err)
    assert m, err
    return float(m.group(1))


def silences(path: Path) -> list[tuple[str, float]]:
    """Where silence starts and ends (silencedetect at −50 dB, 50 ms)."""
    err = ffmpeg(
        "-loglevel", "info", "-i", str(path), "-af", "silencedetect=n=-50dB:d=0.05", "-f", "null", "-"
    )
    return [(m.group(1), float(m.group(2))) for m in re.finditer(r"silence_(start|end): (-?[\d.]+)", err)]


def ebur128(path: Path) -> tuple[float, float]:
    err = ffmpeg("-loglevel", "info", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-")
    summary = err[err.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    tp = re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)
    assert i and tp, summary
    return float(i.group(1)), float(tp.group(1))


def test_ducking_ramps_down_before_a_line_and_back_after_it() -> None:
    expr = duck_expression([(Fraction(2), Fraction(3))], 12.0)

    def gain(t: float) -> float:
        # ffmpeg's expression functions used here have Python equivalents.
        names = {"t": t, "max": max, "min": min, "pow": pow, "clip": lambda x, lo, hi: min(max(x, lo), hi)}
        return float(eval(expr, names))

    assert gain(1.0) == pytest.approx(1.0)
    assert gain(1.9) == pytest.approx(10 ** (-12 * (1.9 - 1.85) / 0.15 / 20))
    assert gain(2.0) == pytest.approx(10 ** (-12 / 20))
    assert gain(3.0) == pytest.approx(10 ** (-12 / 20))
    assert gain(3.2) == pytest.approx(1.0)


def test_lines_close_together_stay_ducked_between_them() -> None:
    tl = Timeline(
        fps=FPS,
        width=64,
        height=36,
        items=[],
        captions=[
            Caption(Fraction(1), Fraction(2), "one", who="mika"),
            Caption(Fraction(21, 10), Fraction(3), "two", who="mika"),
            Caption(Fraction(5), Fraction(6), "a caption, not speech"),
        ],
    )
    assert duck_windows(tl) == [(Fraction(1), Fraction(3))]


@pytest.mark.slow
def test_the_mix_meets_the_loudness_target_by_an_independent_measurement(
    tmp_path: Path, media: Media
) -> None:
    a = tiny_clip(media, "a", 2, tone=440)
    b = tiny_clip(media, "b", 2, tone=660)
    tl = cut([a, b], [48, 48], [12])
    tl.music = Music(file="bed.wav", gain_db=-12, fade_out=0.5)
    tl.music_path = media.sound("bed", "anoisesrc=d=4:c=pink:a=0.3")
    result = render_audio(tl, tmp_path / "cut.m4a")
    lufs, peak = ebur128(result.path)
    assert abs(lufs - tl.loudness_lufs) <= 1.0
    assert peak <= tl.true_peak_db
    assert result.normalization_type == "linear"
    assert abs(result.lufs - lufs) < 0.2


@pytest.mark.slow
def test_the_music_is_at_least_6_db_lower_under_dialogue(tmp_path: Path, media: Media) -> None:
    silent = [tiny_clip(media, f"s{k}", 2) for k in range(3)]
    tl = cut(silent, [48, 48, 48], [0, 0])
    line = ShotAudio(dialogue=Dialogue(who="mika", says="Hey"))
    tl.captions = [Caption(Fraction(2), Fraction(4), "Hey", who="mika", shot="s1")]
    tl.items[1] = replace(tl.items[1], audio=line)
    tl.music = Music(file="bed.wav", gain_db=-6, fade_out=0, duck_db=12)
    tl.music_path = media.sound("bed", "anoisesrc=d=8:c=white:a=0.2")
    out = render_audio(tl, tmp_path / "cut.m4a").path
    outside = level_db(out, 0.3, 1.7)
    under = level_db(out, 2.1, 3.9)
    after = level_db(out, 4.3, 5.7)
    assert outside - under >= 6.0
    assert abs(outside - after) < 1.0  # the bed comes back once the line is over


@pytest.mark.slow
def test_mono_44k_stereo_48k_and_silent_clips_line_up_with_the_picture(tmp_path: Path, media: Media) -> None:
    mono = tiny_clip(media, "mono", 2, tone=440, rate=44100, mono=True)
    stereo = tiny_clip(media, "stereo", 2, tone=880)
    silent = tiny_clip(media, "silent", 2)
    tl = cut([mono, stereo, silent], [47, 41, 37], [11, 0])
    out = render_audio(tl, tmp_path / "cut.m4a").path
    facts = probe(out, count_frames=False)
    assert facts.sample_rate == 48000 and facts.channels == 2
    assert abs(Fraction(facts.duration).limit_denominator(10**6) - tl.duration) <= AAC_FRAME
    # The stereo clip ends at a cut into the silent one: the sound stops on that frame.
    stop = [t for kind, t in silences(out) if kind == "start"]
    assert stop and abs(stop[-1] - float(tl.seconds(tl.items[2].start))) < 0.005


@pytest.mark.slow
def test_sound_crossfades_exactly_where_the_picture_dissolves(tmp_path: Path, media: Media) -> None:
    tone = tiny_clip(media, "tone", 3, tone=440)
    silent = tiny_clip(media, "silent", 3)
    tl = cut([tone, silent], [48, 48], [12])  # dissolve over frames 36..48: 1.5 s to 2.0 s
    out = render_audio(tl, tmp_path / "cut.m4a").path
    before = level_db(out, 1.0, 1.45)
    fading = level_db(out, 1.7, 1.8)
    after = level_db(out, 2.05, 3.0)
    assert before - 12 < fading < before - 3
    assert after < -60
    assert abs(Fraction(probe(out).duration).limit_denominator(10**6) - tl.duration) <= AAC_FRAME


@pytest.mark.slow
def test_voice_over_starts_at_its_time_and_the_music_loops_to_the_end(tmp_path: Path, media: Media) -> None:
    silent = [tiny_clip(media, f"s{k}", 2) for k in range(2)]
    tl = cut(silent, [48, 48], [0])
    vo = media.sound("vo", "sine=f=300:d=0.5")
    tl.placed = [Placed(kind="voiceover", path=vo, start=Fraction(5, 4), gain_db=0.0)]
    out = render_audio(tl, tmp_path / "vo.m4a").path
    events = silences(out)
    assert any(kind == "end" and abs(t - 1.25) <= 0.005 for kind, t in events), events
    assert any(kind == "start" and abs(t - 1.75) <= 0.005 for kind, t in events), events

    tl.placed = []
    tl.music = Music(file="bed.wav", gain_db=-12, fade_out=0, duck=False)
    tl.music_path = media.sound("bed", "sine=f=200:d=1")  # 1 s under a 4 s cut
    out = render_audio(tl, tmp_path / "bed.m4a").path
    assert level_db(out, 3.2, 3.9) > -40


@pytest.mark.slow
def test_a_music_file_that_is_not_audio_is_named_and_nothing_is_written(tmp_path: Path, media: Media) -> None:
    tl = cut([tiny_clip(media, "a", 1, tone=440)], [24], [])
    tl.music = Music(file="score.mp3")
    tl.music_path = tmp_path / "score.mp3"
    tl.music_path.write_text("not music")
    out = tmp_path / "out" / "cut.m4a"
    with pytest.raises(MediaError, match="score.mp3"):
        render_audio(tl, out)
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())

    picture = tmp_path / "still.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(picture))
    tl.music_path = picture
    with pytest.raises(MediaError, match="still.png.*no sound"):
        render_audio(tl, out)
    assert not out.exists()


def test_sample_positions_follow_the_frames_without_drift() -> None:
    # 24 fps at 48 kHz is 2000 samples a frame; 25 and 30 fps divide too; 23 fps rounds per boundary.
    assert samples(Fraction(37, 24)) == 37 * 2000
    assert samples(Fraction(1, 23)) == 2087
    assert samples(Fraction(2, 23)) - samples(Fraction(1, 23)) == 2087


@pytest.mark.slow
def test_a_mix_whose_peaks_forbid_a_plain_gain_is_reported_dynamic_and_still_meets_the_target(
    tmp_path: Path, media: Media
) -> None:
    tl = cut([tiny_clip(media, "s", 4)], [96], [])
    # A quiet tone (about −33 LUFS) with one full-scale click: +19 dB of gain would clip the click.
    tl.music = Music(file="click.wav", gain_db=0, fade_out=0, duck=False)
    tl.music_path = media.sound("click", "aevalsrc=0.03*sin(2*PI*440*t)+0.95*between(t\\,2\\,2.002):d=4")
    result = render_audio(tl, tmp_path / "cut.m4a")
    assert result.normalization_type == "dynamic"
    lufs, peak = ebur128(result.path)
    assert abs(lufs - tl.loudness_lufs) <= 1.0
    assert peak <= tl.true_peak_db


@pytest.mark.slow
def test_a_shots_gain_and_mute_are_heard_in_the_mix(tmp_path: Path, media: Media) -> None:
    clips = [tiny_clip(media, f"t{k}", 2, tone=440) for k in range(3)]
    tl = cut(clips, [48, 48, 48], [0, 0], audio=[ShotAudio(), ShotAudio(gain_db=-6), ShotAudio(mix="mute")])
    out = render_audio(tl, tmp_path / "cut.m4a").path
    full, lowered, muted = level_db(out, 0.2, 1.8), level_db(out, 2.2, 3.8), level_db(out, 4.2, 5.8)
    assert full - lowered == pytest.approx(6.0, abs=0.3)
    assert muted < -80


@pytest.mark.slow
def test_each_shots_sound_is_decoded_once_and_kept_by_content(
    tmp_path: Path, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shotlist import audio
    from shotlist.store import Derived

    clips = [tiny_clip(media, f"t{k}", 2, tone=300 + 100 * k) for k in range(3)]
    kept = Derived(tmp_path / "kept", ".f32")
    decoded: list[int] = []
    from shotlist import media as ffmpeg_layer

    real = ffmpeg_layer.run_ffmpeg

    def spy(args: list[str], **kw: object) -> str:
        if kw.get("what") == "decoding the shots' sound":
            decoded.append(list(args).count("-i"))
        return str(real(args, **kw))  # type: ignore[arg-type]

    monkeypatch.setattr(audio, "run_ffmpeg", spy)
    first = render_audio(cut(clips, [48, 48, 48], [12, 0]), tmp_path / "a.m4a", kept=kept)
    assert decoded == [3] and len(kept.keys()) == 3
    other = tiny_clip(media, "other", 2, tone=900)
    render_audio(cut([clips[0], other, clips[2]], [48, 48, 48], [12, 0]), tmp_path / "b.m4a", kept=kept)
    assert decoded == [3, 1]  # only the changed shot is decoded again
    again = render_audio(cut(clips, [48, 48, 48], [12, 0]), tmp_path / "c.m4a", kept=kept)
    assert decoded == [3, 1] and (again.lufs, again.true_peak_db) == (first.lufs, first.true_peak_db)
