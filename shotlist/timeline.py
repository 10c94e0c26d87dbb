"""The timeline: the cut as data, in integer frames of the output rate (never float drift).

Shot k occupies frames [start_k, start_k + length_k) of the cut. A transition of t frames between
shots k and k+1 overlaps them: start_{k+1} = start_k + length_k - t. So the cut lasts
sum(length) - sum(t), to the frame, exactly what a chain of xfade filters produces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from shotlist.clip import Clip
from shotlist.load import Project
from shotlist.resolve import ResolvedShot
from shotlist.storyboard import Music, ShotAudio


@dataclass(frozen=True)
class Item:
    """One shot on the cut: which frames of which clip, where, and how it leaves."""

    shot: str
    clip: Clip
    src_in: int  # first frame used, counted at the output rate from the clip's start (trim start)
    length: int  # frames used, overlaps included
    start: int  # first frame on the cut
    fit: str  # cover | contain
    audio: ShotAudio
    transition: str = "cut"  # to the next item: "cut" or an xfade name
    transition_frames: int = 0  # overlap with the next item

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Placed:
    """An audio file placed on the cut (voice-over or effect)."""

    kind: str  # voiceover | effect
    path: Path
    start: Fraction  # seconds on the cut
    gain_db: float


@dataclass(frozen=True)
class Caption:
    """A caption event on the cut, in seconds."""

    start: Fraction
    end: Fraction
    text: str
    who: str | None = None
    shot: str | None = None


@dataclass
class Timeline:
    """The whole cut: video items, audio placements, music bed and captions."""

    fps: int
    width: int
    height: int
    items: list[Item]
    placed: list[Placed] = field(default_factory=list)
    music: Music | None = None
    music_path: Path | None = None
    captions: list[Caption] = field(default_factory=list)
    fade_in: int = 0  # frames of fade from black at the start
    fade_out: int = 0  # frames of fade to black at the end
    loudness_lufs: float = -14.0
    true_peak_db: float = -1.0

    @property
    def frames(self) -> int:
        return self.items[-1].end if self.items else 0

    @property
    def duration(self) -> Fraction:
        return Fraction(self.frames, self.fps)

    def seconds(self, frame: int) -> Fraction:
        return Fraction(frame, self.fps)


class TimelineError(ValueError):
    """The clips cannot be placed as the storyboard asks (e.g. a clip shorter than its shot needs)."""


def frames_of(seconds: float, fps: int) -> int:
    """Seconds → whole frames at ``fps`` (round half up, as editors do)."""
    return int(Fraction(seconds).limit_denominator(10**6) * fps + Fraction(1, 2))


def _planned_frames(shot: ResolvedShot, fps: int) -> tuple[int, int]:
    start = shot.trim.start if shot.trim else 0.0
    end = shot.trim.end if shot.trim and shot.trim.end is not None else shot.duration
    return frames_of(start, fps), frames_of(end, fps) - frames_of(start, fps)


def assemble(project: Project, clips: dict[str, Clip]) -> Timeline:
    """Place every shot's picked clip on the cut; pure (no file is read beyond the clips' probed facts)."""
    board = project.board
    fps = board.output.fps
    width, height = board.output.size()
    items: list[Item] = []
    start = 0
    for k, shot in enumerate(project.shots):
        clip = clips[shot.id]
        src_in, length = _planned_frames(shot, fps)
        available = int(Fraction(clip.facts.duration).limit_denominator(10**6) * fps)
        if src_in + length > available:
            # A provider may return a few frames less than asked; use what exists rather than freeze.
            length = max(available - src_in, 1)
        last = k == len(project.shots) - 1
        t = 0 if last or shot.transition.type == "cut" else frames_of(shot.transition.duration, fps)
        items.append(
            Item(
                shot=shot.id,
                clip=clip,
                src_in=src_in,
                length=length,
                start=start,
                fit=shot.fit,
                audio=shot.audio,
                transition="cut" if t == 0 else shot.transition.type,
                transition_frames=t,
            )
        )
        start += length - t
    for prev, item in zip(items, items[1:], strict=False):
        if prev.transition_frames >= min(prev.length, item.length):
            raise TimelineError(
                f"the transition after '{prev.shot}' ({prev.transition_frames} frames) is not shorter "
                f"than both of its shots ({prev.length} and {item.length} frames)"
            )
    tl = Timeline(
        fps=fps,
        width=width,
        height=height,
        items=items,
        fade_in=frames_of(board.output.fade_in, fps),
        fade_out=frames_of(board.output.fade_out, fps),
        loudness_lufs=board.soundtrack.loudness_lufs,
        true_peak_db=board.soundtrack.true_peak_db,
    )
    by_id = {i.shot: i for i in items}
    st = board.soundtrack
    if st.music:
        tl.music = st.music
        tl.music_path = project.file(st.music.file)
    for kind, placements in (("voiceover", st.voiceover), ("effect", st.effects)):
        for p in placements:
            at = (
                Fraction(p.at).limit_denominator(10**6)
                if p.at is not None
                else tl.seconds(by_id[str(p.shot)].start)
            )
            at += Fraction(p.offset).limit_denominator(10**6)
            tl.placed.append(
                Placed(kind=kind, path=project.file(p.file), start=max(at, Fraction(0)), gain_db=p.gain_db)
            )
    tl.captions = _captions(project, items, fps)
    return tl


def _captions(project: Project, items: list[Item], fps: int) -> list[Caption]:
    """Dialogue and ``caption:`` text, shown while the shot is on screen on its own (between its transitions)."""
    out: list[Caption] = []
    prev_t = 0
    for shot, item in zip(project.shots, items, strict=True):
        begin = item.start + prev_t // 2
        end = item.end - item.transition_frames // 2
        prev_t = item.transition_frames
        d = shot.audio.dialogue
        if d is not None:
            out.append(Caption(Fraction(begin, fps), Fraction(end, fps), d.says, who=d.who, shot=shot.id))
        if shot.caption:
            out.append(Caption(Fraction(begin, fps), Fraction(end, fps), shot.caption, shot=shot.id))
    return out
