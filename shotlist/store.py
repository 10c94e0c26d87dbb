"""The project's store: generated clips and extracted frames by content, and every take of every recipe.

``.shotlist/`` (git-ignored) holds

- ``objects/<sha[:2]>/<sha>``: clips and frames, named by the sha256 of their bytes (never rewritten);
- ``index/<key[:2]>/<key>.json``: one recipe (a ShotSpec key): its canonical recipe and its takes,
  newest first — one recipe can hold many results, so a retry never destroys an earlier one;
- ``frames/<clip sha>.<selector>``: which object is the frame ``selector`` of a clip;
- ``hashes.json``: the input-file digest cache (shotlist.hashing);
- ``verified.json``: the (size, mtime, inode) at which each object was last found to hash to its name;
- ``corrupt/``: objects whose bytes no longer hash to their name, moved aside (never used);
- ``pieces/``, ``sound/``, ``mix/``: what the edit made from the clips (the cut's picture pieces, each
  shot's conformed sound, the finished sound of a cut), by recipe key, each with a record of its own hash;
- ``cuts/``: one record per rendered cut: its hash and the pieces and sound it was joined from;
- ``journal/``: paid submits in flight (shotlist.journal);
- ``store.lock``: the file lock that keeps two shotlist processes from writing at once.

Every write is atomic (shotlist.durable), so a reader never sees half a file. Temporary files carry
the pid of the process writing them; the next process to take the store lock removes those of dead
processes (a killed render leaves nothing behind for long).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from shotlist import durable, salvage
from shotlist.errors import ShotlistError
from shotlist.hashing import HashCache, sha256_file
from shotlist.media import ClipFacts
from shotlist.salvage import STORE
from shotlist.source import not_a_file

ID_LENGTH = 8


class StoreBusy(ShotlistError):
    """Another shotlist process holds the project's store."""


class StoreNotAFolder(ShotlistError):
    """Something other than a folder stands where the project's ``.shotlist/`` goes."""


class DamagedObject(ShotlistError):
    """A stored object's bytes no longer hash to its name; it was moved aside and is not used."""

    def __init__(self, sha: str, moved_to: Path) -> None:
        super().__init__(
            f"the stored clip {sha[:12]} is damaged (its bytes no longer match its hash); "
            f"it was moved to {moved_to} and is not used"
        )
        self.sha = sha
        self.moved_to = moved_to


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


#: A temporary name: ``.<what>.<pid>.tmp…`` (the pid of the process that writes it).
_TEMP = re.compile(r"^\.(?P<what>.+?)\.(?P<pid>\d+)\.(?:\d+\.)?tmp")


def temp_name(what: str) -> str:
    """The name of a temporary file or folder for ``what``, which ``sweep_leftovers`` knows to be ours."""
    return f".{what}.{os.getpid()}.tmp"


def sweep_leftovers(folder: Path, what: str | None = None) -> int:
    """Remove temporary files and folders that dead processes left in ``folder``; return the bytes freed.

    Only names made by ``temp_name`` (for ``what``, when given) whose process is gone are removed,
    and hidden folders of earlier shotlist versions (``.<cut>.mp4.XXXXXXXX/``, ``.segments-*``,
    ``.shotlist-audio-*``), whose writer took no pid into the name: the caller holds the store lock.
    """
    freed = 0
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is not None:
            stale = (what is None or m.group("what") == what) and not _alive(int(m.group("pid")))
        else:
            legacy = (".segments-", ".shotlist-audio-", *([f".{what}."] if what else []))
            stale = entry.is_dir() and entry.name.startswith(legacy)
        if stale:
            freed += _remove(entry)
    return freed


def _remove(path: Path) -> int:
    """Delete a file or a folder; the bytes it held."""
    try:
        if path.is_dir() and not path.is_symlink():
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path, ignore_errors=True)
            return size
        size = path.stat().st_size
        path.unlink()
        return size
    except FileNotFoundError:
        return 0


