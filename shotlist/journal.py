"""The journal of paid submits: what was asked of a backend, before and after, so a build never pays twice.

One file per take in ``.shotlist/journal/<take key>.json``, moved through its states with durable
writes:

- ``intent``: written and fsynced *before* ``submit`` is called;
- ``submitted``: the job id, written as soon as ``submit`` returns;
- ``fetched``: the clip's content hash, once the clip is verified and stored;
- ``unknown``: ``submit`` failed in a way that may have reached the provider (SubmitUnknown).

The file is removed only when the job has ended in a way the provider confirmed: its clip is stored,
the provider reported a failure or a refusal, or it says it does not know the job (the last three
are recorded in shotlist.ledger). A timeout, a 5xx or a dropped connection while polling or fetching
never removes it. A build killed at any moment leaves at most one file per take, and the next build
reads it: a job id means poll that job (never submit again); an intent or unknown without a job id
means the submit's outcome is unknown — looked up where the backend can, else held until the user
sends it again with ``--regenerate`` (which records it in the ledger).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from shotlist import durable, salvage
from shotlist.store import now


class JournalState(StrEnum):
    INTENT = "intent"  # written and fsynced before submit
    SUBMITTED = "submitted"  # the provider's job id is known
    FETCHED = "fetched"  # the clip is stored; the take is about to be recorded
    UNKNOWN = "unknown"  # the submit may have reached the provider, and no answer came back


@dataclass(frozen=True)
class JournalEntry:
    """Where one take's submit stands."""

    take_key: str  # the recipe and the take number, hashed: one paid generation, and the file's name
    shot: str
    key: str  # the recipe
    take: int
    backend: str
    model: str
    state: JournalState
    job: str | None = None  # the provider's job id, once submit returned it
    clip: str | None = None  # the stored clip's content hash, once fetched
    message: str | None = None  # why the outcome is unknown
    time: str = ""  # when this state was written, ISO 8601 UTC

    @property
    def why_unknown(self) -> str:
        """Why a submit without a job id has no known outcome, in words."""
        return self.message or "the build was killed while submitting"


class Journal:
    """The ``journal/`` folder of a store."""

    def __init__(self, store_dir: Path) -> None:
        self.dir = store_dir / "journal"

    def _path(self, take_key: str) -> Path:
        return self.dir / f"{take_key}.json"

    def get(self, take_key: str) -> JournalEntry | None:
        return self._read(self._path(take_key))

    def entries(self) -> list[JournalEntry]:
        if not self.dir.is_dir():
            return []
        return [e for p in sorted(self.dir.glob("*.json")) if (e := self._read(p)) is not None]

    def _read(self, path: Path) -> JournalEntry | None:
        """The entry in ``path``; a damaged one is kept aside and stands as a submit of unknown outcome."""
        return salvage.read_record(
            path, lambda raw: _entry(salvage.json_object(raw)), _lost_job, self._unknown
        )

    def _unknown(self, damage: salvage.Damage) -> JournalEntry:
        # A paid submit may be behind it: the next build asks before submitting that take again.
        read = damage.fields()
        job = f"; it named job {read['job']}" if "job" in read else ""
        entry = JournalEntry(
            take_key=damage.path.stem,
            shot=read.get("shot", "?"),
            key=read["key"] if _is_key(read.get("key")) else "",
            take=int(read["take"]) if read.get("take", "").isdigit() else 0,
            backend=read.get("backend", "?"),
            model=read.get("model", "?"),
            state=JournalState.UNKNOWN,
            message=f"its journal record was damaged and {damage.where()}{job}",
        )
        if not _is_key(entry.take_key):
            return entry  # a file no build wrote (its name is no take key): it stands for this command only
        try:
            return self.write(entry)
        except OSError:
            return entry  # a read-only project: it stands for this command only

    def by_key(self) -> dict[str, list[JournalEntry]]:
        """The entries grouped by recipe key, each group by take number."""
        out: dict[str, list[JournalEntry]] = {}
        for entry in sorted(self.entries(), key=lambda e: e.take):
            out.setdefault(entry.key, []).append(entry)
        return out

    def write(self, entry: JournalEntry) -> JournalEntry:
        """Record ``entry`` durably (fsync of the file and of the folder) and return it."""
        entry = JournalEntry(**{**asdict(entry), "time": now()})
        durable.write_json(self._path(entry.take_key), asdict(entry))
        return entry

    def close(self, take_key: str) -> None:
        """The job has ended (its take is stored, or its ending is in the ledger): forget it."""
        self._path(take_key).unlink(missing_ok=True)


def _lost_job(damage: salvage.Damage) -> str:
    read = damage.fields()
    if read.get("backend") == "animatic":  # the embedded backend is free: nothing to check anywhere
        return (
            f"an animatic job's record, {damage.name}, was unreadable: {damage.where()}; it is rendered again"
        )
    backend = read.get("backend", "your video providers")
    job = f"job {read['job']}" if "job" in read else f"a job submitted around {_mtime(damage)}"
    held = ", ".join(f"{k} {read[k]}" for k in ("shot", "take", "model") if k in read)
    return (
        f"a paid job's record was unreadable; check {backend} for {job}: it may have run and been billed. "
        f"{damage.name}{f' ({held})' if held else ''} was {damage.where()}; "
        "a build asks before submitting that take again (`shotlist build --regenerate SHOT` does)"
    )


def _mtime(damage: salvage.Damage) -> str:
    path = damage.kept or damage.path
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except OSError:
        return "the last build"


def _entry(raw: dict[str, Any]) -> JournalEntry:
    """A journal entry from its file's data; ValueError (or KeyError, TypeError) when it is not one."""
    fields = JournalEntry.__dataclass_fields__
    values = {k: v for k, v in raw.items() if k in fields}
    values["state"] = JournalState(values.get("state", JournalState.INTENT))
    entry = JournalEntry(**values)
    # The keys name files and index entries: a key that is not a sha256 is damage, never a path. A record
    # that stands for a damaged one (see ``_unknown``) may not know its recipe ("") or take (0).
    if not _is_key(entry.take_key) or not (_is_key(entry.key) or entry.key == ""):
        raise ValueError("a take key or recipe key that is not a sha256")
    if not isinstance(entry.take, int) or entry.take < 0:
        raise ValueError("a take number that is not a whole number")
    return entry


def _is_key(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and not value.strip("0123456789abcdef")
