"""Resolve a validated Storyboard into Shots ready to render: defaults merged, names expanded, paths confined.

This is the last stage that looks at the user's document. Every problem found here is reported with
its place in the document (``shots[3].image``) so the loader can point at the line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from shotlist import durable, salvage
from shotlist.errors import Loc, Problem, did_you_mean
from shotlist.hashing import HashCache
from shotlist.source import not_a_file
from shotlist.storyboard import (
    Camera,
    Card,
    FrameRef,
    SheetRef,
    ShotAudio,
    ShotFields,
    Storyboard,
    Transition,
    Trim,
)
from shotlist.timeline import frames_of, planned_frames, timing_problems

DEFAULT_MODEL = "animatic"
DEFAULT_DURATION = 5.0
DEFAULT_CONSTRAINTS = "No distortion. No jitter."
IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}


@dataclass(frozen=True)
class ImageInfo:
    """An input image inside the project: where it is, and what it is."""

    rel: str  # path relative to the project root, with forward slashes (for messages and the lock)
    path: Path  # absolute path
    width: int
    height: int
    format: str  # PNG, JPEG or WEBP


@dataclass(frozen=True)
class Ref:
    """A reference for ref2vid: a character (look text + images) or a bare image."""

    name: str
    look: str | None
    images: tuple[ImageInfo, ...]
    sheet: tuple[str, ...] = ()  # a continuity sheet: the earlier shots whose pinned takes it shows


@dataclass(frozen=True)
class ResolvedShot:
    """A shot with defaults merged, styles and characters expanded and every path checked."""

    id: str
    index: int  # its place in the storyboard's shots
    mode: str
    model: str  # the shot's model id, else the defaults', else the animatic
    duration: float  # seconds
    camera: Camera
    framing: str | None = None
    angle: str | None = None
    subject: str | None = None  # the prompt's clauses, as the storyboard writes them
    action: str | None = None
    scene: str | None = None
    lighting: str | None = None
    style: str | None = None  # the style's text, not its name
    motion: tuple[str, ...] = ()
    still: tuple[str, ...] = ()
    template: str | None = None
    prompt: str | None = None  # the prompt as written, sent instead of a rendered one
    negative: str | None = None
    constraints: str = DEFAULT_CONSTRAINTS
    seed: int | None = None
    takes: int = 1
    image: ImageInfo | FrameRef | None = None  # checked and measured, or a frame of an earlier shot
    end_image: ImageInfo | FrameRef | None = None
    refs: tuple[Ref, ...] = ()
    audio: ShotAudio = field(default_factory=ShotAudio)
    transition: Transition = field(default_factory=Transition)  # into the next shot; ``cut`` when none
    trim: Trim | None = None
    fit: str = "cover"
    caption: str | None = None
    card: Card | None = None
    lint_ignore: tuple[str, ...] = ()  # the shot's ``lint:``: rules not checked on it
    notes: str | None = None
    characters: tuple[Ref, ...] = ()  # characters named by refs or by the dialogue's speaker

    @property
    def upstream(self) -> tuple[str, ...]:
        """Ids of the shots whose clips this shot starts or ends from."""
        framed = [s.shot for s in (self.image, self.end_image) if isinstance(s, FrameRef)]
        return tuple(dict.fromkeys(framed + [s for r in self.refs for s in r.sheet]))


def confine(root: Path, rel: str) -> tuple[Path | None, str | None]:
    """Resolve a user's path inside the project; (path, None) or (None, why it is refused)."""
    if not rel.strip():
        return None, "the path is empty"
    raw = Path(rel)
    candidate = raw if raw.is_absolute() else root / raw
    real_root = root.resolve()
    try:
        real = candidate.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None, f"'{rel}' is a symlink loop"
    if not real.is_relative_to(real_root):
        if _has_symlink(root, raw):
            return None, f"'{rel}' is a symlink to a file outside the project folder"
        return None, f"'{rel}' is outside the project folder"
    return real, None


#: The fix for a refused path: a project must build the same on every teammate's machine.
CONFINE_FIX = "copy the file into the project folder and name it relative to the storyboard"


