"""Captions of the cut: SRT and WebVTT sidecars, and an ASS file for burning in with libass.

All three are written from the timeline's caption events (dialogue and ``caption:`` text), already
timed to the cut, so they match the rendered video to the frame. Each format has its own escaping:
a caption's text never breaks the file's structure or turns into markup.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from shotlist.timeline import Caption, Timeline

KINDS = ("srt", "vtt")


def _units(seconds: Fraction, per_second: int) -> int:
    return math.floor(seconds * per_second + Fraction(1, 2))


def _clock(seconds: Fraction, sep: str) -> str:
    """``HH:MM:SS<sep>mmm`` (SRT uses a comma, WebVTT a dot)."""
    ms = _units(seconds, 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _lines(text: str) -> list[str]:
    # A blank line ends a cue in SRT and WebVTT, so a caption's own blank lines are dropped.
    return [ln.strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if ln.strip()]


def _events(timeline: Timeline) -> list[Caption]:
    """Captions in the order they appear, without any that would last no time once rounded to ms."""
    kept = [c for c in timeline.captions if _units(c.end, 1000) > _units(c.start, 1000) and _lines(c.text)]
    return sorted(kept, key=lambda c: (c.start, c.end))


def srt_text(timeline: Timeline) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm``, the speaker as ``MIKA: text``."""
    cues = []
    for n, c in enumerate(_events(timeline), start=1):
        lines = _lines(c.text)
        # "-->" inside text would read as a timing line; SRT has no escape for it.
        lines = [ln.replace("-->", "->") for ln in lines]
        if c.who:
            lines[0] = f"{c.who.upper()}: {lines[0]}"
        cues.append(f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n" + "\n".join(lines) + "\n")
    return "\n".join(cues)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt_text(timeline: Timeline) -> str:
    """WebVTT: ``HH:MM:SS.mmm`` cues, the speaker as a voice span ``<v mika>``."""
    cues = ["WEBVTT\n"]
    for c in _events(timeline):
        body = "\n".join(_vtt_escape(ln) for ln in _lines(c.text))
        if c.who:
            body = f"<v {_vtt_escape(' '.join(c.who.split()))}>{body}</v>"
        cues.append(f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{body}\n")
    return "\n".join(cues)


def _write(dest: Path, text: str) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, dest)
    return dest


_WRITERS: dict[str, Callable[[Timeline], str]] = {"srt": srt_text, "vtt": vtt_text}


def write_sidecars(timeline: Timeline, base: Path, kinds: list[str]) -> list[Path]:
    """Write ``base.srt`` and/or ``base.vtt`` next to the cut; the paths written, in ``kinds`` order."""
    unknown = [k for k in kinds if k not in _WRITERS]
    if unknown:
        raise ValueError(f"unknown caption format {unknown[0]!r}; use {' or '.join(KINDS)}")
    return [_write(base.with_suffix(f".{kind}"), _WRITERS[kind](timeline)) for kind in kinds]


def font_family(path: Path) -> str:
    """The family name inside a TTF/OTF file: what an ASS style's FontName must say for libass to use it."""
    from PIL import ImageFont

    family = ImageFont.truetype(str(path), 12).getname()[0]
    if not family:
        raise ValueError(f"{path}: the font has no family name")
    return family


def _ass_clock(seconds: Fraction) -> str:
    cs = _units(seconds, 100)
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h:d}:{m:02d}:{s:02d}.{cs:02d}"


_ASS_SPECIAL = re.compile(r"\\(?=[Nnh])")


def _ass_escape(text: str) -> str:
    # Outside braces libass still reads \N, \n and \h; a word joiner after the backslash keeps it
    # literal. A brace opens an override block and the shipped libass has no escape for it (\{ is
    # hidden too), so braces become the curly-bracket ornaments the shipped font draws.
    text = _ASS_SPECIAL.sub("\\\\\u2060", text)
    return text.replace("{", "\u2774").replace("}", "\u2775")


def ass_text(timeline: Timeline, size: int, family: str) -> str:
    """An ASS script sized to the cut (PlayRes = output size): white text, dark outline, bottom centre."""
    w, h = timeline.width, timeline.height
    outline = max(1, round(size / 16))
    margin_v = max(8, round(h * 0.06))
    margin_h = max(8, round(w * 0.05))
    head = [
        "[Script Info]",
        "; written by shotlist",
        "ScriptType: v4.00+",
        f"PlayResX: {w}",
        f"PlayResY: {h}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: TV.709",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Default,{family.replace(',', ' ')},{size},&H00FFFFFF,&H000000FF,&H00000000,&H80000000,"
        f"0,0,0,0,100,100,0,0,1,{outline},0,2,{margin_h},{margin_h},{margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    events = []
    for c in _events(timeline):
        lines = [_ass_escape(ln) for ln in _lines(c.text)]
        if c.who:
            lines[0] = f"{_ass_escape(c.who.upper())}: {lines[0]}"
        name = (c.who or "").replace(",", " ")
        events.append(
            f"Dialogue: 0,{_ass_clock(c.start)},{_ass_clock(c.end)},Default,{name},0,0,0,,"
            + "\\N".join(lines)
        )
    return "\n".join([*head, *events]) + "\n"


def write_ass(timeline: Timeline, dest: Path, size: int) -> Path:
    """Write the ASS file the render burns in (``subtitles=…:fontsdir=`` the shipped fonts' folder).

    FontName is the family read from the shipped TTF: libass picks a font by that name, and with no
    match it substitutes a system font or draws nothing.
    """
    from shotlist.fonts import font_path

    return _write(dest, ass_text(timeline, size, font_family(font_path())))