class Derived:
    """Files the edit makes from content (picture pieces, conformed sound), named by their recipe key.

    Next to each ``<key><suffix>`` is its record ``<key>.json``: the file's own sha256 and the (size,
    mtime, inode) at which it last hashed to it. ``get`` hands a file out only while it still has
    those bytes: on the record's word while the file is untouched, else by hashing it again. A file
    that fails is deleted and made again, never used.
    """

    def __init__(self, folder: Path, suffix: str) -> None:
        self.dir = folder
        self.suffix = suffix

    def path(self, key: str) -> Path:
        return self.dir / f"{key}{self.suffix}"

    def _record_path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def scratch(self, key: str) -> Path:
        """Where to make the file for ``key`` before ``add`` (same folder, so adding is a rename)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / f"{temp_name(key)}{self.suffix}"

    def add(self, key: str, made: Path, **info: Any) -> Path:
        """Move ``made`` in as the file of ``key``, with a record of its hash and ``info``."""
        sha = sha256_file(made)
        dest = self.path(key)
        os.replace(made, dest)
        # No fsync (hundreds of pieces per render): a record lost or torn by a crash only makes its file
        # be made again.
        record = {**info, "sha256": sha, "verified": _signature(dest)}
        durable.write_json(self._record_path(key), record, sync=False)
        return dest

    def record(self, key: str) -> dict[str, Any] | None:
        try:
            raw = durable.read_json(self._record_path(key))
        except (OSError, ValueError):
            return None
        return raw if isinstance(raw, dict) else None

    def get(self, key: str) -> Path | None:
        """The file of ``key`` if it is there with the bytes its record names; None (and it is gone) otherwise."""
        record, path = self.record(key), self.path(key)
        if record is None or not path.is_file():
            self.drop(key)
            return None
        signature = _signature(path)
        if record.get("verified") == signature:
            return path
        if sha256_file(path) != record.get("sha256"):
            self.drop(key)
            return None
        durable.write_json(self._record_path(key), {**record, "verified": signature}, sync=False)
        return path

    def problem(self, key: str) -> str | None:
        """Re-hash the file of ``key`` against its record: what is wrong, or None."""
        record, path = self.record(key), self.path(key)
        if record is None:
            return f"{path.name}: its record is missing or unreadable"
        if not path.is_file():
            return f"{path.name}: the file its record names is missing"
        if sha256_file(path) != record.get("sha256"):
            return f"{path.name}: its bytes no longer match its record's hash"
        return None

    def drop(self, key: str) -> int:
        """Forget ``key``: its file and record; the bytes freed."""
        freed = _remove(self.path(key))
        self._record_path(key).unlink(missing_ok=True)
        return freed

    def keys(self) -> list[str]:
        """Every key with a file or a record here."""
        if not self.dir.is_dir():
            return []
        names = {p.name[: -len(self.suffix)] for p in self.dir.glob(f"*{self.suffix}")}
        names |= {p.stem for p in self.dir.glob("*.json")}
        return sorted(n for n in names if not n.startswith("."))

    def size(self, key: str) -> int:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else 0


def _signature(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


@dataclass(frozen=True)
class Take:
    """One generated clip of a recipe: what made it, what it cost, what it is."""

    take: int
    sha256: str
    shot: str
    backend: str
    model: str
    job: str
    cost: float | None  # US dollars; None when neither the provider nor the catalog knows
    cost_is_estimate: bool
    time: str  # when it was stored, ISO 8601 UTC
    facts: ClipFacts

    @property
    def id(self) -> str:
        """A take's id: the start of its clip's hash. Numbers can collide across clones; ids cannot."""
        return self.sha256[:ID_LENGTH]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # facts too: ClipFacts.to_json is its asdict

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Take:
        return cls(
            take=int(d["take"]),
            sha256=str(d["sha256"]),
            shot=str(d.get("shot", "")),
            backend=str(d["backend"]),
            model=str(d["model"]),
            job=str(d.get("job", "")),
            cost=None if d.get("cost") is None else float(d["cost"]),
            cost_is_estimate=bool(d.get("cost_is_estimate", False)),
            time=str(d.get("time", "")),
            facts=ClipFacts.from_json(dict(d.get("facts", {}))),
        )


@dataclass
class Recipe:
    """An index entry: one ShotSpec key, its recipe (for saying why a later one differs) and its takes."""

    key: str
    shot: str
    recipe: dict[str, Any]
    takes: list[Take] = field(default_factory=list)  # newest first

    def take(self, number: int) -> Take | None:
        return next((t for t in self.takes if t.take == number), None)

    def by_clip(self, sha: str) -> Take | None:
        return next((t for t in self.takes if t.sha256 == sha), None)


@dataclass
class Sweep:
    """What ``Store.gc`` would remove: the unpinned takes, the objects nothing pinned needs, backend scratch,
    and the pieces and sound no current cut was made from."""

    takes: list[tuple[str, Take]]  # (recipe key, take)
    objects: list[tuple[str, Path]]
    frames: list[tuple[str, str]]  # (clip sha, selector) of frames of unpinned clips
    scratch: int  # bytes of backends' scratch folders (0 when a journaled job may still need them)
    derived: list[tuple[Derived, str, int]] = field(default_factory=list)  # made by the edit, used by no cut

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for _, p in self.objects) + self.scratch + self.derived_bytes

    @property
    def derived_bytes(self) -> int:
        return sum(size for _, _, size in self.derived)

    @property
    def cost(self) -> float:
        """What the doomed takes cost to generate."""
        return sum(t.cost or 0.0 for _, t in self.takes)

    def __bool__(self) -> bool:
        return bool(self.takes or self.objects or self.scratch or self.derived)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """The ``.shotlist/`` folder of one project."""

    def __init__(self, project_root: Path) -> None:
        # Absolute, so the paths handed to backends and to the edit hold from any working folder.
        self.root = project_root.absolute()
        self.dir = self.root / STORE
        if self.dir.is_symlink() and not self.dir.exists():
            self._not_a_folder("a symlink to nothing")
        elif (kind := not_a_file(self.dir)) is not None and kind != "a folder":
            self._not_a_folder(kind)
        elif self.dir.is_file():
            self._not_a_folder("a file")
        # Index entries read so far. Writers hold the store lock, so within one command what this process
        # read stays true except for its own writes, which update the memo too.
        self._entries: dict[str, Recipe | None] = {}

    def _not_a_folder(self, kind: str) -> None:
        raise StoreNotAFolder(
            f"{self.dir} is {kind}, not the project's store folder\n"
            f"  fix: move it away (mv {self.dir} {self.dir}.old); the next build makes the folder again"
        )

    # --- objects -------------------------------------------------------------------------------

    def object_path(self, sha: str) -> Path:
        return self.dir / "objects" / sha[:2] / sha

    def has_object(self, sha: str) -> bool:
        return self.object_path(sha).is_file()

    def tmp_path(self, name: str) -> Path:
        """A scratch path inside the store (same file system as the objects, so adding is a rename)."""
        tmp = self.dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp / f"{os.getpid()}-{name}"

    def add_file(self, src: Path) -> str:
        """Move ``src`` into the objects by the sha256 of its bytes; return the hash."""
        sha = sha256_file(src)
        dest = self.object_path(sha)
        if dest.is_file():
            src.unlink()
            return sha
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(src, 0o444)  # an object is never edited in place: its name is its content
        os.replace(src, dest)
        durable.sync_dir(dest.parent)
        # Just hashed: the next check of it (the edit's, a chained frame's) need not read it again.
        self.verified.entries[str(dest)] = [*_signature(dest), sha]
        self.verified.dirty = True
        return sha

    @cached_property
    def verified(self) -> HashCache:
        """When each object last hashed to its name, by (size, mtime, inode): a no-op build rehashes nothing."""
        return HashCache(self.dir / "verified.json")

    def damaged(self, shas: Iterable[str]) -> set[str]:
        """The objects among ``shas`` present in the store whose bytes no longer hash to their name.

        An object is re-hashed only when its size, modification time or inode changed since it was last
        found intact; any write to it changes one of them.
        """
        bad = set()
        for sha in shas:
            path = self.object_path(sha)
            try:
                if self.verified.digest(path) != sha:
                    bad.add(sha)
            except FileNotFoundError:
                continue
            except IsADirectoryError:  # a folder in its place: set aside like any object that is not the clip
                bad.add(sha)
        self.verified.save()
        return bad

    def set_aside(self, sha: str) -> Path:
        """Move a damaged object out of the objects (into ``corrupt/``), so nothing uses it; its new path."""
        dest = self.dir / "corrupt" / sha
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.object_path(sha), dest)
        return dest

    def objects(self) -> Iterator[tuple[str, Path]]:
        base = self.dir / "objects"
        if not base.is_dir():
            return
        for sub in sorted(base.iterdir()):
            if sub.is_dir():
                for p in sorted(sub.iterdir()):
                    if not p.name.startswith(".") and p.is_file():
                        yield p.name, p

    def remove_object(self, sha: str) -> int:
        """Delete an object; return the bytes freed."""
        p = self.object_path(sha)
        try:
            size = p.stat().st_size
            p.unlink()
        except FileNotFoundError:
            return 0
        return size

    # --- frames of clips -----------------------------------------------------------------------

    def frame(self, clip_sha: str, selector: str) -> tuple[str, Path]:
        """The frame ``selector`` ("first", "last", seconds) of a stored clip, extracted once; (sha, path)."""
        ref = self.dir / "frames" / f"{clip_sha}.{selector}"
        sha = salvage.read_cache(ref, _sha_of, "a frame reference")
        if sha is not None and self.has_object(sha) and not self.damaged([sha]):
            return sha, self.object_path(sha)
        if self.damaged([clip_sha]):
            raise DamagedObject(clip_sha, self.set_aside(clip_sha))
        from shotlist.media import extract_frame

        at: str | float = selector if selector in ("first", "last") else float(selector)
        tmp = extract_frame(self.object_path(clip_sha), at, self.tmp_path(f"frame-{clip_sha[:12]}.png"))
        sha = self.add_file(tmp)
        durable.write_text(ref, sha + "\n")
        return sha, self.object_path(sha)

    def frame_refs(self) -> Iterator[tuple[str, str, str]]:
        """(clip sha, selector, frame sha) of every extracted frame."""
        base = self.dir / "frames"
        if not base.is_dir():
            return
        for p in sorted(base.iterdir()):
            clip, _, selector = p.name.partition(".")
            if selector and not p.name.startswith("."):
                frame = salvage.read_cache(p, _sha_of, "a frame reference")
                if frame is not None:
                    yield clip, selector, frame

    def forget_frame(self, clip_sha: str, selector: str) -> None:
        (self.dir / "frames" / f"{clip_sha}.{selector}").unlink(missing_ok=True)

    # --- the index: recipe key → takes ---------------------------------------------------------

    def _entry_path(self, key: str) -> Path:
        return self.dir / "index" / key[:2] / f"{key}.json"

    def entry(self, key: str) -> Recipe | None:
        """The recipe with this key and its takes, or None."""
        if key in self._entries:
            return self._entries[key]
        e = salvage.read_record(self._entry_path(key), lambda raw: _recipe(key, raw), _lost_takes)
        self._entries[key] = e
        return e

    def takes(self, key: str) -> list[Take]:
        """The takes of a recipe whose clips are in the store, newest first."""
        e = self.entry(key)
        return [t for t in e.takes if self.has_object(t.sha256)] if e else []

    def add_take(self, key: str, recipe: dict[str, Any], take: Take) -> None:
        """Record a stored clip as the newest take of ``key`` (its object must already be stored).

        A take is its number and its clip: a teammate's take 2, pulled, stands beside this clone's take 2.
        """
        old = self.entry(key)
        same = (take.take, take.sha256)
        e = Recipe(
            key=key,
            shot=take.shot,
            recipe=old.recipe if old else recipe,
            takes=[take] + [t for t in (old.takes if old else []) if (t.take, t.sha256) != same],
        )
        self._write(e)

    def remove_takes(self, key: str, shas: set[str]) -> None:
        old = self.entry(key)
        if old is None:
            return
        e = Recipe(
            key=key, shot=old.shot, recipe=old.recipe, takes=[t for t in old.takes if t.sha256 not in shas]
        )
        if e.takes:
            self._write(e)
        else:
            self._entry_path(key).unlink(missing_ok=True)
            self._entries[key] = None

    def _write(self, e: Recipe) -> None:
        durable.write_json(
            self._entry_path(e.key),
            {"shot": e.shot, "recipe": e.recipe, "takes": [t.to_json() for t in e.takes]},
        )
        self._entries[e.key] = e

    def entries(self) -> Iterator[Recipe]:
        """Every recipe in the index."""
        base = self.dir / "index"
        if not base.is_dir():
            return
        for p in sorted(base.glob("*/*.json")):
            e = self.entry(p.stem)
            if e is not None:
                yield e

    def next_take(self, key: str) -> int:
        """The number the next take of ``key`` gets (takes are never renumbered)."""
        e = self.entry(key)
        return max((t.take for t in e.takes), default=0) + 1 if e else 1

    # --- checking and sweeping ----------------------------------------------------------------------

    def verify(self, pins: dict[str, str]) -> tuple[int, list[str]]:
        """Re-hash everything kept by content; (files checked, problems).

        Objects against their names, pieces and sounds against their records, each rendered cut against
        the hash its record took when it was written; and every pinned clip (shot → sha) must be present.
        """
        problems: list[str] = []
        count = 0
        for sha, path in self.objects():
            count += 1
            if sha256_file(path) != sha:
                problems.append(
                    f"corrupt: {path.relative_to(self.root)} (its bytes no longer hash to its name)"
                )
        for derived in self.derived():
            for key in derived.keys():
                count += 1
                problem = derived.problem(key)
                if problem:
                    problems.append(f"corrupt: {derived.dir.relative_to(self.root)}/{problem}")
        for cut, record in self.cut_records():
            if cut.is_file():
                count += 1
                if sha256_file(cut) != record.get("sha256"):
                    problems.append(
                        f"changed: {cut.relative_to(self.root)} is not the cut shotlist rendered "
                        "(the next render writes it again)"
                    )
        for shot, clip in pins.items():
            if not self.has_object(clip):
                problems.append(f"missing: the clip {clip[:12]} pinned for {shot} is not in the store")
        return count, problems

    def sweep(self, pins: set[str], *, keep_scratch: bool) -> Sweep:
        """What ``gc`` would remove: takes and frames no pin needs, and what no current cut was made from."""
        frames = list(self.frame_refs())
        keep = set(pins) | {frame for clip, _, frame in frames if clip in pins} | salvage.kept_clips(self.dir)
        work = self.dir / "work"
        scratch = 0
        if not keep_scratch and work.is_dir():
            scratch = sum(f.stat().st_size for f in work.rglob("*") if f.is_file())
        used = self.used_by_cuts()
        return Sweep(
            takes=[(r.key, t) for r in self.entries() for t in r.takes if t.sha256 not in pins],
            objects=[(sha, path) for sha, path in self.objects() if sha not in keep],
            frames=[(clip, selector) for clip, selector, _ in frames if clip not in pins],
            scratch=scratch,
            derived=[(d, k, d.size(k)) for d in self.derived() for k in d.keys() if k not in used],
        )

    def gc(self, sweep: Sweep) -> int:
        """Remove what ``sweep`` lists (hold the store lock); return the bytes freed."""
        by_key: dict[str, set[str]] = {}
        for key, t in sweep.takes:
            by_key.setdefault(key, set()).add(t.sha256)
        for key, shas in by_key.items():
            self.remove_takes(key, shas)
        for clip, selector in sweep.frames:
            self.forget_frame(clip, selector)
        freed = sum(self.remove_object(sha) for sha, _ in sweep.objects)
        freed += sum(derived.drop(key) for derived, key, _ in sweep.derived)
        tmp = self.dir / "tmp"
        for leftover in tmp.glob("*") if tmp.is_dir() else []:
            _remove(leftover)
        if sweep.scratch:
            shutil.rmtree(self.dir / "work", ignore_errors=True)
        return freed + sweep.scratch

    # --- what the edit made: pieces, sound, cut records ------------------------------------------

    @property
    def pieces(self) -> Derived:
        """The cut's picture pieces (bodies and seams), one encoded file each."""
        return Derived(self.dir / "pieces", ".mp4")

    @property
    def sounds(self) -> Derived:
        """Each shot's own sound, decoded and conformed to the cut (raw 48 kHz stereo float)."""
        return Derived(self.dir / "sound", ".f32")

    @property
    def mixes(self) -> Derived:
        """The finished sound of a cut (mixed, loudness-normalised AAC)."""
        return Derived(self.dir / "mix", ".m4a")

    def derived(self) -> tuple[Derived, Derived, Derived]:
        return self.pieces, self.sounds, self.mixes

    def cut_record_path(self, cut: Path) -> Path:
        return self.dir / "cuts" / f"{cut.name}.json"

    def cut_records(self) -> list[tuple[Path, dict[str, Any]]]:
        """(cut file, record) of every cut rendered in this project, whether the file is still there or not."""
        base = self.dir / "cuts"
        out = []
        for p in sorted(base.glob("*.json")) if base.is_dir() else []:
            try:
                record = durable.read_json(p)
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and isinstance(record.get("cut"), str):
                out.append((self.root / record["cut"], record))
        return out

    def used_by_cuts(self) -> set[str]:
        """Keys of the pieces and sound that the cuts still on disk were made from."""
        used: set[str] = set()
        for cut, record in self.cut_records():
            if cut.is_file():
                used.update(record.get("pieces", []), record.get("sounds", []))
                used.add(str(record.get("sound", "")))
        return used

    def sweep_leftovers(self) -> int:
        """Remove what dead processes left in the store's scratch places; the bytes freed."""
        freed = 0
        tmp = self.dir / "tmp"
        for entry in sorted(tmp.iterdir()) if tmp.is_dir() else []:
            m = re.match(r"^(\d+)-", entry.name)
            if m and not _alive(int(m.group(1))):
                freed += _remove(entry)
        for folder in (*(d.dir for d in self.derived()), self.dir / "cuts"):
            freed += sweep_leftovers(folder)
        return freed

    # --- the input-file hash cache -------------------------------------------------------------

    @cached_property
    def hashes(self) -> HashCache:
        """The input files' hashes, by (size, mtime, inode): an unchanged image is not read again."""
        return HashCache(self.dir / "hashes.json")

    # --- one writer at a time ------------------------------------------------------------------

    @contextmanager
    def locked(
        self, purpose: str, *, timeout: float | None = None, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the store for ``purpose``; wait for another process (saying who) or raise StoreBusy after ``timeout``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        _ignore_in_git(self.dir)
        holder = self.dir / "store.holder"
        salvage.make_way(self.dir / "store.lock", "the store's lock file")
        salvage.make_way(holder, "the note of who holds the store")
        lock = _FileLock(self.dir / "store.lock")
        if not lock.acquire(timeout=0):
            who = _holder_text(holder)
            if timeout is not None and timeout <= 0:
                raise StoreBusy(
                    f"{who} is using this project's store ({self.dir}); try again when it has finished"
                )
            if on_wait is not None:
                on_wait(f"waiting for {who} to finish with this project's store…")
            if not lock.acquire(timeout=timeout):
                raise StoreBusy(
                    f"{who} still holds this project's store after {timeout:g} s; "
                    "try again when it has finished"
                )
        try:
            # Only read to name the holder in a message: not worth an fsync.
            durable.write_json(holder, {"pid": os.getpid(), "purpose": purpose, "since": now()}, sync=False)
            self.sweep_leftovers()  # whoever left them is dead: nobody else writes here while we hold it
            yield
        finally:
            holder.unlink(missing_ok=True)
            lock.release()


class _FileLock:
    """An exclusive lock on a file, held by this process until released; the kernel drops it if the process
    dies, so a killed build never leaves the store locked. (The standard library's flock: the filelock
    package took 38 ms to import, on every command.)"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, *, timeout: float | None) -> bool:
        """Whether the lock was taken within ``timeout`` seconds (None: wait as long as it takes)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                _try_lock(fd)
            except OSError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)
                continue
            self.fd = fd
            return True

    def release(self) -> None:
        if self.fd is not None:
            _unlock(self.fd)
            os.close(self.fd)
            self.fd = None


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _sha_of(raw: bytes) -> str:
    """A frame reference's content: the frame's sha256, or ValueError."""
    sha = raw.decode("ascii").strip()
    if len(sha) != 64 or sha.strip("0123456789abcdef"):
        raise ValueError("not a sha256")
    return sha


