"""The edit: render the timeline into the final cut, re-encoding only the pieces that changed.

The picture is planned as bodies and seams (``shotlist.pieces``). Each piece missing from the store
is encoded by its own ffmpeg process, from its own clips only, so its bytes are a function of its key
alone (an encoder's look-ahead and rate control never see a neighbour) and memory does not grow with
the film; several pieces are encoded at once where there are cores for it. The cut is then the stored
pieces joined by the concat demuxer (stream copy, exact durations) and muxed with the sound, which is
rendered once over the whole timeline by ``shotlist.audio`` (never segmented: per-segment AAC clicks
at the joins) and kept by its own key, so a change to the picture alone does not touch it.

On a first render every piece is missing, so the cost is about one decode and one encode of the cut;
after a one-shot change only that shot's body and its seams are encoded.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shotlist import durable
from shotlist.audio import render_audio, shot_sounds, sound_identity, sound_key
from shotlist.clip import Clip
from shotlist.cut import AudioResult, CutResult, inputs_of, output_path, unchanged
from shotlist.hashing import sha256_file
from shotlist.load import Project
from shotlist.media import (
    MediaError,
    available,
    ffmpeg_version,
    frame_counts,
    run_ffmpeg,
    xfade_transitions,
)
from shotlist.pieces import CODECS, THREADS, Encoder, Overlays, Piece, captions_over, fades, plan
from shotlist.spec import sha256_json
from shotlist.store import Store, sweep_leftovers, temp_name
from shotlist.timeline import Item, Timeline, assemble

PREVIEW_PRESET = "veryfast"
#: Where the identities of the clips' sounds are kept (``audio.sound_identity``), by clip hash.
SOUND_IDS = "sound-ids"
#: Pieces whose frame counts one ffmpeg process checks (a stream copy: it opens them all at once).
COUNT_BATCH = 64


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


@dataclass
class _Render:
    """One render in progress: what it works from and where."""

    project: Project
    store: Store
    timeline: Timeline
    encoder: Encoder
    overlays: Overlays
    ass: Path | None
    out: Path
    work: Path


def render_cut(
    project: Project,
    clips: dict[str, Clip],
    *,
    preview: bool = False,
    progress: Callable[[float], None] | None = None,
) -> CutResult:
    """Render the final cut of ``project`` from its picked ``clips`` (by shot id); MediaError on failure.

    Every clip must still hash to its ``sha256``. The cut is written to a temporary file beside the
    output and renamed, so the output is either the previous cut or the new one, never half of one.
    """
    began = time.perf_counter()
    store = Store(project.root)
    _check_clips(project, clips, store)
    encoder = encoder_for(project, preview=preview)
    timeline = assemble(project, clips)
    out = output_path(project, preview=preview)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(out.parent, out.name)  # what a killed render of this cut left
    (store.dir / "tmp").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.dir / "tmp", prefix=f"{os.getpid()}-cut-") as tmp:
        r = _Render(project, store, timeline, encoder, Overlays(), None, out, Path(tmp))
        if project.board.captions.burn_in:
            r.ass = _captions_file(project, timeline, r.work)
            r.overlays = Overlays(
                captions=tuple((c.start, c.end, c.text, c.who) for c in timeline.captions),
                captions_style=_style_digest(r.ass),
            )
        r.overlays = replace(r.overlays, fade_in=timeline.fade_in, fade_out=timeline.fade_out)
        pieces = plan(timeline, encoder, r.overlays, ffmpeg_version())
        sound = sound_key(timeline, _digest(store), sound_identity(store.dir / SOUND_IDS))
        cut_key = sha256_json(
            {
                "pieces": [p.key for p in pieces],
                "sound": sound,
                "captions": [[str(c.start), str(c.end), c.text, c.who] for c in timeline.captions],
                "sidecars": list(project.board.captions.sidecars),
                "out": out.name,
            }
        )
        inputs = inputs_of(project, clips, preview)
        memo = unchanged(store, out, cut_key, inputs)
        if memo is not None:  # a no-op build: the same pieces, the same sound, the cut untouched
            return replace(memo, reused=[p.label for p in pieces], seconds=time.perf_counter() - began)
        _check_binary(timeline, encoder)
        result = _render(r, pieces, sound, progress)
    result.sidecars = _sidecars(project, timeline, out)
    result.seconds = time.perf_counter() - began
    _remember(store, out, cut_key, result, pieces, sound, timeline, inputs)
    if progress is not None:
        progress(1.0)
    return result


def _render(
    r: _Render, pieces: list[Piece], sound: str, progress: Callable[[float], None] | None
) -> CutResult:
    """Encode the missing pieces beside the sound, join them with it, and put the cut in place."""
    todo = _unique([p for p in pieces if r.store.pieces.get(p.key) is None])
    box: dict[str, Any] = {}
    # The sound is one render over the whole timeline; it runs beside the picture's encodes.
    sound_thread = threading.Thread(target=_sound_into, args=(r, sound, box), daemon=True)
    sound_thread.start()
    began = time.perf_counter()
    try:
        _encode_pieces(r, todo, None if progress is None else (lambda x: progress(0.95 * x)))
    finally:
        picture_seconds = time.perf_counter() - began
        sound_thread.join()
    if "error" in box:
        raise box["error"]
    audio: AudioResult = box["result"]
    joined = r.out.with_name(temp_name(r.out.name) + r.out.suffix)
    try:
        _join(r.store, pieces, r.encoder.fps, audio.path, joined, r.work)
        frames = frame_counts([joined])[0]
        if frames != r.timeline.frames:
            raise MediaError(
                f"the joined cut has {frames} frames where the timeline has {r.timeline.frames}; "
                "run `shotlist cache verify`, then render again"
            )
        os.replace(joined, r.out)
    finally:
        joined.unlink(missing_ok=True)
    rendered = {p.key for p in todo}
    return CutResult(
        path=r.out,
        frames=frames,
        duration=float(r.timeline.duration),
        width=r.encoder.width,
        height=r.encoder.height,
        fps=r.encoder.fps,
        rendered=[p.label for p in pieces if p.key in rendered],
        reused=[p.label for p in pieces if p.key not in rendered],
        audio=replace(audio, path=r.out),  # the sound now lives in the cut
        picture_seconds=picture_seconds,
        sound_seconds=box.get("seconds", 0.0),
    )


def _check_clips(project: Project, clips: dict[str, Clip], store: Store) -> None:
    """Every shot has a clip, on disk, with the bytes its hash names (re-hashed only if the file changed)."""
    missing = [s.id for s in project.shots if s.id not in clips]
    if missing:
        raise MediaError(f"no clip for shot{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    for shot in project.shots:
        clip = clips[shot.id]
        if not clip.path.is_file():
            raise MediaError(f"shot '{shot.id}': its clip {clip.path} is missing")
        if store.verified.digest(clip.path) != clip.sha256:
            store.verified.save()
            raise MediaError(
                f"shot '{shot.id}': its clip {clip.path} is damaged (its bytes no longer match its hash "
                f"{clip.sha256[:12]}); `shotlist cache verify` lists what else is"
            )
    store.verified.save()


def _check_binary(timeline: Timeline, encoder: Encoder) -> None:
    if CODECS[encoder.codec] not in available("encoders"):
        raise MediaError(
            f"this ffmpeg ({ffmpeg_version()}) has no {CODECS[encoder.codec]} encoder for "
            f"codec: {encoder.codec}; use codec: h264"
        )
    unknown = {i.transition for i in timeline.items} - {"cut"} - xfade_transitions()
    if unknown:
        raise MediaError(
            f"this ffmpeg ({ffmpeg_version()}) has no xfade transition {', '.join(sorted(unknown))}"
        )


def _digest(store: Store) -> Callable[[Path], str]:
    """A file's content hash (cached by its stat signature), as a MediaError when it cannot be read."""

    def digest(path: Path) -> str:
        try:
            return store.hashes.digest(path)
        except OSError as exc:
            raise MediaError(f"{path}: cannot be read ({exc.strerror})") from None

    return digest


