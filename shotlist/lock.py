"""``shotlist.lock``: the take each shot is built from, committed with the project.

One block per shot, in storyboard order, one ``name = value`` per line, a blank line and the next
shot's ``[id]`` header between blocks. Git merges text by lines, so two branches that change two
different shots touch two separate blocks and merge without a conflict; a change to the same shot
on both sides conflicts inside that shot's block, and the markers are reported with their line.

No absolute paths and no secrets: a block names the recipe key, the take, the clip's content hash,
the backend, the model, the provider's job id and what it cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shotlist import durable
from shotlist.errors import LockError
from shotlist.media import ClipFacts
from shotlist.source import not_a_file
from shotlist.store import Store, Take

LOCK = "shotlist.lock"
VERSION = 1
HEADER = (
    "# shotlist.lock: the take each shot is built from. Commit it with the storyboard.\n"
    "# Written by shotlist; to choose another take run `shotlist takes SHOT` then `shotlist pick SHOT TAKE`.\n"
)

_SECTION = re.compile(r"^\[([a-z0-9][a-z0-9_-]{0,63})\]$")
_PAIR = re.compile(r"^([a-z_]+)\s*=\s*(.*)$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_COST = re.compile(r"^(unknown|\d+(?:\.\d+)?)(?: \(estimate\))?$")
_FIELDS = ("key", "take", "clip", "backend", "model", "job", "cost")
_SHARED_WITH_TAKE = ("take", "backend", "model", "job", "cost", "cost_is_estimate")


@dataclass(frozen=True)
class LockEntry:
    """What the lock pins for one shot."""

    shot: str
    key: str
    take: int
    clip: str
    backend: str
    model: str
    job: str
    cost: float | None
    cost_is_estimate: bool = False

    @classmethod
    def pinning(cls, shot: str, key: str, take: Take) -> LockEntry:
        """The entry that pins ``take`` (a take of recipe ``key``) for ``shot``."""
        return cls(shot=shot, key=key, clip=take.sha256, **_take_fields(take))

    def as_take(self, facts: ClipFacts | None = None) -> Take:
        """The take this entry pins, rebuilt from the lock alone (its index record is gone or elsewhere)."""
        return Take(
            sha256=self.clip,
            shot=self.shot,
            time="",
            facts=facts or ClipFacts(duration=0.0),
            **_take_fields(self),
        )

    def lines(self) -> list[str]:
        cost = "unknown" if self.cost is None else _money(self.cost)
        if self.cost is not None and self.cost_is_estimate:
            cost += " (estimate)"
        return [
            f"[{self.shot}]",
            f"key = {self.key}",
            f"take = {self.take}",
            f"clip = {self.clip}",
            f"backend = {self.backend}",
            f"model = {self.model}",
            f"job = {_one_line(self.job)}",
            f"cost = {cost}",
        ]


@dataclass
class Lock:
    """The parsed lock: entries by shot id, in file order."""

    entries: dict[str, LockEntry] = field(default_factory=dict)
    # Lenient reads keep what parses and list the rest:
    conflicted: list[str] = field(
        default_factory=list
    )  # shots the two sides of a merge conflict pin differently
    dropped: list[str] = field(default_factory=list)  # shots whose blocks did not parse
    mismatched: list[str] = field(default_factory=list)  # shots whose clip is a take of another recipe
    sides: dict[str, list[tuple[str, LockEntry]]] = field(
        default_factory=dict
    )  # conflicted shot → (branch, entry)
    lines: dict[str, int] = field(default_factory=dict)  # shot → the line of its [header]
    markers: int = 0  # the line of the first git conflict marker, 0 when there is none

    def get(self, shot: str) -> LockEntry | None:
        return self.entries.get(shot)

    def pins(self) -> set[str]:
        """The clip hashes this lock pins."""
        return {e.clip for e in self.entries.values()}

    @property
    def troubled(self) -> list[str]:
        """Shots whose entries ``shotlist lock resolve`` rewrites: conflicted, broken or mismatched."""
        return list(dict.fromkeys(self.conflicted + self.dropped + self.mismatched))


def _take_fields(record: LockEntry | Take) -> dict[str, Any]:
    """The fields an entry and its take share, by the same names (the clip's hash is ``clip`` in one and
    ``sha256`` in the other)."""
    return {name: getattr(record, name) for name in _SHARED_WITH_TAKE}


def _money(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def lock_path(project_root: Path) -> Path:
    return project_root / LOCK


def read_lock(project_root: Path, *, lenient: bool = False, store: Store | None = None) -> Lock:
    """Parse ``shotlist.lock`` (an empty Lock when there is none); LockError naming the line when it is broken.

    ``lenient`` (for the commands that repair or only report: pick, lock resolve, status): keep every
    entry that parses and list the conflicted, broken and (given the ``store``) mismatched shots instead
    of raising. With a ``store``, each entry's clip is checked to be a take of the entry's key.
    """
    path = lock_path(project_root)
    restore = (
        f"restore it with `git checkout {LOCK}`, or delete it: a build pins the takes in .shotlist/ again"
    )
    kind = not_a_file(path)  # found without opening it: opening a FIFO waits for a writer
    if kind is not None:
        raise LockError(f"{LOCK} is {kind}, not the lock file.\n  fix: move it away; then {restore}")
    try:
        raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # the byte-order mark some editors save
    except FileNotFoundError:
        return Lock()
    except OSError as exc:
        raise LockError(f"cannot read {LOCK}: {exc.strerror or exc}.\n  fix: {restore}") from None
    bad = raw.find(b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start if bad < 0 else min(bad, exc.start)
    if bad >= 0:
        line = raw[:bad].count(b"\n") + 1
        raise LockError(
            f"{LOCK}:{line}: not a text file (byte 0x{raw[bad]:02x}); the lock is text that shotlist writes.\n"
            f"  fix: {restore}"
        )
    lock = parse_lock(text, lenient=lenient)
    if store is not None:
        check_takes(lock, store, lenient=lenient)
    return lock


_Numbered = list[tuple[int, str]]


def _sides(text: str) -> tuple[_Numbered, _Numbered, int, tuple[str, str]] | None:
    """The two branches' versions of a lock with git conflict markers (numbered lines), or None without markers."""
    ours: _Numbered = []
    theirs: _Numbered = []
    state, first, labels = "both", 0, ["", ""]
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("<<<<<<<"):
            first, state = first or n, "ours"
            labels[0] = labels[0] or raw[7:].strip()
            continue
        if state != "both":
            if raw.startswith("|||||||"):
                state = "base"  # diff3's common ancestor: neither side's
                continue
            if raw.startswith("======="):
                state = "theirs"
                continue
            if raw.startswith(">>>>>>>"):
                state = "both"
                labels[1] = labels[1] or raw[7:].strip()
                continue
        if state in ("both", "ours"):
            ours.append((n, raw))
        if state in ("both", "theirs"):
            theirs.append((n, raw))
    return (ours, theirs, first, (labels[0] or "ours", labels[1] or "theirs")) if first else None