def _has_symlink(root: Path, rel: Path) -> bool:
    p = Path(rel.anchor) if rel.is_absolute() else root
    for part in rel.parts:
        p = p / part
        if p.is_symlink():
            return True
    return False


class _Refused(NamedTuple):
    """Why an input image cannot be used, and what to do about it."""

    message: str
    fix: str = "export it again as PNG, JPEG or WebP"


def _decode_image(path: Path) -> tuple[str, tuple[int, int]] | _Refused:
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow only warns about a decompression bomb below twice its limit; refuse it either way.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = im.format or "?"
                size = im.size
                if fmt not in IMAGE_FORMATS:
                    return _Refused(f"is a {fmt} image, not PNG, JPEG or WebP")
                im.draft("RGB", (64, 64))  # JPEG decodes at a fraction of its size: enough to prove it opens
                im.load()
    except UnidentifiedImageError:
        return _Refused("is not a PNG, JPEG or WebP image (it does not open as an image)")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        most = Image.MAX_IMAGE_PIXELS or 0
        return _Refused(
            f"is too large to open safely (over {most / 1e6:.0f} megapixels)",
            f"make it smaller than {most:,} pixels (width × height); 7680x4320 (8K) is 33 million",
        )
    except (OSError, SyntaxError, ValueError, EOFError):
        return _Refused("is damaged: it does not decode")
    return fmt, size


class _Probes:
    """Every image and sound file opened once per content: ``.shotlist/probes.json`` maps a file's sha256 to
    what it is, so a load decodes only the files that changed (decoding the images was most of its time).

    A sound (key ``sound:<sha>``) maps to what is wrong with it ("" when nothing); an image (key ``image:<sha>``) to
    ``[format, width, height]``, or ``[message, fix]`` when it cannot be used.
    """

    def __init__(self, root: Path) -> None:
        self.hashes = HashCache(root / salvage.STORE / "hashes.json")
        self.file = root / salvage.STORE / "probes.json"
        self.known = (
            salvage.read_cache(self.file, salvage.json_object, "the probe cache of input files") or {}
        )
        self.dirty = False

    def problem(self, path: Path) -> str | None:
        """What keeps the edit from mixing this sound file, or None."""
        from shotlist.media import sound_problem

        key = f"sound:{self.hashes.digest(path)}"
        if not isinstance(self.known.get(key), str):
            self.known[key] = sound_problem(path) or ""
            self.dirty = True
        return str(self.known[key]) or None

    def image(self, path: Path) -> tuple[str, tuple[int, int]] | _Refused:
        """(format, (width, height)) of an image that decodes, or what is wrong with it, in words."""
        key = f"image:{self.hashes.digest(path)}"
        known = self.known.get(key)
        if isinstance(known, list) and len(known) == 3:
            return str(known[0]), (int(known[1]), int(known[2]))
        if isinstance(known, list) and len(known) == 2:
            return _Refused(str(known[0]), str(known[1]))
        found = _decode_image(path)
        self.known[key] = list(found) if isinstance(found, _Refused) else [found[0], *found[1]]
        self.dirty = True
        return found

    def save(self) -> None:
        if not self.file.parent.is_dir():
            return  # loading a project makes no .shotlist/ of its own: a project never built probes again
        self.hashes.save()
        if self.dirty:
            try:
                durable.write_json(self.file, self.known, sync=False)
            except OSError:
                pass  # a read-only project: it probes again next time


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root.resolve()).as_posix()


def _unreadable(path: Path) -> str | None:
    """Why this user cannot read ``path`` ("Permission denied"), or None when it can."""
    try:
        with open(path, "rb"):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


