"""The finished cut: what a render produced, the record kept of it, and whether that cut still stands.

Every render writes a record beside the store (``.shotlist/cuts/<name>.json``): the cut's key (its
pieces, its sound, its captions), the fingerprint of what it was made from (the storyboard's bytes,
the pinned clips, the sound files, the code and ffmpeg that made it), the file's size and time and
hash, and what was measured. A build whose inputs have that fingerprint, with the cut untouched,
needs nothing else: it does not even import the edit (``kept``). Otherwise the edit works the cut's
key out and renders only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shotlist import durable, salvage
from shotlist.errors import BuildError
from shotlist.spec import sha256_json

if TYPE_CHECKING:
    from shotlist.clip import Clip
    from shotlist.load import Project
    from shotlist.store import Store

#: The modules whose code decides a cut's bytes, with the shipped font: a change to one is a new cut.
_MAKERS = ("edit.py", "pieces.py", "audio.py", "timeline.py", "captions.py", "media.py", "fonts")


@dataclass(frozen=True)
class AudioResult:
    """The rendered sound of the cut and what an independent pass measured on it."""

    path: Path
    lufs: float  # integrated loudness after normalisation (ebur128)
    true_peak_db: float  # dBTP after normalisation (ebur128 peak=true)
    normalization_type: str  # linear | dynamic (loudnorm fell back) | none (silence: nothing to normalise)


@dataclass
class CutResult:
    """What a render produced and what it cost."""

    path: Path
    frames: int
    duration: float  # seconds
    width: int
    height: int
    fps: int
    sidecars: list[Path] = field(default_factory=list)
    rendered: list[str] = field(default_factory=list)  # pieces encoded this time ("body mika", "seam a>b")
    reused: list[str] = field(default_factory=list)  # pieces taken from the store
    seconds: float = 0.0
    audio: AudioResult | None = None  # loudness measured on the rendered sound
    picture_seconds: float = 0.0  # wall time of the picture's encodes (beside the sound)
    sound_seconds: float = 0.0  # wall time of the sound (0 when the kept sound was reused)


def output_path(project: Project, *, preview: bool = False) -> Path:
    """Where the cut goes; a preview goes beside it (``cut.preview.mp4``) so it never replaces the real cut."""
    out = project.root / project.board.output.file
    return out.with_name(f"{out.stem}.preview{out.suffix}") if preview else out


def check_destination(project: Project, dest: Path, command: str, default: Path) -> None:
    """BuildError unless ``command`` may write ``dest``: no folder, and nothing the project reads."""
    blocking = durable.file_in_the_way(dest)
    what = (
        f"is in '{blocking}', which is a file, not a folder"
        if blocking is not None
        else "is a folder"
        if dest.is_dir()
        else project.reads(dest)
    )
    if what is not None:
        like = dest / default.name if dest.is_dir() else default
        raise BuildError(
            f"{dest} {what}: {command} writes nothing there\n  fix: name another file, like {like}"
        )


def inputs_of(project: Project, clips: dict[str, Clip], preview: bool) -> str:
    """The fingerprint of everything a cut is made from, known without planning it (cheap: stats and bytes)."""
    from shotlist.media import ffmpeg_exe

    here = Path(__file__).parent
    st = project.board.soundtrack
    sounds = [st.music.file] if st.music else []
    sounds += [p.file for p in (*st.voiceover, *st.effects)]
    return sha256_json(
        {
            "storyboard": project.path.read_bytes().hex(),
            "clips": {shot: clip.sha256 for shot, clip in clips.items()},
            "sounds": [[rel, _signature(project.file(rel))] for rel in sounds],
            "preview": preview,
            "code": [[name, _signature(here / name)] for name in _MAKERS],
            "ffmpeg": _signature(Path(ffmpeg_exe())),
        }
    )


def _signature(path: Path) -> list[int]:
    try:
        st = path.stat()
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


def kept(store: Store, project: Project, clips: dict[str, Clip], preview: bool) -> CutResult | None:
    """The last render's cut when it was made from exactly these inputs and is still there, untouched."""
    out = output_path(project, preview=preview)
    record = _record(store, out)
    if record is None or record[3] != inputs_of(project, clips, preview):
        return None
    return _standing(out, record)


def unchanged(store: Store, out: Path, key: str, inputs: str) -> CutResult | None:
    """The last render's cut when it has this key and is still there, untouched. Its record then learns
    ``inputs`` (the same cut from other inputs: a storyboard edit that changed nothing of the cut), so the
    next build with these inputs finds it by ``kept``."""
    record = _record(store, out)
    if record is None or record[0] != key:
        return None
    standing = _standing(out, record)
    if standing is not None and record[3] != inputs:
        path = store.cut_record_path(out)
        data = salvage.read_cache(path, salvage.json_object, "the record of the last render")
        if data is not None:
            try:
                durable.write_json(path, {**data, "inputs": inputs}, sync=False)
            except OSError:
                pass  # a read-only project: the next build works the key out again
    return standing


def _standing(out: Path, record: tuple[str, list[int], CutResult, str]) -> CutResult | None:
    if not out.is_file():
        return None
    st = out.stat()
    if [st.st_size, st.st_mtime_ns] != record[1] or not all(p.is_file() for p in record[2].sidecars):
        return None
    return record[2]


def _record(store: Store, out: Path) -> tuple[str, list[int], CutResult, str] | None:
    return salvage.read_cache(
        store.cut_record_path(out), lambda raw: _parse(raw, out), "the record of the last render"
    )


def _parse(raw: bytes, out: Path) -> tuple[str, list[int], CutResult, str]:
    """(cut key, [size, mtime] of the cut, its result, inputs fingerprint); KeyError/ValueError if damaged."""
    memo = salvage.json_object(raw)
    r = memo["result"]
    audio = AudioResult(path=out, **r["audio"]) if r.get("audio") else None
    result = CutResult(
        path=out,
        frames=int(r["frames"]),
        duration=float(r["duration"]),
        width=int(r["width"]),
        height=int(r["height"]),
        fps=int(r["fps"]),
        sidecars=[Path(str(p)) for p in memo.get("sidecars", [])],
        reused=[str(p) for p in memo.get("labels", [])],
        audio=audio,
    )
    return str(memo["key"]), list(memo["file"]), result, str(memo.get("inputs", ""))
