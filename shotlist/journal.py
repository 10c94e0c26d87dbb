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
from enum import StrEnum
from pathlib import Path
from typing import Any

from shotlist import durable
from shotlist.store import now


class JournalState(StrEnum):
    INTENT = "intent"  # written and fsynced before submit
    SUBMITTED = "submitted"  # the provider's job id is known
    FETCHED = "fetched"  # the clip is stored; the take is about to be recorded
    UNKNOWN = "unknown"  # the submit may have reached the provider, and no answer came back


@dataclass(frozen=True)
class JournalEntry:
    """Where one take's submit stands."""

    take_key: str
    shot: str
    key: str
    take: int
    backend: str
    model: str
    state: JournalState
    job: str | None = None
    clip: str | None = None
    message: str | None = None
    time: str = ""

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
        raw = durable.read_json(self._path(take_key))
        return _entry(raw) if isinstance(raw, dict) else None

    def entries(self) -> list[JournalEntry]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in sorted(self.dir.glob("*.json")):
            raw = durable.read_json(p)
            if isinstance(raw, dict):
                out.append(_entry(raw))
        return out

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


def _entry(raw: dict[str, Any]) -> JournalEntry:
    fields = JournalEntry.__dataclass_fields__
    values = {k: v for k, v in raw.items() if k in fields}
    values["state"] = JournalState(values.get("state", JournalState.INTENT))
    return JournalEntry(**values)