def _recipe(key: str, raw: bytes) -> Recipe:
    """An index entry from its file's bytes; ValueError (or KeyError, TypeError) when damaged."""
    data = salvage.json_object(raw)
    takes = [Take.from_json(t) for t in data.get("takes", [])]
    if not all(t.facts.duration > 0 and len(t.sha256) == 64 for t in takes):
        raise ValueError("a take without its clip's facts")
    return Recipe(key=key, shot=str(data.get("shot", "")), recipe=dict(data.get("recipe", {})), takes=takes)


def _lost_takes(damage: salvage.Damage) -> str:
    read = damage.fields()
    held = ", ".join(f"{k} {read[k]}" for k in ("shot", "take", "job", "backend", "model") if k in read)
    return (
        f"{damage.name}, a record of takes that were paid for, was unreadable"
        f"{f' (it held: {held})' if held else ''}: {damage.where()}; its clips stay in the store "
        "(`cache gc` keeps them) and shotlist.lock's pins are unaffected"
    )


def _holder_text(holder: Path, patience: float = 0.5) -> str:
    """Who holds the store, from the note its holder writes just after taking the lock: a process that
    finds the lock taken can get there first, so it waits a moment for the note."""
    deadline = time.monotonic() + patience
    while True:
        try:
            info = json.loads(holder.read_text())
            return f"another shotlist ({info.get('purpose', 'process')}, pid {info.get('pid')}, since {info.get('since')})"
        except (OSError, ValueError):
            if time.monotonic() >= deadline:
                return "another shotlist process"
            time.sleep(0.02)


def _ignore_in_git(store_dir: Path) -> None:
    """A store made in a project whose .gitignore does not list it still stays out of git."""
    marker = store_dir / ".gitignore"
    if not marker.exists():
        durable.write_text(marker, "*\n")
