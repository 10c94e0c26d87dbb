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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shotlist import durable
from shotlist.errors import LockError
from shotlist.media import ClipFacts
from shotlist.store import Take

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
        return cls(
            shot=shot,
            key=key,
            take=take.take,
            clip=take.sha256,
            backend=take.backend,
            model=take.model,
            job=take.job,
            cost=take.cost,
            cost_is_estimate=take.cost_is_estimate,
        )

    def as_take(self, facts: ClipFacts | None = None) -> Take:
        """The take this entry pins, rebuilt from the lock alone (its index record is gone or elsewhere)."""
        return Take(
            take=self.take,
            sha256=self.clip,
            shot=self.shot,
            backend=self.backend,
            model=self.model,
            job=self.job,
            cost=self.cost,
            cost_is_estimate=self.cost_is_estimate,
            time="",
            facts=facts or ClipFacts(duration=0.0),
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
    conflicted: list[str] = field(
        default_factory=list
    )  # shots whose blocks were in a merge conflict (lenient read)
    dropped: list[str] = field(default_factory=list)  # shots whose blocks did not parse (lenient read)

    def get(self, shot: str) -> LockEntry | None:
        return self.entries.get(shot)

    def pins(self) -> set[str]:
        """The clip hashes this lock pins."""
        return {e.clip for e in self.entries.values()}


def _money(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def lock_path(project_root: Path) -> Path:
    return project_root / LOCK


def read_lock(project_root: Path, *, lenient: bool = False) -> Lock:
    """Parse ``shotlist.lock`` (an empty Lock when there is none); LockError naming the line when it is broken.

    ``lenient`` (for ``shotlist pick``, which rewrites the lock): keep every block that parses and list
    the shots whose blocks were in a conflict or broken, instead of raising.
    """
    path = lock_path(project_root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock()
    return parse_lock(text, lenient=lenient)


def parse_lock(text: str, *, lenient: bool = False) -> Lock:
    lock = Lock()
    current: str | None = None
    values: dict[str, tuple[str, int]] = {}
    header_line = 0
    bad: set[str] = set()
    state = "clean"  # or "ours", "base", "theirs" inside conflict markers
    first_conflict = 0
    first_error: tuple[int, str] | None = None

    def finish() -> None:
        nonlocal first_error
        if current is None or current in bad or current in lock.conflicted:
            return
        missing = [f for f in _FIELDS if f not in values]
        if missing:
            bad.add(current)
            first_error = first_error or (
                header_line,
                f"the entry of shot '{current}' has no {', '.join(missing)}",
            )
            return
        try:
            lock.entries[current] = _entry(current, values)
        except ValueError as exc:
            bad.add(current)
            first_error = first_error or (values[str(exc.args[1])][1], f"shot '{current}': {exc.args[0]}")

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("<<<<<<<"):
            first_conflict = first_conflict or n
            if current is not None and current not in lock.conflicted:
                lock.conflicted.append(current)
            state = "ours"
            continue
        if state != "clean":
            if line.startswith("|||||||"):
                state = "base"
            elif line.startswith("======="):
                state = "theirs"
            elif line.startswith(">>>>>>>"):
                state = "clean"
            else:
                m = _SECTION.match(line)
                if m:
                    current = m.group(1)
                    if current not in lock.conflicted:
                        lock.conflicted.append(current)
            continue
        if not line or line.startswith("#"):
            continue
        m = _SECTION.match(line)
        if m:
            finish()
            current, values, header_line = m.group(1), {}, n
            if current in lock.entries:
                bad.add(current)
                first_error = first_error or (n, f"shot '{current}' has two entries")
            continue
        pair = _PAIR.match(line)
        if pair and current is None and pair.group(1) == "version":
            if pair.group(2).strip() != str(VERSION):
                raise LockError(
                    f"{LOCK}:{n}: lock version {pair.group(2).strip()} is not {VERSION}; "
                    "it was written by another shotlist version"
                )
            continue
        if pair is None or current is None or pair.group(1) not in _FIELDS:
            why = (
                "a line outside any [shot] entry"
                if current is None and pair
                else "not a 'name = value' line of a lock"
            )
            if pair and current is not None:
                why = f"'{pair.group(1)}' is not a field of a lock entry"
            first_error = first_error or (n, f"cannot read '{line[:60]}' ({why})")
            if current is not None:
                bad.add(current)
            continue
        values[pair.group(1)] = (pair.group(2).strip(), n)
    finish()
    for shot in lock.conflicted:
        lock.entries.pop(shot, None)
    lock.dropped = sorted(bad - set(lock.conflicted))
    for shot in lock.dropped:
        lock.entries.pop(shot, None)
    if lenient:
        return lock
    if state != "clean" or lock.conflicted:
        shots = ", ".join(f"'{s}'" for s in lock.conflicted) or "an entry"
        first = lock.conflicted[0] if lock.conflicted else "SHOT"
        raise LockError(
            f"{LOCK}:{first_conflict}: git merge conflict markers; both branches changed {shots}.\n"
            f"  fix: see the takes with `shotlist takes {first}`, then `shotlist pick {first} TAKE` "
            "rewrites the lock (once per conflicted shot)"
        )
    if first_error is not None:
        line_no, message = first_error
        shot = sorted(bad)[0] if bad else "SHOT"
        raise LockError(
            f"{LOCK}:{line_no}: {message}.\n"
            f"  fix: `shotlist pick {shot} TAKE` rewrites the entry (`shotlist takes {shot}` lists the takes), "
            f"or restore the file with `git checkout {LOCK}`"
        )
    return lock


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