def _sound_into(r: _Render, key: str, box: dict[str, Any]) -> None:
    """The cut's sound, from the kept one when nothing it depends on changed (in a thread: result in ``box``)."""
    began = time.perf_counter()
    try:
        mixes = r.store.mixes
        path = mixes.get(key)
        record = mixes.record(key) if path else None
        if path is not None and record is not None and "lufs" in record:
            box["result"] = AudioResult(
                path, record["lufs"], record["true_peak_db"], record["normalization_type"]
            )
            return
        made = render_audio(
            r.timeline,
            mixes.scratch(key),
            kept=r.store.sounds,
            identity=sound_identity(r.store.dir / SOUND_IDS),
        )
        kept = mixes.add(
            key,
            made.path,
            lufs=made.lufs,
            true_peak_db=made.true_peak_db,
            normalization_type=made.normalization_type,
        )
        box["result"] = replace(made, path=kept)
        box["seconds"] = time.perf_counter() - began
    except BaseException as exc:  # handed to the main thread, which raises it
        box["error"] = exc


def _unique(pieces: list[Piece]) -> list[Piece]:
    """Pieces with distinct keys (a repeated piece is encoded once)."""
    seen: set[str] = set()
    out = []
    for p in pieces:
        if p.key not in seen:
            seen.add(p.key)
            out.append(p)
    return out


