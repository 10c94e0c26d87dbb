"""Settling ``shotlist.lock`` after a merge: re-pin each troubled entry from the storyboard as it now stands.

After ``git merge`` the storyboard says what each shot should be (the user settles it like any
file); the lock's conflicted, broken or mismatched entries are then rewritten to match it. For each
such shot, in storyboard order (a chained shot after the shot it starts from), the first of these
is pinned: a branch's entry of exactly the storyboard's recipe, a take of that recipe in
``.shotlist/``, a take of it in the remote store (pulled). When a branch or the remote's records name a
take of the recipe but no intact copy is to be had (a corrupt remote copy, one not pushed yet), that
take is pinned all the same and the fix named: regenerating would pay for a clip that exists. With
none, the entry is left out, so the next build generates the shot (``shotlist plan`` says what that
costs). Nothing here spends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shotlist.lock import Lock, LockEntry
from shotlist.plan import ShotPlan, make_plan

if TYPE_CHECKING:
    from shotlist.catalog.registry import Models
    from shotlist.load import Project
    from shotlist.remote import Remote
    from shotlist.store import Store


@dataclass(frozen=True)
class Settled:
    """What ``resolve_lock`` chose for one shot."""

    shot: str
    entry: LockEntry | None  # None: left for the next build to generate
    how: str

    def line(self) -> str:
        if self.entry is None:
            return f"{self.shot}: {self.how}"
        return f"{self.shot}: pinned take {self.entry.take} ({self.entry.clip[:8]}), {self.how}"


def resolve_lock(
    project: Project,
    store: Store,
    lock: Lock,
    remote: Remote | None,
    models: Models,
    *,
    model: str | None = None,
) -> list[Settled]:
    """Re-pin every troubled entry of ``lock`` (in place) from the storyboard as it now stands."""
    troubled = set(lock.troubled)
    out = []
    for shot in project.shots:
        if shot.id not in troubled:
            continue
        plan = make_plan(project, store, lock, models, model=model)
        settled = _settle(next(s for s in plan.shots if s.shot == shot.id), lock, store, remote)
        if settled.entry is None:
            lock.entries.pop(shot.id, None)
        else:
            lock.entries[shot.id] = settled.entry
        out.append(settled)
    lock.conflicted, lock.dropped, lock.mismatched, lock.sides, lock.markers = [], [], [], {}, 0
    return out


_NO_COPY = (
    "its clip is not in .shotlist/ and the remote store has no intact copy: whoever has it can "
    "`shotlist push` it, then `shotlist pull` (a build never regenerates it unasked)"
)


def _settle(sp: ShotPlan, lock: Lock, store: Store, remote: Remote | None) -> Settled:
    """The first of: a branch's entry of the recipe whose clip can be had, a take of it here, one in the
    remote store (pulled); else the take a branch or the remote's records name, though no intact copy
    is to be had (a corrupt remote copy, or one not pushed yet: regenerating would pay for a clip that
    exists); else nothing: the next build generates the shot."""
    key = sp.key
    if key is None:
        return Settled(
            sp.shot,
            None,
            f"starts from a frame of {sp.waits_for}, which has no clip yet: a build generates it",
        )
    unavailable: Settled | None = None
    for label, entry in lock.sides.get(sp.shot, []):
        if entry.key == key:
            how = fetched(store, remote, key, entry.clip)
            if how is not None:
                return Settled(sp.shot, entry, f"as on {label}{how}")
            unavailable = unavailable or Settled(sp.shot, entry, f"as on {label}; {_NO_COPY}")
    local = store.takes(key)
    if local:
        return Settled(
            sp.shot, LockEntry.pinning(sp.shot, key, local[0]), "the newest take of its recipe here"
        )
    recorded = remote.takes(key) if remote is not None else []
    for take in recorded:
        how = fetched(store, remote, key, take.sha256)
        if how is not None:
            return Settled(
                sp.shot, LockEntry.pinning(sp.shot, key, take), f"the newest take of its recipe{how}"
            )
    if unavailable is None and recorded:
        newest = LockEntry.pinning(sp.shot, key, recorded[0])
        unavailable = Settled(
            sp.shot, newest, f"the newest take of its recipe in the remote store; {_NO_COPY}"
        )
    return unavailable or Settled(
        sp.shot,
        None,
        "no take of its recipe in .shotlist/ or the remote store: the next build generates it "
        "(`shotlist plan` shows the cost)",
    )


def fetched(store: Store, remote: Remote | None, key: str, clip: str) -> str | None:
    """'' when clip is here, ', pulled from the remote store' once it is, None when it cannot be had."""
    from shotlist.remote import pull

    if store.has_object(clip):
        return ""
    if remote is None:
        return None
    got = pull(store, remote, [(key, clip)])
    return ", pulled from the remote store" if got.sent else None