class _Resolver:
    def __init__(self, root: Path, board: Storyboard) -> None:
        self.root = root
        self.board = board
        self.problems: list[Problem] = []
        self.images: dict[str, ImageInfo] = {}
        self._probes: _Probes | None = None

    def problem(self, loc: Loc, message: str, fix: str | None = None) -> None:
        self.problems.append(Problem(loc, message, fix))

    def existing(self, rel: str, loc: Loc, what: str) -> Path | None:
        """The file ``rel`` names inside the project, or None after saying why there is none (``what``: "image")."""
        path, why = confine(self.root, rel)
        if path is None:
            self.problem(loc, why or "refused", CONFINE_FIX)
            return None
        a_what = f"{'an' if what[0] in 'aeiou' else 'a'} {what}"
        noun = what if what.endswith("file") else f"{what} file"
        kind = not_a_file(path)
        if kind == "a folder":
            self.problem(loc, f"'{rel}' is a folder, not {a_what}", f"name the {noun} inside it")
        elif kind is not None:  # opening it could block forever (a FIFO) or read without end (a device)
            self.problem(loc, f"'{rel}' is {kind}, not {a_what}", f"name a regular {noun}")
        elif not path.is_file():
            self.problem(
                loc,
                f"{what} '{rel}' does not exist",
                "check the path; it is relative to the storyboard's folder",
            )
        elif (unreadable := _unreadable(path)) is not None:
            self.problem(
                loc,
                f"'{rel}' cannot be read: {unreadable}",
                f"make it readable by this user (chmod a+r {rel})",
            )
        else:
            return path
        return None

    def sound(self, rel: str, loc: Loc) -> None:
        path = self.existing(rel, loc, "audio file")
        if path is not None and (wrong := self.probes.problem(path)):
            self.problem(loc, f"'{rel}' {wrong}", "export it again as WAV, MP3, M4A or FLAC")

    @property
    def probes(self) -> _Probes:
        if self._probes is None:
            self._probes = _Probes(self.root)
        return self._probes

    def image(self, rel: str, loc: Loc) -> ImageInfo | None:
        if rel in self.images:
            return self.images[rel]
        path = self.existing(rel, loc, "image")
        if path is None:
            return None
        found = self.probes.image(path)
        if isinstance(found, _Refused):
            self.problem(loc, f"'{rel}' {found.message}", found.fix)
            return None
        fmt, size = found
        info = ImageInfo(rel=_rel(self.root, path), path=path, width=size[0], height=size[1], format=fmt)
        self.images[rel] = info
        return info

    def source(
        self, value: str | FrameRef | None, loc: Loc, earlier: list[str]
    ) -> ImageInfo | FrameRef | None:
        if value is None:
            return None
        if isinstance(value, FrameRef):
            if loc[:2] == ("shots", len(earlier)) and value.shot == self.board.shots[len(earlier)].id:
                self.problem(
                    loc + ("shot",),
                    f"shot '{value.shot}' cannot start from its own clip",
                    "name the earlier shot it continues",
                )
            elif value.shot not in earlier:
                ids = [s.id for s in self.board.shots]
                if value.shot in ids:
                    self.problem(
                        loc + ("shot",),
                        f"shot '{value.shot}' comes later; a shot can only start from an earlier shot",
                        "move this shot after the one it continues",
                    )
                else:
                    self.problem(
                        loc + ("shot",),
                        f"no shot '{value.shot}'{did_you_mean(value.shot, ids)}",
                        "name an earlier shot's id",
                    )
            return value
        return self.image(value, loc)

    def ref(self, name: str | SheetRef, loc: Loc, earlier: list[str]) -> Ref | None:
        if isinstance(name, SheetRef):
            return self.sheet(name, loc, earlier)
        if name in self.board.characters:
            return self.character(name, loc)
        if "/" in name or "." in name:
            info = self.image(name, loc)
            return Ref(name=name, look=None, images=(info,)) if info else None
        chars = list(self.board.characters)
        self.problem(
            loc,
            f"no character '{name}'{did_you_mean(name, chars)}",
            "define it under characters: or give an image path",
        )
        return None

    def sheet(self, ref: SheetRef, loc: Loc, earlier: list[str]) -> Ref | None:
        """A continuity sheet of earlier shots (``previous``: the shot just before this one)."""
        if ref.sheet == "previous":
            if not earlier:
                self.problem(
                    loc + ("sheet",),
                    "the first shot has no previous shot",
                    "name earlier shots, or remove it",
                )
                return None
            shots = [earlier[-1]]
        else:
            shots = list(ref.sheet)
        ids = [s.id for s in self.board.shots]
        for i, shot in enumerate(shots):
            if shot not in earlier:
                later = shot in ids
                self.problem(
                    loc + ("sheet", i) if ref.sheet != "previous" else loc + ("sheet",),
                    f"shot '{shot}' comes later; a continuity sheet shows earlier shots"
                    if later
                    else f"no shot '{shot}'{did_you_mean(shot, ids)}",
                    "name earlier shots' ids",
                )
                return None
        if not shots:
            self.problem(
                loc + ("sheet",), "a continuity sheet of no shots", "name earlier shots, or previous"
            )
            return None
        return Ref(name=f"continuity sheet of {', '.join(shots)}", look=None, images=(), sheet=tuple(shots))

    def character(self, name: str, loc: Loc) -> Ref:
        char = self.board.characters[name]
        images = tuple(
            info
            for i, r in enumerate(char.ref)
            if (info := self.image(r, ("characters", name, "ref", i))) is not None
        )
        return Ref(name=name, look=char.look, images=images)

    def shot(self, index: int, shot_id: str, f: ShotFields, earlier: list[str]) -> ResolvedShot:
        """Shot ``index`` from its merged fields, every name and path checked (``earlier``: the ids before it)."""
        loc: Loc = ("shots", index)
        mode = self.mode(f, loc)
        style = self.style(f.style, loc)
        refs = tuple(
            x
            for j, name in enumerate(f.refs or [])
            if (x := self.ref(name, loc + ("refs", j), earlier)) is not None
        )
        audio = f.audio or ShotAudio()
        characters = self.characters(refs, audio, loc)
        duration = float(f.duration or DEFAULT_DURATION)
        self.check_trim(f.trim, duration, loc)
        return ResolvedShot(
            id=shot_id,
            index=index,
            mode=mode,
            model=str(f.model or DEFAULT_MODEL),
            duration=duration,
            camera=f.camera or Camera(),
            framing=f.framing,
            angle=f.angle,
            subject=f.subject,
            action=f.action,
            scene=f.scene,
            lighting=f.lighting,
            style=style,
            motion=tuple(f.motion or ()),
            still=tuple(f.still or ()),
            template=f.template,
            prompt=f.prompt,
            negative=f.negative,
            constraints=str(f.constraints or DEFAULT_CONSTRAINTS),
            seed=f.seed,
            takes=int(f.takes or 1),
            image=self.source(f.image, loc + ("image",), earlier),
            end_image=self.source(f.end_image, loc + ("end_image",), earlier),
            refs=refs,
            audio=audio,
            transition=f.transition or Transition(),
            trim=f.trim,
            fit=str(f.fit or "cover"),
            caption=f.caption,
            card=f.card,
            lint_ignore=tuple(f.lint or ()),
            notes=f.notes,
            characters=characters,
        )

    def mode(self, f: ShotFields, loc: Loc) -> str:
        """The shot's mode, written or told by what it holds; a mode without what it needs is a problem."""
        mode = f.mode or ("card" if f.card else "img2vid" if f.image else "ref2vid" if f.refs else "txt2vid")
        if mode == "img2vid" and f.image is None:
            self.problem(
                loc + ("image",),
                "an img2vid shot needs an image",
                "add image: <file> or image: {shot: <earlier id>, frame: last}, or use mode: txt2vid",
            )
        if mode == "ref2vid" and not f.refs:
            self.problem(
                loc + ("refs",),
                "a ref2vid shot needs at least one reference",
                "add refs: [<character or image>]",
            )
        if mode == "txt2vid" and f.image is not None:
            self.problem(
                loc + ("image",), "a txt2vid shot has no source image", "use mode: img2vid, or remove image:"
            )
        if mode == "card" and f.card is None:
            self.problem(loc + ("card",), "a card shot needs a card", "add card: {title: ...}")
        return mode

    def style(self, style: str | None, loc: Loc) -> str | None:
        """The text of the shot's style: the one named under ``styles:``, or the text written inline."""
        if style is None:
            return None
        if style in self.board.styles:
            return self.board.styles[style]
        if " " in style.strip() or "," in style:
            return style  # inline text
        self.problem(
            loc + ("style",),
            f"no style '{style}'{did_you_mean(style, list(self.board.styles))}",
            "define it under styles: or write the style text inline",
        )
        return None

    def characters(self, refs: tuple[Ref, ...], audio: ShotAudio, loc: Loc) -> tuple[Ref, ...]:
        """The characters in the shot: those among its refs, and the speaker of its dialogue."""
        characters = [x for x in refs if x.look is not None]
        if audio.dialogue is not None:
            who = audio.dialogue.who
            if who in self.board.characters and all(c.name != who for c in characters):
                characters.append(self.character(who, loc + ("audio", "dialogue", "who")))
        return tuple(characters)

    def check_trim(self, trim: Trim | None, duration: float, loc: Loc) -> None:
        """A trim must end within the clip and after it starts."""
        if trim is None:
            return
        end = trim.end if trim.end is not None else duration
        if end > duration:
            self.problem(
                loc + ("trim", "end"),
                f"trim ends at {end:g} s but the clip lasts {duration:g} s",
                "make trim.end at most the shot's duration",
            )
        elif trim.start >= end:
            self.problem(
                loc + ("trim",),
                f"trim starts at {trim.start:g} s, at or after its end {end:g} s",
                "make trim.start smaller than trim.end",
            )