# --- the cut's record: what it was made from, for the next render, `cache gc` and `cache verify` --------------


def _remember(
    store: Store,
    out: Path,
    key: str,
    result: CutResult,
    pieces: list[Piece],
    sound: str,
    tl: Timeline,
    inputs: str,
) -> None:
    st = out.stat()
    audio = result.audio
    try:
        rel = out.relative_to(store.root).as_posix()
    except ValueError:
        rel = str(out)
    durable.write_json(
        store.cut_record_path(out),
        {
            "key": key,
            "inputs": inputs,
            "labels": [p.label for p in pieces],
            "cut": rel,
            "file": [st.st_size, st.st_mtime_ns],
            "sha256": sha256_file(out),
            "pieces": sorted({p.key for p in pieces}),
            "sound": sound,
            "sounds": sorted(
                {s.key for s in shot_sounds(tl, sound_identity(store.dir / SOUND_IDS)) if s.key}
            ),
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


# --- the filter graph of one piece ---------------------------------------------------------------------------


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
    so the piece has exactly the pixels it would have in one render of the whole cut.
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
    """(input args, filter graph) rendering ``pieces`` as separate streams labelled [p0], [p1], ...

    Each clip is an input once; its frames are split to every piece that needs them (a body and the
    seam after it), so a clip is decoded once. Filter instances are named after the seam, so that
    ffmpeg's errors say which.
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
        # One decoder thread: pieces are encoded several at once, so the cores are busy anyway, and
        # frame-threaded decoding of a clip only adds threads that wait on each other.
        inputs += ["-threads", "1", "-i", str(item.clip.path)]
        labels = [f"[i{i}b{j}]" for j in range(len(users))]
        split = f"split={len(users)}" if len(users) > 1 else "null"
        chains.append(f"[{i}:v:0]fps={f},{split}{''.join(labels)}")
        for (j, n), label in zip(users, labels, strict=True):
            s = pieces[j].sources[n]
            out = f"[p{j}s{n}]"
            chains.append(f"{label}{conform(item, s.first, s.last, encoder)}{out}")
            branch[(j, n)] = out
    for j, p in enumerate(pieces):
        overlay = overlay_filters(p, tl, overlays, ass)
        if p.kind == "seam":
            seam_id = re.sub(r"[^A-Za-z0-9_-]", "_", p.label)
            chains.append(
                f"{branch[(j, 0)]}{branch[(j, 1)]}xfade@{seam_id}=transition={p.transition}"
                f":duration={p.frames / f:.6f}:offset=0{overlay}[p{j}]"
            )
        else:
            chains.append(f"{branch[(j, 0)]}null{overlay}[p{j}]")
    return inputs, ";\n".join(chains)


# --- encoding the pieces ------------------------------------------------------------------------------------


def workers() -> int:
    """Pieces encoded at once: enough to keep every core busy (each encode runs THREADS threads, and
    spends part of its time starting, decoding and muxing, when its threads idle)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(2, -(-cores // THREADS))


def _encode_pieces(r: _Render, todo: list[Piece], progress: Callable[[float], None] | None) -> None:
    """Encode ``todo``, each piece by itself, several at once; check each one's frames; store it by its key.

    The pieces of one shot (its body, and the seam after it, which needs its last frames) are made by
    one ffmpeg process that decodes the shot's clip once and feeds one encoder per piece: each
    piece's bytes still depend on its own frames alone.
    """
    if not todo:
        return
    jobs: dict[int, list[Piece]] = {}
    for p in todo:
        jobs.setdefault(p.sources[0].item, []).append(p)
    total = sum(p.frames for p in todo)
    done: dict[int, float] = {}
    lock = threading.Lock()

    def one(job: tuple[int, list[Piece]]) -> list[Path]:
        home, pieces = job
        frames = sum(p.frames for p in pieces)

        def tell(x: float) -> None:
            with lock:
                done[home] = max(done.get(home, 0.0), min(x, 1.0) * frames)
                if progress is not None:
                    progress(sum(done.values()) / total)

        return _encode_job(r, pieces, tell)

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        made = [path for paths in pool.map(one, jobs.items()) for path in paths]
    ordered = [p for pieces in jobs.values() for p in pieces]
    for lo in range(0, len(ordered), COUNT_BATCH):
        batch = list(zip(ordered[lo : lo + COUNT_BATCH], made[lo : lo + COUNT_BATCH], strict=True))
        for (p, path), got in zip(batch, frame_counts([path for _, path in batch]), strict=True):
            if got != p.frames:
                for _, other in batch:
                    other.unlink(missing_ok=True)
                raise MediaError(
                    f"{p.label} came out with {got} frames instead of {p.frames}: "
                    f"{_sources_text(p, r.timeline)} may be damaged or shorter than its probe said"
                )
            r.store.pieces.add(p.key, path, frames=p.frames, label=p.label)


def _encode_job(r: _Render, pieces: list[Piece], progress: Callable[[float], None]) -> list[Path]:
    """Encode the pieces of one shot in one ffmpeg process, one output (and encoder) each; their files."""
    inputs, graph = piece_graph(pieces, r.timeline, r.encoder, r.overlays, r.ass)
    scratch = [r.store.pieces.scratch(p.key) for p in pieces]
    outputs = [
        a
        for j, path in enumerate(scratch)
        for a in ("-map", f"[p{j}]", "-an", *r.encoder.args(), "-f", "mp4", str(path))
    ]
    try:
        run_ffmpeg(
            [*inputs, "-filter_complex_threads", "1", "-filter_complex", graph, *outputs],
            duration=pieces[0].frames / r.encoder.fps,  # the first output's clock is the one reported
            progress=progress,
            what=f"rendering {' and '.join(p.label for p in pieces)}",
        )
    except MediaError as exc:
        for path in scratch:
            path.unlink(missing_ok=True)
        raise _named(exc, pieces, r.timeline) from None
    progress(1.0)
    return scratch


def _sources_text(piece: Piece, tl: Timeline) -> str:
    items = [tl.items[s.item] for s in piece.sources]
    return " or ".join(f"the clip of '{i.shot}' ({i.clip.path})" for i in items)


def _named(exc: MediaError, pieces: list[Piece], tl: Timeline) -> MediaError:
    """ffmpeg's failure on some pieces, saying which shot's clip or which filter it is about."""
    text = str(exc)
    for item in sorted({tl.items[s.item] for p in pieces for s in p.sources}, key=lambda i: i.start):
        if str(item.clip.path) in text:
            return MediaError(f"shot '{item.shot}': cannot read its clip {item.clip.path}: {text}")
    m = re.search(r"\[(\w+)@([\w-]+)", text)
    if m:
        return MediaError(f"filter {m.group(1)} of {m.group(2).replace('_', ' ')} failed: {text}")
    return MediaError(f"{text} (while rendering from {_sources_text(pieces[0], tl)})")


def _join(store: Store, pieces: list[Piece], fps: int, sound: Path, dest: Path, work: Path) -> None:
    """The pieces, stream-copied one after another with exact durations, plus the sound: the cut."""
    lines = ["ffconcat version 1.0"]
    for p in pieces:
        # Absolute paths: the concat demuxer resolves relative ones against the list's own folder.
        # Each next file starts where the previous one's `duration` ends; the container's own duration
        # could be off by a frame, so the planned one is written.
        lines += [
            f"file '{_concat_quote(store.pieces.path(p.key).absolute())}'",
            f"duration {p.frames / fps:.9f}",
        ]
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
            *(["-movflags", "+faststart"] if dest.suffix.lower() in (".mp4", ".mov", ".m4v") else []),
            "-f",
            {".mkv": "matroska", ".mov": "mov"}.get(dest.suffix.lower(), "mp4"),
            str(dest),
        ],
        what="joining the pieces of the cut",
    )


def _concat_quote(path: Path) -> str:
    return str(path).replace("'", "'\\''")


def clear_pieces(project: Project) -> None:
    """Forget every stored piece and kept sound, and the cut records (the next render is a full one)."""
    store = Store(project.root)
    for folder in (*(d.dir for d in store.derived()), store.dir / "cuts"):
        shutil.rmtree(folder, ignore_errors=True)