def parse_lock(text: str, *, lenient: bool = False) -> Lock:
    sides = _sides(text)
    if sides is None:
        lock, first_error, bad = _parse(list(enumerate(text.splitlines(), 1)))
    else:
        lock, first_error, bad = _merge_sides(*sides)
    lock.dropped = sorted(bad - set(lock.conflicted))
    for shot in lock.dropped:
        lock.entries.pop(shot, None)
    if lenient:
        return lock
    if lock.markers:
        shots = ", ".join(f"'{s}'" for s in lock.conflicted)
        first = lock.conflicted[0] if lock.conflicted else "SHOT"
        what = (
            f"both branches changed {shots}"
            if shots
            else "no shot is pinned differently by the two sides (one of them added or removed shots)"
        )
        raise LockError(
            f"{LOCK}:{lock.markers}: git merge conflict markers; {what}.\n"
            "  fix: `shotlist lock resolve` pins, for each, a take of the storyboard's recipe as it now stands "
            f"(or choose one: `shotlist takes {first}`, then `shotlist pick {first} TAKE`)"
        )
    if first_error is not None:
        line_no, message = first_error
        shot = sorted(bad)[0] if bad else "SHOT"
        raise LockError(
            f"{LOCK}:{line_no}: {message}.\n"
            f"  fix: `shotlist lock resolve` rewrites the entry from the storyboard (or `shotlist pick {shot} TAKE`; "
            f"`shotlist takes {shot}` lists the takes), or restore the file with `git checkout {LOCK}`"
        )
    return lock