def merged(defaults: ShotFields, shot: ShotFields) -> ShotFields:
    """The shot's fields over the defaults' (only fields the user actually wrote count)."""
    return defaults.model_copy(update={k: getattr(shot, k) for k in shot.model_fields_set if k != "id"})


def resolve(root: Path, board: Storyboard) -> tuple[list[ResolvedShot], list[Problem]]:
    """Merge defaults, expand names, check paths and cross-references; never raises for user errors."""
    r = _Resolver(root, board)
    shots: list[ResolvedShot] = []
    seen: list[str] = []
    for i, shot in enumerate(board.shots):
        if shot.id in seen:
            r.problem(
                ("shots", i, "id"),
                f"shot id '{shot.id}' is already used by shots[{seen.index(shot.id)}]",
                "give every shot its own id",
            )
        shots.append(r.shot(i, shot.id, merged(board.defaults, shot), seen))
        seen.append(shot.id)
    _check_timing(r, board, shots)
    _check_output(r, board)
    _check_soundtrack(r, board, seen)
    return shots, from_defaults(board, r.problems)


def from_defaults(board: Storyboard, problems: list[Problem]) -> list[Problem]:
    """Problems with a field shots took from ``defaults:`` point at the defaults' line, said once for all."""
    out: list[Problem] = []
    inherited: dict[tuple[Loc, str, str | None], list[str]] = {}
    for p in problems:
        loc = p.loc
        if len(loc) >= 3 and loc[0] == "shots" and isinstance(loc[1], int) and isinstance(loc[2], str):
            shot = board.shots[loc[1]]
            if loc[2] not in shot.model_fields_set and loc[2] in board.defaults.model_fields_set:
                inherited.setdefault((("defaults",) + loc[2:], p.message, p.fix), []).append(shot.id)
                continue
        out.append(p)
    for (loc, message, fix), ids in inherited.items():
        out.append(Problem(loc, f"{message} (in {shots_named(ids)}, from defaults)", fix))
    return out


