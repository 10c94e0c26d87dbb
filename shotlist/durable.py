"""Durable writes: a file is either its old content or its new content, never half of either.

Every file shotlist keeps in ``.shotlist/`` and the lock goes through here: write to a temporary file
beside the target, fsync it, rename it over the target, fsync the folder. A build killed at any
moment (kill -9, power loss) leaves no torn JSON behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def replacing(path: Path, *, sync: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer (this process or another) to fill: renamed over ``path``
    when the block ends, removed when it raises; durable unless ``sync`` is off (for files worth no fsync)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # unique per writer
    try:
        yield tmp
        if sync:
            _sync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        sync_dir(path.parent)


def write_bytes(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically; durably unless ``sync`` is off (for files worth no fsync)."""
    with replacing(path, sync=sync) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str, *, sync: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), sync=sync)


def write_json(path: Path, value: Any, *, sync: bool = True) -> None:
    """JSON with sorted keys and a final newline, written atomically."""
    write_text(path, json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n", sync=sync)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when the file does not exist."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None


def _sync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def sync_dir(path: Path) -> None:
    """fsync a folder so a rename inside it survives a crash (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