def _merge_sides(
    ours: _Numbered, theirs: _Numbered, first: int, labels: tuple[str, str]
) -> tuple[Lock, tuple[int, str] | None, set[str]]:
    """One Lock from both sides of a conflict: a shot is conflicted only where the two sides pin it differently."""
    a, a_error, a_bad = _parse(ours)
    b, _, b_bad = _parse(theirs)
    lock = Lock(markers=first, lines={**b.lines, **a.lines})
    bad: set[str] = set()
    for shot in dict.fromkeys([*a.lines, *b.lines]):
        mine, other = a.entries.get(shot), b.entries.get(shot)
        if mine is not None and mine == other:
            lock.entries[shot] = mine
        elif shot in a.lines and shot in b.lines:  # both sides have the block, and they differ
            lock.conflicted.append(shot)
            lock.sides[shot] = [(label, e) for label, e in zip(labels, (mine, other), strict=True) if e]
        elif mine or other:  # one side added it
            lock.entries[shot] = mine or other  # type: ignore[assignment]
        else:
            bad.add(shot)
    return lock, a_error, bad


def _parse(lines: _Numbered) -> tuple[Lock, tuple[int, str] | None, set[str]]:
    """Entries of a lock text without conflict markers; the first problem (line, message) and the broken shots."""
    lock = Lock()
    current: str | None = None
    values: dict[str, tuple[str, int]] = {}
    bad: set[str] = set()
    first_error: tuple[int, str] | None = None

    def finish() -> None:
        nonlocal first_error
        if current is None or current in bad:
            return
        missing = [f for f in _FIELDS if f not in values]
        if missing:
            bad.add(current)
            first_error = first_error or (
                lock.lines[current],
                f"the entry of shot '{current}' has no {', '.join(missing)}",
            )
            return
        try:
            lock.entries[current] = _entry(current, values)
        except ValueError as exc:
            bad.add(current)
            first_error = first_error or (values[str(exc.args[1])][1], f"shot '{current}': {exc.args[0]}")

    for n, raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _SECTION.match(line)
        if m:
            finish()
            current, values = m.group(1), {}
            if current in lock.lines:
                bad.add(current)
                lock.entries.pop(current, None)
                first_error = first_error or (n, f"shot '{current}' has two entries")
            lock.lines.setdefault(current, n)
            continue
        pair = _PAIR.match(line)
        if pair and current is None and pair.group(1) == "version":
            if pair.group(2).strip() != str(VERSION):
                raise _version_error(n, pair.group(2).strip())
            continue
        if pair is None or current is None or pair.group(1) not in _FIELDS:
            first_error = first_error or (n, f"cannot read '{line[:60]}' ({_why_unreadable(pair, current)})")
            if current is not None:
                bad.add(current)
            continue
        values[pair.group(1)] = (pair.group(2).strip(), n)
    finish()
    return lock, first_error, bad


def _version_error(line: int, version: str) -> LockError:
    """A lock of another format: never rewritten by this shotlist, which would lose what it cannot read."""
    from shotlist import __version__

    if version.isdigit() and int(version) > VERSION:
        return LockError(
            f"{LOCK}:{line}: lock version {version} was written by a newer shotlist than this one "
            f"({__version__}, which reads version {VERSION}).\n"
            "  fix: install the shotlist your teammates use on this machine; an older one never rewrites "
            "the lock, which would lose what it cannot read"
        )
    return LockError(
        f"{LOCK}:{line}: lock version {version} is not {VERSION}.\n"
        f"  fix: restore it with `git checkout {LOCK}`, or delete it: a build pins the takes in .shotlist/ again"
    )