def shots_named(ids: list[str]) -> str:
    """ "shot 'a'", "shots 'a', 'b', 'c' and 4 more": the shots one problem is about."""
    named = ", ".join(f"'{i}'" for i in ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    return f"shot{'s' if len(ids) > 1 else ''} {named}"


def _check_timing(r: _Resolver, board: Storyboard, shots: list[ResolvedShot]) -> None:
    """Transitions and fades that cannot be rendered, by the edit's own rule in frames (shotlist.timeline)."""
    last = board.shots[-1]
    if last.transition is not None and last.transition.type != "cut":
        r.problem(
            ("shots", len(shots) - 1, "transition"),
            f"the last shot '{last.id}' has a transition, but no shot follows it",
            "remove it; for a fade to black at the end use output: {fade_out: SECONDS}",
        )
    fps = board.output.fps
    lengths = [planned_frames(s, fps)[1] for s in shots]
    o = board.output
    r.problems += timing_problems(shots, lengths, fps, frames_of(o.fade_in, fps), frames_of(o.fade_out, fps))


#: What the cut may be written as: containers that take H.264/H.265/AV1 with AAC sound.
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")


def _check_output(r: _Resolver, board: Storyboard) -> None:
    """The cut, its report and its sidecars are written inside the project, to a video file name."""
    rel = board.output.file
    loc: Loc = ("output", "file")
    path, why = confine(r.root, rel)
    if path is None:
        r.problem(loc, why or "refused", "name a file inside the project folder, e.g. out/cut.mp4")
    elif (blocking := durable.file_in_the_way(path)) is not None:
        shown = Path(os.path.relpath(blocking, r.root)).as_posix()
        r.problem(
            loc,
            f"'{shown}' is a file, so '{rel}' cannot be written inside it",
            f"move the file '{shown}' away, or name another folder for the cut",
        )
    elif path.is_dir():
        r.problem(loc, f"'{rel}' is a folder", "name the video file, e.g. out/cut.mp4")
    elif path.suffix.lower() not in VIDEO_SUFFIXES:
        r.problem(
            loc,
            f"'{rel}' is not a video file name ({path.suffix or 'no extension'})",
            f"end it with {', '.join(VIDEO_SUFFIXES[:-1])} or {VIDEO_SUFFIXES[-1]}",
        )
    else:
        preview = path.with_name(f"{path.stem}.preview{path.suffix}")
        inputs = input_files(r.root, board, r.images.values())
        if path.resolve() in inputs or preview.resolve() in inputs:
            which = "its preview's file name" if path.resolve() not in inputs else f"'{rel}'"
            r.problem(
                loc,
                f"{which} is an image or sound the storyboard names: the cut would be written over it",
                "name a file of the cut's own, e.g. out/cut.mp4",
            )


def input_files(root: Path, board: Storyboard, images: Iterable[ImageInfo]) -> set[Path]:
    """Every image and sound file the storyboard names, resolved: what nothing shotlist writes may replace."""
    st = board.soundtrack
    sounds = [st.music.file] if st.music else []
    sounds += [p.file for p in (*st.voiceover, *st.effects)]
    return {(root / rel).resolve() for rel in sounds} | {i.path.resolve() for i in images}


def _check_soundtrack(r: _Resolver, board: Storyboard, ids: list[str]) -> None:
    st = board.soundtrack
    files: list[tuple[str, Loc]] = []
    if st.music:
        files.append((st.music.file, ("soundtrack", "music", "file")))
    for kind in ("voiceover", "effects"):
        for i, p in enumerate(getattr(st, kind)):
            files.append((p.file, ("soundtrack", kind, i, "file")))
            if p.shot is not None and p.shot not in ids:
                r.problem(
                    ("soundtrack", kind, i, "shot"),
                    f"no shot '{p.shot}'{did_you_mean(p.shot, ids)}",
                    "name a shot id from shots:",
                )
    for rel, loc in files:
        r.sound(rel, loc)
    if r._probes is not None:
        r._probes.save()
    for name, char in board.characters.items():
        for i, ref in enumerate(char.ref):
            r.image(ref, ("characters", name, "ref", i))


def project_root(path: Path) -> tuple[Path, Path]:
    """(project folder, storyboard file) for a folder or a storyboard file; the current folder by default."""
    path = Path(os.path.expanduser(str(path)))
    if path.is_dir():
        for name in ("storyboard.yaml", "storyboard.yml"):
            if (path / name).is_file():
                return path, path / name
        return path, path / "storyboard.yaml"
    return path.parent, path
