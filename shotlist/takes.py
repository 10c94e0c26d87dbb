"""A shot's takes as a person reviews them: listed from the store, picked into the lock, rejected.

``takes_by_shot`` is the one place that reads takes from the store; ``shotlist takes``, the review
app, the contact sheet and ``--pick best`` all list takes through it. ``pick`` is ``shotlist pick``
and the review app's pick. A rejection is a note in ``.shotlist/rejected.json`` (by clip hash): the
take is hidden in review, never deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shotlist import durable
from shotlist.catalog.registry import Models
from shotlist.errors import ShotlistError, did_you_mean
from shotlist.load import Project, load_project
from shotlist.lock import LockEntry, read_lock, write_lock
from shotlist.qc import QcFinding, checked, facts_of, judge
from shotlist.store import Store, Take, now
from shotlist.storyboard import QcSettings

REJECTED = "rejected.json"


@dataclass(frozen=True)
class TakeRow:
    """One take of a shot, as listed for review."""

    take: Take
    key: str  # the recipe it is a take of
    current: bool  # a take of the shot's recipe as the storyboard now stands
    pinned: bool
    present: bool  # its clip is in the local store
    rejected: bool
    findings: list[QcFinding] | None = None  # None: not checked (drawn previz) or not measured


@dataclass(frozen=True)
class Picked:
    """What ``pick`` pinned, and the shots whose broken lock entries were dropped on the way."""

    entry: LockEntry
    dropped: list[str] = field(default_factory=list)


def takes_by_shot(store: Store) -> dict[str, list[tuple[str, Take]]]:
    """Every take in the store, by shot: (recipe key, take), oldest first."""
    out: dict[str, list[tuple[str, Take]]] = {}
    for recipe in store.entries():
        for t in recipe.takes:
            out.setdefault(recipe.shot or t.shot, []).append((recipe.key, t))
    for rows in out.values():
        rows.sort(key=lambda r: (r[1].time, r[1].take))
    return out


def shot_takes(
    store: Store,
    found: list[tuple[str, Take]],
    current: str | None,
    pinned: LockEntry | None,
    *,
    qc: QcSettings | None = None,
    measure: bool = False,
    refused: dict[str, str] | None = None,
) -> list[TakeRow]:
    """One shot's takes (``found``: its part of ``takes_by_shot``), this recipe's first, each with its QC.

    ``measure``: decode a take whose QC facts are not cached yet (else it shows no findings);
    ``refused``: ``rejected(store)``, when the caller lists many shots.
    """
    refused = rejected(store) if refused is None else refused
    rows = []
    for key, t in found:
        present = store.has_object(t.sha256)
        rows.append(
            TakeRow(
                take=t,
                key=key,
                current=key == current,
                pinned=pinned is not None and pinned.key == key and pinned.clip == t.sha256,
                present=present,
                rejected=t.sha256 in refused,
                findings=findings_of(store, key, t, qc or QcSettings(), measure=measure) if present else None,
            )
        )
    return sorted(rows, key=lambda r: not r.current)  # stable: oldest first within each group


def findings_of(
    store: Store, key: str, take: Take, qc: QcSettings, *, measure: bool
) -> list[QcFinding] | None:
    """The QC findings of a take (None when it is not checked, or not measured and ``measure`` is off)."""
    from shotlist.qc import cached_facts

    if not checked(take.backend):
        return None
    facts = (
        facts_of(store.dir, take.sha256, store.object_path(take.sha256))
        if measure
        else cached_facts(store.dir, take.sha256)
    )
    if facts is None:
        return None  # not measured yet (or its clip is not in this store)
    recipe = store.entry(key)
    return judge(facts, recipe.recipe if recipe else {}, qc)


def pick(
    project: Path | Project,
    shot: str,
    take: int | str,
    *,
    model: str | None = None,
    models: Models | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Picked:
    """Pin a take of the shot's current recipe in shotlist.lock: by number, or by its clip hash (a prefix).

    Reads the lock leniently: picking also repairs that shot's conflicted or broken entry.
    """
    from shotlist.catalog.registry import CatalogModels
    from shotlist.plan import make_plan

    p = project if isinstance(project, Project) else load_project(project)
    ids = [s.id for s in p.shots]
    if shot not in ids:
        raise ShotlistError(f"no shot '{shot}'{did_you_mean(shot, ids)}; the shots are: {', '.join(ids)}")
    store = Store(p.root)
    lock = read_lock(p.root, lenient=True)
    the_plan = make_plan(p, store, lock, models or CatalogModels(), model=model)
    sp = next(s for s in the_plan.shots if s.shot == shot)
    if sp.key is None:
        raise ShotlistError(
            f"{shot} starts from a frame of {sp.waits_for}, which has no clip yet; build it first"
        )
    stored = store.takes(sp.key)
    chosen = next((t for t in stored if _is(t, take)), None)
    if chosen is None:
        listed = ", ".join(str(t.take) for t in sorted(stored, key=lambda t: t.take)) or "none"
        raise ShotlistError(
            f"{shot} has no take {take} of its current recipe in the store (takes: {listed}); "
            f"`shotlist takes {shot}` lists them"
        )
    with store.locked("pick", timeout=30, on_wait=on_wait):
        lock = read_lock(p.root, lenient=True)  # as it is now that no one else writes it
        entry = LockEntry.pinning(shot, sp.key, chosen)
        lock.entries[shot] = entry
        write_lock(p.root, lock, ids)
    return Picked(entry, [s for s in lock.conflicted + lock.dropped if s != shot])


def _is(t: Take, wanted: int | str) -> bool:
    if isinstance(wanted, int) or wanted.isdigit():
        return t.take == int(wanted)
    return len(wanted) >= 6 and t.sha256.startswith(wanted.lower())


# --- rejections ----------------------------------------------------------------------------------------


def rejected(store: Store) -> dict[str, str]:
    """Clip hash → shot of every rejected take."""
    raw = durable.read_json(store.dir / REJECTED)
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v.get("shot", "")) if isinstance(v, dict) else "" for k, v in raw.items()}


def set_rejected(store: Store, shot: str, clip: str, rejected_: bool) -> None:
    """Record (or withdraw) the rejection of a take; the take itself is never touched."""
    path = store.dir / REJECTED
    with store.locked("reject", timeout=30):
        raw = durable.read_json(path)
        notes = dict(raw) if isinstance(raw, dict) else {}
        if rejected_:
            notes[clip] = {"shot": shot, "time": now()}
        else:
            notes.pop(clip, None)
        durable.write_json(path, notes)


# --- QC over a build's takes ---------------------------------------------------------------------------


def made_findings(
    store: Store, lock_keys: dict[str, str], made: dict[str, list[Take]], qc: QcSettings
) -> dict[str, dict[int, list[QcFinding]]]:
    """QC findings of the takes a build made (shot → take number → findings; unchecked takes left out).

    ``lock_keys``: shot → the recipe key its new takes belong to (what the build pinned).
    """
    out: dict[str, dict[int, list[QcFinding]]] = {}
    for shot, takes in made.items():
        key = lock_keys.get(shot)
        for t in takes if key else []:
            found = findings_of(store, str(key), t, qc, measure=True)
            if found is not None:
                out.setdefault(shot, {})[t.take] = found
    return out


def best_take(store: Store, key: str, qc: QcSettings) -> Take | None:
    """The take of recipe ``key`` with the fewest QC findings (errors weigh most); the newest on a tie."""
    from shotlist.qc import rank

    stored = store.takes(key)
    if not stored:
        return None
    scored = [(rank(findings_of(store, key, t, qc, measure=True) or []), -t.take, t) for t in stored]
    return min(scored, key=lambda s: (s[0], s[1]))[2]