def _why_unreadable(pair: re.Match[str] | None, current: str | None) -> str:
    if pair is None:
        return "not a 'name = value' line of a lock"
    if current is None:
        return "a line outside any [shot] entry"
    return f"'{pair.group(1)}' is not a field of a lock entry"


def check_takes(
    lock: Lock, store: Store, remote: Mapping[str, set[str]] | None = None, *, lenient: bool = False
) -> None:
    """Check that each entry's clip is a take of the entry's own key (locally, or in ``remote``'s take index).

    A merge resolved hunk by hunk can keep one branch's ``key =`` beside the other's ``clip =``: the
    lock then reads fine but pins a clip of another recipe. Such an entry (its clip a known take of
    another key, and not of its own) is a LockError, or listed in ``mismatched`` when ``lenient``.
    """
    known = remote or {}
    doubtful = []
    for e in lock.entries.values():
        recipe = store.entry(e.key)
        if e.clip in known.get(e.key, ()) or (recipe and any(t.sha256 == e.clip for t in recipe.takes)):
            continue
        doubtful.append(e)
    if not doubtful:
        return
    owners: dict[str, set[str]] = {}
    for recipe in store.entries():
        for t in recipe.takes:
            owners.setdefault(t.sha256, set()).add(recipe.key)
    for key, shas in known.items():
        for sha in shas:
            owners.setdefault(sha, set()).add(key)
    wrong = [(e, sorted(owners[e.clip])[0]) for e in doubtful if owners.get(e.clip)]
    if not wrong:
        return
    if lenient:
        for e, _ in wrong:
            lock.entries.pop(e.shot, None)
            lock.mismatched.append(e.shot)
        return
    e, other = wrong[0]
    raise LockError(
        f"{LOCK}:{lock.lines.get(e.shot, 1)}: shot '{e.shot}' pins clip {e.clip[:12]}, a take of recipe "
        f"{other[:10]}, not of its entry's key {e.key[:10]}: the key and the clip came from different branches "
        "of a merge.\n"
        "  fix: `shotlist lock resolve` pins a take of the storyboard's recipe as it now stands (or restore one "
        "branch's entry whole)"
    )


def _entry(shot: str, values: dict[str, tuple[str, int]]) -> LockEntry:
    def get(name: str) -> str:
        return values[name][0]

    for name in ("key", "clip"):
        if not _HEX.match(get(name)):
            raise ValueError(f"{name} must be 64 hex digits, not '{get(name)[:70]}'", name)
    if not get("take").isdigit() or int(get("take")) < 1:
        raise ValueError(f"take must be a whole number from 1, not '{get('take')}'", "take")
    cost = _COST.match(get("cost"))
    if not cost:
        raise ValueError(
            f"cost must be dollars like 0.25, '0.25 (estimate)' or 'unknown', not '{get('cost')}'", "cost"
        )
    for name in ("backend", "model"):
        if not get(name):
            raise ValueError(f"{name} is empty", name)
    return LockEntry(
        shot=shot,
        key=get("key"),
        take=int(get("take")),
        clip=get("clip"),
        backend=get("backend"),
        model=get("model"),
        job=get("job"),
        cost=None if cost.group(1) == "unknown" else float(cost.group(1)),
        cost_is_estimate=get("cost").endswith("(estimate)"),
    )


def format_lock(entries: Iterable[LockEntry]) -> str:
    """The lock's text: header, version, then one block per entry, blank-line separated."""
    blocks = ["\n".join(e.lines()) for e in entries]
    return HEADER + f"version = {VERSION}\n" + "".join("\n" + b + "\n" for b in blocks)


def write_lock(project_root: Path, lock: Lock, order: list[str]) -> None:
    """Write the entries of the shots in ``order`` (storyboard order); entries of removed shots are dropped."""
    text = format_lock(lock.entries[s] for s in order if s in lock.entries)
    path = lock_path(project_root)
    try:
        if path.read_text(encoding="utf-8") == text:
            return  # an unchanged lock keeps its mtime: editors and git see nothing
    except FileNotFoundError:
        pass
    durable.write_text(path, text)
