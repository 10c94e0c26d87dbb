"""The edit: render the timeline into the final cut, re-encoding only the pieces that changed.

The picture is planned as bodies and seams (``shotlist.pieces``). Pieces missing from the store are
rendered by ONE ffmpeg process: one filter graph (each clip decoded once, conformed, trimmed, the
seams crossfaded, the pieces concatenated) and one encode, which the segment muxer splits at the piece
boundaries with keyframes forced at the same frames. The cut is then the stored pieces joined by the
concat demuxer (stream copy, exact durations) and muxed with the sound, which is rendered once over
the whole timeline by ``shotlist.audio`` (never segmented: per-segment AAC clicks at the joins).

On a first render every piece is missing, so the cost is one decode and one encode of the cut; after
a one-shot change only that shot's body and its seams are encoded.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shotlist.clip import Clip
from shotlist.errors import Problem, did_you_mean
from shotlist.load import Project
from shotlist.media import MediaError, available, ffmpeg_exe, ffmpeg_version, run_ffmpeg
from shotlist.pieces import CODECS, Encoder, Overlays, Piece, captions_over, fades, plan
from shotlist.spec import sha256_json
from shotlist.storyboard import XFADE_TRANSITIONS
from shotlist.timeline import Item, Timeline, assemble

PREVIEW_PRESET = "veryfast"


def check_transitions(project: Project) -> list[Problem]:
    """A problem for every transition name that is neither ``cut`` nor an xfade transition."""
    problems = []
    for shot in project.shots:
        name = shot.transition.type
        if name != "cut" and name not in XFADE_TRANSITIONS:
            problems.append(
                Problem(
                    ("shots", shot.index, "transition", "type"),
                    f"unknown transition '{name}'{did_you_mean(name, ('cut', *XFADE_TRANSITIONS))}",
                    "use cut, dissolve, fade, fadeblack, fadewhite, a wipe (wipeleft, ...), a slide (slideleft, ...), "
                    "circleopen, or another ffmpeg xfade transition",
                )
            )
    return problems


@functools.cache
def binary_transitions() -> frozenset[str]:
    """The transitions this ffmpeg's xfade knows (older builds have fewer)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-h", "filter=xfade"], capture_output=True, text=True, check=False
    )
    names = re.findall(r"^\s+(\w+)\s+-?\d+\s+\.\.FV", out.stdout, re.M)
    return frozenset(n for n in names if n != "custom")


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
    audio: Any = None  # shotlist.audio.AudioResult: loudness measured on the rendered sound


def pieces_dir(project: Project) -> Path:
    return project.root / ".shotlist" / "pieces"


def output_path(project: Project, *, preview: bool = False) -> Path:
    """Where the cut goes; a preview goes beside it (``cut.preview.mp4``) so it never replaces the real cut."""
    out = project.root / project.board.output.file
    return out.with_name(f"{out.stem}.preview{out.suffix}") if preview else out


