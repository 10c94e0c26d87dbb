"""The timeline: the cut as data, in integer frames of the output rate (never float drift).

Shot k occupies frames [start_k, start_k + length_k) of the cut. A transition of t frames between
shots k and k+1 overlaps them: start_{k+1} = start_k + length_k - t. So the cut lasts
sum(length) - sum(t), to the frame, exactly what a chain of xfade filters produces.

The rules on those frames live here, once (``timing_problems``): ``resolve`` calls them with the
planned lengths, so ``validate`` reports a transition or a fade that cannot be rendered with its line,
and ``assemble`` with the lengths of the clips actually made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from shotlist.errors import Problem, ShotlistError
from shotlist.storyboard import xfade_name

if TYPE_CHECKING:
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
    who: str | None = None  # the speaker of a dialogue line; None for a shot's caption
    shot: str | None = None  # the shot it is shown over


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


class TimelineError(ShotlistError):
    """The clips cannot be placed as the storyboard asks (e.g. a clip much shorter than its shot needs)."""


def frames_of(seconds: float | Fraction, fps: int) -> int:
    """Seconds → whole frames at ``fps`` (round half up, as editors do)."""
    return int(Fraction(seconds).limit_denominator(10**6) * fps + Fraction(1, 2))


def planned_frames(shot: ResolvedShot, fps: int) -> tuple[int, int]:
    """(first frame used, frames used) of a shot's clip, from its duration and trim."""
    start = shot.trim.start if shot.trim else 0.0
    end = shot.trim.end if shot.trim and shot.trim.end is not None else shot.duration
    return frames_of(start, fps), frames_of(end, fps) - frames_of(start, fps)


def transition_frames(shots: Sequence[ResolvedShot], fps: int) -> list[int]:
    """Frames of each shot's transition into the next (0 for a cut and for the last shot, which has no next)."""
    last = len(shots) - 1
    return [
        0 if k == last or s.transition.type == "cut" else frames_of(s.transition.duration, fps)
        for k, s in enumerate(shots)
    ]


def timing_problems(
    shots: Sequence[ResolvedShot], lengths: Sequence[int], fps: int, fade_in: int, fade_out: int
) -> list[Problem]:
    """What of the cut's timing cannot be rendered, found in frames (where rounding has happened).

    Every shot must be on screen on its own for at least one frame: the transitions into and out of
    it may not meet inside it (nor one of them cover it whole). The fade from black at the start and
    to black at the end may each be at most as long as the cut.
    """
    t = transition_frames(shots, fps)
    found: dict[int, Problem] = {}  # by the shot whose transition is to blame, one problem each
    for k in range(len(shots)):
        t_in = t[k - 1] if k else 0
        if t_in + t[k] < lengths[k]:
            continue
        blamed = k if t[k] else k - 1
        found.setdefault(blamed, _overlap(shots, k, blamed, t_in, t[k], lengths[k], fps))
    problems = [found[k] for k in sorted(found)]
    if problems:
        return problems
    total = sum(lengths) - sum(t)
    for name, frames in (("fade_in", fade_in), ("fade_out", fade_out)):
        if frames > total:
            problems.append(
                Problem(
                    ("output", name),
                    f"the {name.replace('_', ' ')} is {frames} frames ({_seconds(frames, fps)} s), "
                    f"longer than the whole cut ({total} frames, {_seconds(total, fps)} s)",
                    f"make it at most {_seconds(total, fps)} s",
                )
            )
    return problems


def _overlap(
    shots: Sequence[ResolvedShot], k: int, blamed: int, t_in: int, t_out: int, length: int, fps: int
) -> Problem:
    """The problem of shot k having no frame of its own, pointing at the transition ``blamed``."""
    shot, at = shots[k], f"{fps} fps"
    loc = ("shots", shots[blamed].index, "transition", "duration")
    if t_in and t_out:
        return Problem(
            loc,
            f"shot '{shot.id}' is {length} frames ({length / fps:g} s) and its transitions in "
            f"(from '{shots[k - 1].id}', {t_in} frames) and out ({t_out} frames) together take "
            f"{t_in + t_out}: they would overlap inside it",
            f"shorten them to at most {length - 1} frames together ({_seconds(length - 1, fps)} s at {at}), "
            "or make the shot longer: every shot needs a frame on screen on its own",
        )
    t = t_in or t_out
    seconds = shots[blamed].transition.duration
    where = "after" if t_out else "into"
    return Problem(
        loc,
        f"the {seconds:g} s transition {where} '{shot.id}' is {t} frames at {at}, not shorter than "
        f"'{shot.id}' itself ({length} frames)",
        f"make it at most {length - 1} frames ({_seconds(length - 1, fps)} s), or the shot longer"
        if length > 1
        else "use transition: cut here, or make the shot longer",
    )


