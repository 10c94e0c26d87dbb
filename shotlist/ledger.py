"""The ledger: every job that ended without a take, kept per recipe, so nothing paid is forgotten.

A take in the store is a job that ended well. Every other ending is recorded here, in
``.shotlist/ledger/<key[:2]>/<key>.json`` (durable writes), and never removed: it is the recipe's
history. ``plan``, ``build`` (its summary and report), ``takes`` and ``cache verify`` all read it
from here, and all word each ending the same way (``JobRecord.text``):

- ``refused``: the provider's moderation refused the request. A plain build does not send the same
  recipe again; editing the prompt makes a new recipe, ``--regenerate`` tries this one again.
- ``lost``: the job ran, and was paid or may have been, but its clip can never be had: the provider
  no longer knows the job, its result link expired, its file was deleted, or the clip was not what
  was asked. A paid one is made again only with ``--regenerate`` (it costs again); a free one by
  the next build.
- ``unknown``: the answer to its submit was lost; it may have run and been billed. Recorded when
  the user sends the recipe again with ``--regenerate`` (until then the journal holds it).
- ``failed``: the provider reported a failure. The next build tries again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotlist import durable

if TYPE_CHECKING:
    from shotlist.journal import JournalEntry
    from shotlist.plan import ShotPlan

log = logging.getLogger("shotlist.ledger")


class Outcome(StrEnum):
    """How a job ended without a take."""

    REFUSED = "refused"
    LOST = "lost"
    UNKNOWN = "unknown"
    FAILED = "failed"


def money(value: float | None) -> str:
    """Dollars as people read them: ``$1.25``, ``free``, ``cost unknown``."""
    if value is None:
        return "cost unknown"
    return "free" if value == 0 else f"${value:.2f}"


def regenerate(shot: str, cost: float | None, *, full: bool = True) -> str:
    """The command that makes a shot again, with what it costs (``full``: as typed in a shell)."""
    command = f"run `shotlist build --regenerate {shot}`" if full else f"--regenerate {shot}"
    return command if cost is None else f"{command} ({'free' if cost == 0 else 'about ' + money(cost)})"


def unknown_text(shot: str, take: int, backend: str, when: str, why: str, again: float | None) -> str:
    """What to do about a submit whose answer was lost: the one wording every command uses."""
    return (
        f"take {take} was sent to {backend}{' at ' + when if when else ''} and the answer was lost "
        f"({why}); it may be running and billed, so it is not sent again. Check the {backend} "
        f"dashboard; to send it again, {regenerate(shot, again)}"
    )


@dataclass(frozen=True)
class JobRecord:
    """One job of a recipe that ended without a take."""

    key: str  # the recipe
    take: int
    shot: str
    outcome: Outcome
    backend: str
    model: str
    job: str | None
    cost: float | None  # what it cost, or may have cost (US dollars); None when unknown
    cost_is_estimate: bool
    message: str  # the provider's reason, or what went wrong (no secrets)
    time: str = ""

    @property
    def paid(self) -> bool:
        """Paid, or may have been: a lost or unknown job, or one the provider charged for."""
        return self.outcome in (Outcome.LOST, Outcome.UNKNOWN) or bool(self.cost)

    def cost_text(self) -> str:
        return money(self.cost) + (" (estimate)" if self.cost_is_estimate and self.cost else "")

    def text(self, again: float | None, free: bool, *, full: bool = True) -> str:
        """The ending in a sentence with the one next step that works; ``again``: what a new take costs.

        ``full=False`` is the plan's shorter form (the user is about to run ``build``)."""
        job = f" (job {self.job})" if self.job else ""
        if self.outcome is Outcome.REFUSED:
            step = f"edit the prompt, or {regenerate(self.shot, None, full=full)} to try it again"
            if not full:
                return f'"{self.message}"  {step}'
            return f"take {self.take} refused by {self.backend}{job}: {self.message}; {step}"
        if self.outcome is Outcome.UNKNOWN:
            return unknown_text(self.shot, self.take, self.backend, self.time, self.message, again)
        if self.outcome is Outcome.FAILED:
            return f"take {self.take} failed at {self.backend}{job}: {self.message}; the next build tries it again"
        if free:
            return f"take {self.take}{job} left no clip: {self.message}; the next build makes it again (free)"
        return (
            f"take {self.take}{job} cost {self.cost_text()} and left no clip: {self.message}; "
            f"to pay for a new one, {regenerate(self.shot, again, full=full)}"
        )

    @classmethod
    def of(
        cls, entry: JournalEntry, outcome: Outcome, why: str, cost: float | None, estimate: bool, time: str
    ) -> JobRecord:
        """The record of a journaled job's ending."""
        return cls(
            key=entry.key,
            take=entry.take,
            shot=entry.shot,
            outcome=outcome,
            backend=entry.backend,
            model=entry.model,
            job=entry.job,
            cost=cost,
            cost_is_estimate=estimate and cost is not None,
            message=why,
            time=time,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> JobRecord:
        return cls(
            key=str(d["key"]),
            take=int(d["take"]),
            shot=str(d.get("shot", "")),
            outcome=Outcome(d["outcome"]),
            backend=str(d.get("backend", "")),
            model=str(d.get("model", "")),
            job=None if d.get("job") is None else str(d["job"]),
            cost=None if d.get("cost") is None else float(d["cost"]),
            cost_is_estimate=bool(d.get("cost_is_estimate", False)),
            message=str(d.get("message", "")),
            time=str(d.get("time", "")),
        )


class Ledger:
    """The ``ledger/`` folder of a store."""

    def __init__(self, store_dir: Path) -> None:
        self.dir = store_dir / "ledger"
        self._keys: set[str] | None = None
        self._records: dict[str, list[JobRecord]] = {}

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def keys(self) -> set[str]:
        """The recipes that have records (read once: a plan of 100 shots opens only the files that exist)."""
        if self._keys is None:
            self._keys = {p.stem for p in self.dir.glob("*/*.json")} if self.dir.is_dir() else set()
        return self._keys

    def records(self, key: str) -> list[JobRecord]:
        """A recipe's records, oldest first."""
        if key not in self.keys():
            return []
        if key not in self._records:
            path = self._path(key)
            try:
                raw = durable.read_json(path)
                found = [JobRecord.from_json(r) for r in (raw or {}).get("records", [])]
            except (ValueError, KeyError, TypeError, AttributeError):
                # A damaged record of money spent is kept aside and named, never dropped silently.
                aside = path.with_name(path.name + ".damaged")
                path.replace(aside)
                log.warning("the ledger file %s is damaged; kept aside as %s", path, aside.name)
                found = []
            self._records[key] = found
        return self._records[key]

    def add(self, record: JobRecord) -> None:
        """Record a job's ending (durably); a record of the same take and outcome is replaced, not doubled."""
        old = [r for r in self.records(record.key) if (r.take, r.outcome) != (record.take, record.outcome)]
        new = old + [record]
        durable.write_json(self._path(record.key), {"key": record.key, "records": [r.to_json() for r in new]})
        self.keys().add(record.key)
        self._records[record.key] = new

    def all(self) -> list[JobRecord]:
        return [r for key in sorted(self.keys()) for r in self.records(key)]

    def damaged(self) -> list[Path]:
        """Ledger files kept aside because they could not be read."""
        return sorted(self.dir.glob("*/*.damaged")) if self.dir.is_dir() else []


def in_flight_text(entry: JournalEntry, sp: ShotPlan | None) -> str:
    """What a journaled job means and what the next build does with it (`takes` and `cache verify` alike)."""
    from shotlist.ledger import unknown_text

    if entry.job:
        return (
            f"take {entry.take} is running at {entry.backend} (job {entry.job}); the next build resumes it "
            "(already paid)"
        )
    if sp is not None and sp.free:
        return f"take {entry.take}'s submit had no answer; the next build sends it again (free)"
    if sp is not None and entry.take in sp.unknown:
        return (
            f"take {entry.take}'s submit had no answer; the next build looks it up at {entry.backend} "
            "before anything is sent again"
        )
    why = entry.why_unknown
    return unknown_text(entry.shot, entry.take, entry.backend, entry.time, why, sp.again if sp else None)
