"""Damaged files under ``.shotlist/``: a damaged cache is dropped and rebuilt, a damaged record is kept aside.

Everything in ``.shotlist/`` is written whole (shotlist.durable), so damage comes from outside: a disk
error, a bad copy, a sync tool, a hand edit. Each reader says which kind of file it reads:

- a *cache* (input hashes, the record of the last render, frame references, backend scratch) only
  saves time: a damaged one is removed, with a one-line note, and rebuilt;
- a *record* (an index entry: takes that were paid for; a journal entry: a job that may be running
  and billed) is moved to ``.shotlist/damaged/`` and named in a note that says what could be read of
  it and what to do. ``cache gc`` keeps every clip a kept record names.

Notes go through one channel, ``note``: printed to stderr as ``note: …`` unless a listener is set.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shotlist.errors import ShotlistError

T = TypeVar("T")

STORE = ".shotlist"  # the store folder, in the project
DAMAGED = "damaged"
_SHA = re.compile(rb"\b[0-9a-f]{64}\b")
_FIELD = re.compile(r'"(\w+)"\s*:\s*("(?:[^"\\\n]|\\.)*"|-?\d+(?:\.\d+)?)')
#: What a parser raises on bytes that are not the file it expects (invalid JSON or UTF-8, wrong shape).
SHAPE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError)

_listeners: list[Callable[[str], None]] = []


def note(message: str) -> None:
    """Tell the user about damage that was dealt with (the one channel every reader reports through)."""
    if _listeners:
        _listeners[-1](message)
    else:
        print(f"note: {message}", file=sys.stderr, flush=True)


@contextmanager
def notes_to(listener: Callable[[str], None]) -> Iterator[None]:
    """Send notes to ``listener`` instead of stderr while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


class Unreadable(ShotlistError):
    """A record under .shotlist/ exists but this user may not read it."""


@dataclass(frozen=True)
class Damage:
    """A damaged file: where it was, where it is kept now, and what could be read of it."""

    path: Path
    kept: Path | None  # None: it could not be moved (a read-only project)
    text: str  # its bytes as text, undecodable bytes replaced

    def fields(self) -> dict[str, str]:
        """The ``"name": value`` pairs that can still be read (first of each name), quotes removed."""
        found: dict[str, str] = {}
        for name, value in _FIELD.findall(self.text):
            found.setdefault(name, value[1:-1] if value.startswith('"') else value)
        return found

    @property
    def name(self) -> str:
        """The file as the user knows it: ``.shotlist/journal/….json``."""
        return _shown(self.path)

    def where(self) -> str:
        """Where the file is kept now, in words."""
        if self.kept is None:
            return "left in place (it could not be moved)"
        return f"moved to {_shown(self.kept.parent)}/"


def read_cache(path: Path, parse: Callable[[bytes], T], what: str) -> T | None:
    """The cache in ``path`` parsed; None when it is absent or damaged (a damaged one is removed with a note)."""
    value, damaged = _parsed(path, parse, record=False)
    if damaged is None:
        return value
    if path.is_dir():
        done = "moved aside" if set_aside(path) else "ignored"
    else:
        try:
            path.unlink()
            done = "discarded"
        except OSError:
            done = "ignored"  # a read-only project: it is read around, not rewritten
    note(f"{_shown(path)} ({what}) was damaged: {done}; it is rebuilt as needed")
    return None


def read_record(
    path: Path,
    parse: Callable[[bytes], T],
    explain: Callable[[Damage], str],
    replace: Callable[[Damage], T | None] | None = None,
) -> T | None:
    """The record in ``path`` parsed; None when absent. A damaged one is moved under ``.shotlist/damaged/``
    and ``explain(damage)`` is noted; then ``replace(damage)`` (if given) is what the caller gets instead."""
    value, damaged = _parsed(path, parse, record=True)
    if damaged is None:
        return value
    damage = Damage(path=path, kept=set_aside(path), text=damaged.decode("utf-8", "replace"))
    note(explain(damage))
    return replace(damage) if replace is not None else None


def json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``; ValueError when it is not one."""
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def set_aside(path: Path) -> Path | None:
    """Move a damaged file (or folder) to ``.shotlist/damaged/``, keeping its place inside the store; the
    new path, or None when it cannot be moved."""
    store = next((p for p in path.parents if p.name == STORE), None)
    if store is None:
        return None
    dest = store / DAMAGED / path.relative_to(store)
    n = 1
    while dest.exists():
        dest = dest.with_name(f"{path.name}.{n}")
        n += 1
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
    except OSError:
        return None
    return dest


def make_way(path: Path, what: str) -> None:
    """Move aside whatever stands where the file ``path`` (``what``) goes when it is not a file (a folder…)."""
    if os.path.lexists(path) and not path.is_file():
        kept = set_aside(path)
        if kept is None:
            raise ShotlistError(f"{path} ({what}) is not a file; remove it and run again")
        note(f"{_shown(path)} ({what}) was not a file: moved to {_shown(kept)}")


def kept_clips(store_dir: Path) -> set[str]:
    """Every content hash named in a record kept aside: clips and frames ``cache gc`` must not delete."""
    base = store_dir / DAMAGED
    found: set[str] = set()
    if base.is_dir():
        for p in base.rglob("*"):
            if p.is_file():
                try:
                    found.update(m.decode() for m in _SHA.findall(p.read_bytes()))
                except OSError:
                    continue
    return found


def _parsed(path: Path, parse: Callable[[bytes], T], *, record: bool) -> tuple[T | None, bytes | None]:
    """(what ``parse`` made of the file, None), (None, None) when it is absent, or (None, its bytes) when damaged."""
    raw = _read(path, record=record)
    if raw is None:
        return None, None
    try:
        return parse(raw), None
    except SHAPE_ERRORS:
        return None, raw


def _read(path: Path, *, record: bool) -> bytes | None:
    """The bytes of ``path``; None when absent (or, for a cache, unreadable); b"" for a folder in its place."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return b""  # something made a folder where the file goes: damaged like any bad bytes
    except OSError as exc:
        if not record:
            return None  # a cache that cannot be read only costs time
        raise Unreadable(
            f"cannot read {path}: {exc.strerror or exc}; give this user read access to the project's "
            f"{STORE} folder"
        ) from None


def _shown(path: Path) -> str:
    """A store path as the user knows it: from ``.shotlist/`` on."""
    parts = path.parts
    return str(Path(*parts[parts.index(STORE) :])) if STORE in parts else str(path)