def _seconds(frames: int, fps: int) -> str:
    """Frames as seconds, written so that ``frames_of`` gives the same frames back."""
    return f"{round(frames / fps, 3):g}"


def assemble(project: Project, clips: dict[str, Clip]) -> Timeline:
    """Place every shot's picked clip on the cut; pure (no file is read beyond the clips' probed facts)."""
    board = project.board
    fps = board.output.fps
    width, height = board.output.size()
    planned = [planned_frames(shot, fps) for shot in project.shots]
    lengths = []
    for shot, (src_in, length) in zip(project.shots, planned, strict=True):
        available = int(Fraction(clips[shot.id].facts.duration).limit_denominator(10**6) * fps)
        # A provider may return a few frames less than asked; use what exists rather than freeze.
        lengths.append(max(min(length, available - src_in), 1))
    fade_in, fade_out = frames_of(board.output.fade_in, fps), frames_of(board.output.fade_out, fps)
    problems = timing_problems(project.shots, lengths, fps, fade_in, fade_out)
    if problems:
        raise TimelineError(
            "the clips are shorter than the storyboard planned: "
            + "; ".join(f"{p.message} (fix: {p.fix})" for p in problems)
        )
    items: list[Item] = []
    start = 0
    for shot, (src_in, _), length, t in zip(
        project.shots, planned, lengths, transition_frames(project.shots, fps), strict=True
    ):
        items.append(
            Item(
                shot=shot.id,
                clip=clips[shot.id],
                src_in=src_in,
                length=length,
                start=start,
                fit=shot.fit,
                audio=shot.audio,
                transition="cut" if t == 0 else xfade_name(shot.transition.type),
                transition_frames=t,
            )
        )
        start += length - t
    tl = Timeline(
        fps=fps,
        width=width,
        height=height,
        items=items,
        fade_in=fade_in,
        fade_out=fade_out,
        loudness_lufs=board.soundtrack.loudness_lufs,
        true_peak_db=board.soundtrack.true_peak_db,
    )
    _place_sound(project, tl)
    tl.captions = _captions(project, items, fps)
    return tl


def _place_sound(project: Project, tl: Timeline) -> None:
    """The music bed, voice-over and effects, at their times on the cut."""
    by_id = {i.shot: i for i in tl.items}
    st = project.board.soundtrack
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


def on_screen(items: Sequence[Item]) -> list[tuple[int, int]]:
    """Per item, the frames of the cut where it is *the* shot: [first, end).

    A transition hands over at its middle, where an editor would put the cut: the outgoing shot
    keeps the first ⌊t/2⌋ frames of the overlap and the incoming one the last ⌈t/2⌉. So the spans tile
    the cut with no gap and no overlap; captions switch there, and an export cuts there.
    """
    out = []
    t_in = 0
    for item in items:
        t_out = item.transition_frames
        out.append((item.start + t_in // 2, item.end - (t_out - t_out // 2)))
        t_in = item.transition_frames
    return out


def _captions(project: Project, items: list[Item], fps: int) -> list[Caption]:
    """Dialogue and ``caption:`` text, each shown while its shot is *the* shot (``on_screen``).

    Subtitle practice: a caption changes with the shot and does not straddle the cut; during a
    transition the outgoing caption stays up to the transition's middle and the incoming one takes
    over there, so no frame of dialogue is left uncaptioned.
    """
    out: list[Caption] = []
    for shot, (begin, end) in zip(project.shots, on_screen(items), strict=True):
        d = shot.audio.dialogue
        if d is not None:
            out.append(Caption(Fraction(begin, fps), Fraction(end, fps), d.says, who=d.who, shot=shot.id))
        if shot.caption:
            out.append(Caption(Fraction(begin, fps), Fraction(end, fps), shot.caption, shot=shot.id))
    return out
