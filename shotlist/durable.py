"""Durable writes: a file is either its old content or its new content, never half of either.

Every file shotlist keeps in ``.shotlist/`` and the lock goes through here: write to a temporary file
beside the target, fsync it, rename it over the target, fsync the folder. A build killed at any
moment (kill -9, power loss) leaves no torn JSON behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from shotlist.errors import ShotlistError


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
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None:  # a write or an fsync failed (a full disk): name the file it was for
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
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


class NotWritable(ShotlistError):
    """A command that writes was pointed at a place it cannot write (a read-only project, another user's files)."""


def check_writable(paths: Iterable[Path], command: str) -> None:
    """Refuse ``command`` before it changes anything when one of ``paths`` (files or folders it will write,
    existing or not) cannot be written."""
    for path in paths:
        folder = path if path.is_dir() else path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # the folder that will hold what is made
        if not os.access(folder, os.W_OK):
            raise NotWritable(
                f"cannot write {path}: {why_not_writable(folder)}; {command} changed nothing\n"
                f"  fix: {READ_ONLY_FIX.format(command=command)}"
            )


READ_ONLY_FIX = (
    "make the project writable (or copy it somewhere writable) and run {command} again; "
    "validate, lint, plan, status and cache verify work on a read-only project"
)


def file_in_the_way(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that is a file (or anything but a folder), or None."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def why_not_writable(path: Path) -> str:
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "the file system is read-only"
    except OSError:
        pass
    return f"this user ({_user()}) may not write there"


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def failed_write(exc: OSError) -> str:
    """What to tell a user when a file operation failed half-way through a command."""
    if exc.errno == errno.EROFS and exc.filename:  # a command that took no check_writable of its own
        return (
            f"cannot write {exc.filename}: the file system is read-only\n"
            "  shotlist writes every file whole, so none was left half-written\n"
            f"  fix: {READ_ONLY_FIX.format(command='it')}"
        )
    what = f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc)
    fix = (
        "free some space on that disk and run it again"
        if exc.errno == errno.ENOSPC
        else "fix that and run it again"
    )
    return (
        f"{what}\n  shotlist writes every file whole, so none was left half-written; takes made before this "
        f"are stored and pinned\n  fix: {fix}"
    )


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