def encoder_for(project: Project, *, preview: bool = False) -> Encoder:
    """The output's encoder settings; a preview is half the size and a faster preset, at the same fps."""
    o = project.board.output
    width, height = o.size()
    if preview:
        width, height = max(width // 4 * 2, 2), max(height // 4 * 2, 2)
    return Encoder(
        codec=o.codec,
        crf=o.crf,
        preset=PREVIEW_PRESET if preview else o.preset,
        width=width,
        height=height,
        fps=o.fps,
    )


def render_cut(
    project: Project,
    clips: dict[str, Clip],
    *,
    preview: bool = False,
    progress: Callable[[float], None] | None = None,
) -> CutResult:
    """Render the final cut of ``project`` from its picked ``clips`` (by shot id); MediaError on failure.

    The cut is written to a temporary file beside the output and renamed, so the output is either
    the previous cut or the new one, never half of one.
    """
    began = time.perf_counter()
    missing = [s.id for s in project.shots if s.id not in clips]
    if missing:
        raise MediaError(f"no clip for shot{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    for shot in project.shots:
        if not clips[shot.id].path.is_file():
            raise MediaError(f"shot '{shot.id}': its clip {clips[shot.id].path} is missing")
    encoder = encoder_for(project, preview=preview)
    if CODECS[encoder.codec] not in available("encoders"):
        raise MediaError(
            f"this ffmpeg ({ffmpeg_version()}) has no {CODECS[encoder.codec]} encoder for "
            f"codec: {encoder.codec}; use codec: h264"
        )
    timeline = assemble(project, clips)
    unknown = {i.transition for i in timeline.items} - {"cut"} - binary_transitions()
    if unknown:
        raise MediaError(
            f"this ffmpeg ({ffmpeg_version()}) has no xfade transition {', '.join(sorted(unknown))}"
        )
    out = output_path(project, preview=preview)
    out.parent.mkdir(parents=True, exist_ok=True)
    store = pieces_dir(project)
    store.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        work = Path(tmp)
        ass = _captions_file(project, timeline, work) if project.board.captions.burn_in else None
        overlays = Overlays(
            fade_in=timeline.fade_in,
            fade_out=timeline.fade_out,
            captions=tuple((c.start, c.end, c.text, c.who) for c in timeline.captions) if ass else (),
            captions_style=_style_digest(ass) if ass else "",
        )
        pieces = plan(timeline, encoder, overlays, ffmpeg_version())
        cut_key = _cut_key(project, timeline, pieces, out)
        memo = _unchanged(project, out, cut_key)
        if memo is not None:  # a no-op build: the same pieces, the same sound, the cut untouched
            return replace(memo, reused=[p.label for p in pieces], seconds=time.perf_counter() - began)
        todo = _unique([p for p in pieces if not (store / f"{p.key}.mp4").is_file()])

        # The sound is one render over the whole timeline; it runs beside the picture's encode.
        audio_box: dict[str, Any] = {}
        audio_thread = threading.Thread(
            target=_render_sound,
            args=(timeline, work / "sound.m4a", audio_box, project.root / ".shotlist" / "sounds"),
            daemon=True,
        )
        audio_thread.start()
        try:
            if todo:
                report = None if progress is None else (lambda x: progress(0.95 * x))
                _render_pieces(todo, timeline, encoder, overlays, ass, store, report)
        finally:
            audio_thread.join()
        if "error" in audio_box:
            raise audio_box["error"]
        tmp_out = work / f"cut{out.suffix}"
        _join(
            [store / f"{p.key}.mp4" for p in pieces],
            [p.frames for p in pieces],
            encoder.fps,
            work / "sound.m4a",
            tmp_out,
            work,
        )
        frames = count_frames([tmp_out])[0]
        if frames != timeline.frames:
            raise MediaError(
                f"the joined cut has {frames} frames where the timeline has {timeline.frames}; "
                f"delete {store} and render again"
            )
        os.replace(tmp_out, out)
    sidecars = _sidecars(project, timeline, out)
    if progress is not None:
        progress(1.0)
    rendered = {p.key for p in todo}
    result = CutResult(
        path=out,
        frames=frames,
        duration=float(timeline.duration),
        width=encoder.width,
        height=encoder.height,
        fps=encoder.fps,
        sidecars=sidecars,
        rendered=[p.label for p in pieces if p.key in rendered],
        reused=[p.label for p in pieces if p.key not in rendered],
        seconds=time.perf_counter() - began,
        audio=_in_cut(audio_box.get("result"), out),
    )
    _remember(project, out, cut_key, result)
    return result


def _cut_key(project: Project, timeline: Timeline, pieces: list[Piece], out: Path) -> str:
    """Everything the finished cut depends on: its pieces' keys, the sound's inputs, the captions."""
    from shotlist.sounds import sound_inputs

    return sha256_json(
        {
            "pieces": [p.key for p in pieces],
            **sound_inputs(timeline, lambda item: item.clip.sha256),
            "captions": [[str(c.start), str(c.end), c.text, c.who] for c in timeline.captions],
            "sidecars": list(project.board.captions.sidecars),
            "out": out.name,
            "ffmpeg": ffmpeg_version(),
        }
    )


def _memo_path(project: Project, out: Path) -> Path:
    return project.root / ".shotlist" / "cuts" / f"{out.name}.json"


def _unchanged(project: Project, out: Path, key: str) -> CutResult | None:
    """The previous render's result when the cut it wrote is still there, untouched, with this key."""
    from shotlist import salvage

    memo = salvage.read_cache(
        _memo_path(project, out), lambda raw: _memo(raw, out), "the record of the last render"
    )
    if memo is None or memo[0] != key or not out.is_file():
        return None
    st = out.stat()
    if [st.st_size, st.st_mtime_ns] != memo[1] or not all(p.is_file() for p in memo[2].sidecars):
        return None
    return memo[2]


def _memo(raw: bytes, out: Path) -> tuple[str, list[int], CutResult]:
    """(cut key, [size, mtime] of the cut, its result) from a render record; KeyError/ValueError if damaged."""
    from shotlist import salvage
    from shotlist.audio import AudioResult

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
        audio=audio,
    )
    return str(memo["key"]), list(memo["file"]), result


def _remember(project: Project, out: Path, key: str, result: CutResult) -> None:
    from shotlist import durable

    st = out.stat()
    audio = result.audio
    durable.write_json(
        _memo_path(project, out),
        {
            "key": key,
            "file": [st.st_size, st.st_mtime_ns],
            "sidecars": [str(p) for p in result.sidecars],
            "result": {
                "frames": result.frames,
                "duration": result.duration,
                "width": result.width,
                "height": result.height,
                "fps": result.fps,
                "audio": None
                if audio is None
                else {
                    "lufs": audio.lufs,
                    "true_peak_db": audio.true_peak_db,
                    "normalization_type": audio.normalization_type,
                },
            },
        },
    )


def _unique(pieces: list[Piece]) -> list[Piece]:
    """Pieces with distinct keys (a repeated piece is encoded once)."""
    seen: set[str] = set()
    out = []
    for p in pieces:
        if p.key not in seen:
            seen.add(p.key)
            out.append(p)
    return out


def _render_sound(timeline: Timeline, dest: Path, box: dict[str, Any], cache: Path) -> None:
    try:
        from shotlist.sounds import render_sound  # a picture-only change reuses the rendered sound

        box["result"] = render_sound(timeline, dest, cache)
    except BaseException as exc:  # handed to the main thread, which raises it
        box["error"] = exc


def _in_cut(audio: Any, cut: Path) -> Any:
    """The audio step's report, pointing at the cut that now holds the sound (its own file was temporary)."""
    if dataclasses.is_dataclass(audio) and not isinstance(audio, type) and hasattr(audio, "path"):
        return dataclasses.replace(audio, path=cut)
    return audio


def _captions_file(project: Project, timeline: Timeline, work: Path) -> Path:
    from shotlist.captions import write_ass

    return write_ass(timeline, work / "captions.ass", project.board.captions.size)


def _style_digest(ass: Path) -> str:
    """A digest of everything in the ASS file but its events: fonts, sizes, colours, margins."""
    text = ass.read_text(encoding="utf-8")
    return hashlib.sha256(text.split("[Events]")[0].encode()).hexdigest()


def _sidecars(project: Project, timeline: Timeline, out: Path) -> list[Path]:
    kinds: list[str] = list(project.board.captions.sidecars)
    if not kinds:
        return []
    from shotlist.captions import write_sidecars

    return write_sidecars(timeline, out, kinds)  # kitsune.v2.mp4 → kitsune.v2.srt


# --- the filter graph ---------------------------------------------------------------------------------------


def escape(value: str) -> str:
    """A filter option value escaped for both levels of ffmpeg's filtergraph syntax (paths for subtitles)."""
    level1 = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", level1)


def conform(item: Item, first: int, last: int, encoder: Encoder) -> str:
    """Filters that turn frames [first, last) of an item's clip (after ``fps``) into output frames.

    Frames are counted after ``fps`` (constant rate at the output fps), so a trim is exact whatever
    the clip's own rate; every link leaves with the same size, square pixels, yuv420p and time base
    1/fps, which xfade and the concat demuxer both require.
    """
    w, h, f = encoder.width, encoder.height, encoder.fps
    src = item.src_in
    chain = [f"trim=start_frame={src + first}:end_frame={src + last}", "setpts=PTS-STARTPTS"]
    sar = item.clip.facts.sar
    if sar not in ("1:1", "0:1"):
        chain.append("scale=trunc(iw*sar/2)*2:ih,setsar=1")  # display shape before fitting
    if item.fit == "contain":
        chain += [
            f"scale={w}:{h}:force_original_aspect_ratio=decrease",
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black",
        ]
    else:
        chain += [f"scale={w}:{h}:force_original_aspect_ratio=increase", f"crop={w}:{h}"]
    chain += ["setsar=1", "format=yuv420p", f"settb=1/{f}"]
    return ",".join(chain)


def overlay_filters(piece: Piece, tl: Timeline, overlays: Overlays, ass: Path | None) -> str:
    """The cut-wide filters (fades, burned captions) for one piece, applied at the piece's own times on the cut.

    Each piece is stamped with its frame numbers on the cut before these filters and back to 0 after,
    so a piece rendered alone gets exactly the pixels it gets in a full render.
    """
    f = tl.fps
    fade_in, fade_out = fades(piece.start, piece.frames, tl, overlays)
    shown = ass is not None and captions_over(piece.start, piece.frames, tl, overlays)
    if not (fade_in or fade_out or shown):
        return ""
    chain = [f"setpts=PTS+{piece.start}"]
    if fade_in:
        chain.append(f"fade=t=in:st=0:d={overlays.fade_in / f:.6f}")
    if fade_out:
        chain.append(f"fade=t=out:st={(tl.frames - overlays.fade_out) / f:.6f}:d={overlays.fade_out / f:.6f}")
    if shown and ass is not None:
        from shotlist.fonts import font_path

        chain.append(f"subtitles=filename={escape(str(ass))}:fontsdir={escape(str(font_path().parent))}")
    chain.append("setpts=PTS-STARTPTS")
    return "," + ",".join(chain)


def piece_graph(
    pieces: list[Piece], tl: Timeline, encoder: Encoder, overlays: Overlays, ass: Path | None
) -> tuple[list[str], str]:
    """(input args, filter graph) rendering ``pieces`` back to back as one stream labelled [cut].

    Each clip is an input once; its frames are split to every branch that needs them (a body and up
    to two seams). Filter instances are named after the shot or seam so that ffmpeg's errors say which.
    """
    f = encoder.fps
    uses: dict[int, list[tuple[int, int]]] = {}  # item -> (piece, source) that read it
    for j, p in enumerate(pieces):
        for n, s in enumerate(p.sources):
            uses.setdefault(s.item, []).append((j, n))
    inputs: list[str] = []
    chains: list[str] = []
    branch: dict[tuple[int, int], str] = {}
    for i, (k, users) in enumerate(sorted(uses.items())):
        item = tl.items[k]
        inputs += ["-i", str(item.clip.path)]
        labels = [f"[i{i}b{j}]" for j in range(len(users))]
        split = f"split={len(users)}" if len(users) > 1 else "null"
        chains.append(f"[{i}:v:0]fps={f},{split}{''.join(labels)}")
        for (j, n), label in zip(users, labels, strict=True):
            s = pieces[j].sources[n]
            out = f"[p{j}s{n}]"
            chains.append(f"{label}{conform(item, s.first, s.last, encoder)}{out}")
            branch[(j, n)] = out
    names = []
    for j, p in enumerate(pieces):
        name = f"[p{j}]"
        if p.kind == "seam":
            a, b = branch[(j, 0)], branch[(j, 1)]
            seam_id = re.sub(r"[^A-Za-z0-9_-]", "_", p.label)
            chains.append(
                f"{a}{b}xfade@{seam_id}=transition={p.transition}:duration={p.frames / f:.6f}:offset=0"
                f"{overlay_filters(p, tl, overlays, ass)}{name}"
            )
        else:
            chains.append(f"{branch[(j, 0)]}null{overlay_filters(p, tl, overlays, ass)}{name}")
        names.append(name)
    # The concat filter stamps in microseconds; back to frame numbers at 1/fps for the encoder.
    chains.append(f"{''.join(names)}concat=n={len(names)}:v=1:a=0,settb=1/{f},setpts=N[cut]")
    return inputs, ";\n".join(chains)


def _render_pieces(
    todo: list[Piece],
    tl: Timeline,
    encoder: Encoder,
    overlays: Overlays,
    ass: Path | None,
    store: Path,
    progress: Callable[[float], None] | None,
) -> None:
    """Encode ``todo`` in one ffmpeg process, split into one file per piece, and store each under its key."""
    inputs, graph = piece_graph(todo, tl, encoder, overlays, ass)
    bounds = list(itertools.accumulate(p.frames for p in todo))
    total = bounds.pop()
    keyframes = ["-force_key_frames", "expr:" + "+".join(f"eq(n,{b})" for b in bounds)] if bounds else []
    # One piece alone: a split point after its last frame, i.e. no split.
    split = ["-segment_frames", ",".join(map(str, bounds or [total]))]
    # Segments are written inside the store, so each piece is renamed into place on the same file system.
    with tempfile.TemporaryDirectory(dir=store, prefix=".segments-") as tmp:
        segments = Path(tmp)
        args = [
            *inputs,
            "-filter_complex",
            graph,
            "-map",
            "[cut]",
            "-an",
            *encoder.args(),
            *keyframes,
            "-f",
            "segment",
            *split,
            "-reset_timestamps",
            "1",
            "-segment_format",
            "mp4",
            str(segments / "%05d.mp4"),
        ]
        try:
            run_ffmpeg(args, duration=total / encoder.fps, progress=progress, what="rendering the cut")
        except MediaError as exc:
            raise _named(exc, tl) from None
        files = sorted(segments.iterdir())
        if len(files) != len(todo):
            raise MediaError(
                f"rendering the cut made {len(files)} pieces where {len(todo)} were planned: "
                f"{_sources_text(todo, tl)} may be damaged or shorter than its probe said"
            )
        for got, p in zip(count_frames(files), todo, strict=True):
            if got != p.frames:
                raise MediaError(
                    f"{p.label} came out with {got} frames instead of {p.frames}: "
                    f"{_sources_text([p], tl)} may be damaged or shorter than its probe said"
                )
        for path, p in zip(files, todo, strict=True):
            os.replace(path, store / f"{p.key}.mp4")


def count_frames(files: list[Path]) -> list[int]:
    """Video frames in each file, counted by one stream-copy pass over all of them (no decode)."""
    args = [a for f in files for a in ("-i", str(f))] + [
        a for i in range(len(files)) for a in ("-map", f"{i}:v:0")
    ]
    err = run_ffmpeg(["-loglevel", "verbose", *args, "-c", "copy", "-f", "null", "-"], what="counting frames")
    counts = {
        int(m.group(1)): int(m.group(2))
        for m in re.finditer(r"Output stream #0:(\d+) \(video\): (\d+) packets muxed", err)
    }
    return [counts.get(i, 0) for i in range(len(files))]


def _sources_text(pieces: list[Piece], tl: Timeline) -> str:
    items = sorted({s.item for p in pieces for s in p.sources})
    return " or ".join(f"the clip of '{tl.items[k].shot}' ({tl.items[k].clip.path})" for k in items)


def _named(exc: MediaError, tl: Timeline) -> MediaError:
    """ffmpeg's failure, saying which shot's clip or which filter it is about."""
    text = str(exc)
    for item in tl.items:
        if str(item.clip.path) in text:
            return MediaError(f"shot '{item.shot}': cannot read its clip {item.clip.path}: {text}")
    m = re.search(r"\[(\w+)@([\w-]+)", text)
    if m:
        return MediaError(f"filter {m.group(1)} of {m.group(2).replace('_', ' ')} failed: {text}")
    return exc


def _join(files: list[Path], frames: list[int], fps: int, sound: Path, dest: Path, work: Path) -> None:
    """The pieces, stream-copied one after another with exact durations, plus the sound: the cut."""
    lines = ["ffconcat version 1.0"]
    for path, n in zip(files, frames, strict=True):
        # Each next file starts where the previous one's `duration` ends; the container's own duration
        # could be off by a frame, so the planned one is written.
        lines += [f"file '{_concat_quote(path)}'", f"duration {n / fps:.9f}"]
    listing = work / "pieces.ffconcat"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_ffmpeg(
        [
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-i",
            str(sound),
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(dest),
        ],
        what="joining the pieces of the cut",
    )


def _concat_quote(path: Path) -> str:
    return str(path).replace("'", "'\\''")


def clear_pieces(project: Project) -> None:
    """Forget every stored piece (the next render is a full one)."""
    shutil.rmtree(pieces_dir(project), ignore_errors=True)
