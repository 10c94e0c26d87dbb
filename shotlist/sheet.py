"""Contact sheets: frames of takes on one image, for a person (``shotlist sheet``) or a model (``refs: [{sheet: …}]``).

A take's strip (its first, middle and last frame side by side) is made by ffmpeg's ``select`` and
``tile`` in one decode and kept by the clip's hash in ``.shotlist/sheets/``; ``contact_sheet`` stacks
the strips of every shot (or every take) with a label of id, duration, model and take.

A continuity sheet is a 3×3 grid of frames from the pinned takes of the shots before a shot, the
nine cells shared out by how long each of those shots plays. Models given such a sheet as a
reference keep places and objects more consistent from shot to shot. It is named by the hashes of
those clips (``continuity_key``), like a frame taken from an upstream clip, so the plan knows it
before it exists and a re-picked take changes it.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from shotlist import durable, salvage
from shotlist.load import Project
from shotlist.media import ClipFacts, MediaError, run_ffmpeg
from shotlist.spec import sha256_json
from shotlist.store import Store

CELL_WIDTH = 320  # one frame of a contact sheet
LABEL_WIDTH = 260
GRID = 3  # a continuity sheet is GRID × GRID cells
GRID_CELL_WIDTH = 426
SHEET_VERSION = 1


@dataclass(frozen=True)
class Row:
    """One row of a contact sheet: a clip, and the label written beside its frames."""

    clip: str  # sha256 of the clip in the store
    facts: ClipFacts
    label: list[str]


def _frame_numbers(facts: ClipFacts, count: int) -> list[int]:
    """``count`` frame numbers spread from the first to the last frame."""
    frames = facts.frames or max(1, round(facts.duration * float(facts.rate or 24)))
    if count == 1:
        return [frames // 2]
    return [round(i * (frames - 1) / (count - 1)) for i in range(count)]


def strip(store: Store, clip: str, facts: ClipFacts, count: int = 3, width: int = CELL_WIDTH) -> Path:
    """``count`` frames of a stored clip side by side (one ffmpeg decode: select + tile), cached by its hash."""
    dest = store.dir / "sheets" / f"{clip}.{count}x{width}.png"
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    picks = "+".join(f"eq(n\\,{n})" for n in sorted(set(_frame_numbers(facts, count))))
    tiles = len(set(_frame_numbers(facts, count)))
    tmp = store.tmp_path(f"strip-{clip[:12]}.png")
    run_ffmpeg(
        [
            "-i",
            str(store.object_path(clip)),
            "-vf",
            f"select='{picks}',scale={width}:-2,tile={tiles}x1",
            "-frames:v",
            "1",
            "-f",
            "image2",
            str(tmp),
        ],
        what=f"frames of clip {clip[:12]}",
    )
    if not tmp.is_file():
        raise MediaError(f"no frames could be read from clip {clip[:12]}")
    tmp.replace(dest)
    return dest


def strip_image(
    store: Store, clip: str, facts: ClipFacts, count: int = 3, width: int = CELL_WIDTH
) -> Image.Image:
    """The strip of ``strip`` decoded; a cached one that does not decode is discarded with a note and made again."""
    path = strip(store, clip, facts, count, width)
    image = salvage.read_cache(path, _decoded, "a contact sheet strip")
    return image if image is not None else _decoded(strip(store, clip, facts, count, width).read_bytes())


def _decoded(raw: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(raw)) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError) as exc:  # Pillow's words for bytes that are no image
        raise ValueError(str(exc)) from None


def _sha_named(raw: bytes) -> str:
    sha = raw.decode("ascii").strip()
    if not re.fullmatch(r"[0-9a-f]{64}", sha):  # never a path to follow out of the store
        raise ValueError("not a sha256")
    return sha


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    from shotlist.fonts import font_path

    return ImageFont.truetype(str(font_path()), size)


def contact_sheet(store: Store, rows: Sequence[Row], dest: Path, title: str) -> Path:
    """A PNG with one row per clip: its label, then its first, middle and last frame."""
    strips = [strip_image(store, r.clip, r.facts) for r in rows]
    row_h = max((s.height for s in strips), default=180) + 8
    width = LABEL_WIDTH + max((s.width for s in strips), default=3 * CELL_WIDTH) + 8
    head = 40
    sheet = Image.new("RGB", (width, head + row_h * len(rows)), (17, 20, 23))
    draw = ImageDraw.Draw(sheet)
    draw.text((10, 8), title, fill=(242, 196, 32), font=_font(20))
    for i, (row, image) in enumerate(zip(rows, strips, strict=True)):
        top = head + i * row_h
        sheet.paste(image, (LABEL_WIDTH, top + 4))
        for j, line in enumerate(row.label):
            draw.text(
                (10, top + 8 + j * 22),
                line,
                fill=(230, 233, 236) if j == 0 else (154, 164, 173),
                font=_font(18 if j == 0 else 15),
            )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp.png")
    sheet.save(tmp, optimize=True)
    tmp.replace(dest)
    return dest


# --- continuity sheets -----------------------------------------------------------------------------------


def cells(durations: Sequence[float], total: int = GRID * GRID) -> list[int]:
    """How many of ``total`` cells each clip gets: in proportion to how long it plays, at least one each."""
    if not durations:
        return []
    if len(durations) >= total:
        return [1 if i < total else 0 for i in range(len(durations))]
    whole = sum(durations) or 1.0
    share = [max(1, int(total * d / whole)) for d in durations]
    while sum(share) > total:
        share[share.index(max(share))] -= 1
    rest = sorted(range(len(durations)), key=lambda i: total * durations[i] / whole - share[i], reverse=True)
    for i in rest[: total - sum(share)]:
        share[i] += 1
    return share


def continuity_key(parts: Sequence[tuple[str, float]]) -> str:
    """The name of the sheet made from these (clip hash, seconds it plays): known before the sheet exists."""
    return sha256_json(
        {"continuity_sheet": SHEET_VERSION, "grid": GRID, "clips": [[c, round(s, 4)] for c, s in parts]}
    )


def continuity_sheet(store: Store, parts: Sequence[tuple[str, float]]) -> Path:
    """The 3×3 sheet of frames from these clips (made once; its store object is named by ``continuity_key``)."""
    key = continuity_key(parts)
    ref = store.dir / "sheets" / f"{key}.continuity"
    sha = salvage.read_cache(ref, _sha_named, "a continuity sheet's name in the store")
    if sha is not None and store.has_object(sha):
        return store.object_path(sha)
    from shotlist.media import probe

    frames: list[Image.Image] = []
    for (clip, _), count in zip(parts, cells([s for _, s in parts]), strict=True):
        if count:
            facts = probe(store.object_path(clip))
            image = strip_image(store, clip, facts, count, GRID_CELL_WIDTH)
            tiles = len(set(_frame_numbers(facts, count)))  # a clip of fewer frames than cells repeats some
            w = image.width // tiles
            frames += [
                image.crop(((k * tiles // count) * w, 0, (k * tiles // count + 1) * w, image.height))
                for k in range(count)
            ]
    cell_w, cell_h = frames[0].size
    grid = Image.new("RGB", (cell_w * GRID, cell_h * GRID), (0, 0, 0))
    for i, frame in enumerate(frames[: GRID * GRID]):
        grid.paste(frame.resize((cell_w, cell_h)), ((i % GRID) * cell_w, (i // GRID) * cell_h))
    tmp = store.tmp_path(f"continuity-{key[:12]}.png")
    grid.save(tmp)
    sha = store.add_file(tmp)
    durable.write_text(ref, sha + "\n")
    return store.object_path(sha)


def project_rows(project: Project, *, every_take: bool = False) -> list[Row]:
    """A row per shot for its pinned take (``every_take``: a row per take in the store, the pinned one starred)."""
    from shotlist.clip import check_pinned_intact
    from shotlist.lock import read_lock
    from shotlist.takes import takes_by_shot

    store = Store(project.root)
    lock = read_lock(project.root, lenient=True)
    check_pinned_intact(project, store, lock)  # ffmpeg's own words on a damaged clip name no fix
    found = takes_by_shot(store)
    rows: list[Row] = []
    for shot in project.shots:
        entry = lock.get(shot.id)
        for _, t in found.get(shot.id, []):
            pinned = entry is not None and entry.clip == t.sha256
            if store.has_object(t.sha256) and (pinned or every_take):
                star = " (pinned)" if pinned and every_take else ""
                label = [
                    shot.id,
                    f"{t.facts.duration:.2f} s · {t.model}",
                    f"take {t.take}{star} · {t.sha256[:10]}",
                ]
                rows.append(Row(t.sha256, t.facts, label))
    return rows
