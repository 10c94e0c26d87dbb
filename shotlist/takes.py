"""A shot's takes as a person reviews them: listed from the store, picked into the lock, rejected.

``takes_by_shot`` is the one place that reads takes from the store; ``shotlist takes``, the review
app, the contact sheet and ``--pick best`` all list takes through it. ``pick`` is ``shotlist pick``
and the review app's pick. A rejection is a note in ``.shotlist/rejected.json`` (by clip hash): the
take is hidden in review, never deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shotlist import durable
from shotlist.catalog.registry import Models
from shotlist.errors import ShotlistError, did_you_mean
from shotlist.load import Project, load_project
from shotlist.lock import LockEntry, read_lock, write_lock
from shotlist.media import MediaError
from shotlist.qc import QcFinding, checked, facts_of, judge
from shotlist.store import Store, Take, now
from shotlist.storyboard import QcSettings

if TYPE_CHECKING:
    from shotlist.conflicts import Settled
    from shotlist.remote import Remote

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
    remote: bool = False  # known only from the remote store (pick pulls it)
    findings: list[QcFinding] | None = None  # None: not checked (drawn previz) or not measured


@dataclass(frozen=True)
class Picked:
    """What ``pick`` pinned, and what it settled on the way."""

    entry: LockEntry
    how: str = ""  # ", pulled from the remote store" when the clip came from there
    settled: list[Settled] = field(default_factory=list)  # other conflicted or broken entries, re-pinned
    note: str = ""  # why the remote store's takes could not be listed


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
    remote: Sequence[Take] = (),
) -> list[TakeRow]:
    """One shot's takes (``found``: its part of ``takes_by_shot``), this recipe's first, each with its QC.

    ``measure``: decode a take whose QC facts are not cached yet (else it shows no findings);
    ``refused``: ``rejected(store)``, when the caller lists many shots; ``remote``: takes of the current
    recipe in the remote store, listed after the local ones they do not repeat.
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
                pinned=_pins(pinned, key, t, found),
                present=present,
                rejected=t.sha256 in refused,
                findings=findings_of(store, key, t, qc or QcSettings(), measure=measure) if present else None,
            )
        )
    here = {t.sha256 for _, t in found}
    for t in remote:
        if current is not None and t.sha256 not in here:
            pinned_here = pinned is not None and pinned.key == current and pinned.clip == t.sha256
            rows.append(TakeRow(t, current, True, pinned_here, False, t.sha256 in refused, remote=True))
    return sorted(rows, key=lambda r: (not r.current, r.remote))  # stable: oldest first within each group


def _pins(entry: LockEntry | None, key: str, t: Take, found: list[tuple[str, Take]]) -> bool:
    """Whether the lock pins this take: its recipe and clip, and its number when two takes are the same clip."""
    if entry is None or entry.key != key or entry.clip != t.sha256:
        return False
    # A deterministic model makes the same bytes each take: the lock names one of them by number.
    named = any(k == key and o.sha256 == t.sha256 and o.take == entry.take for k, o in found)
    return t.take == entry.take or not named


def findings_of(
    store: Store, key: str, take: Take, qc: QcSettings, *, measure: bool
) -> list[QcFinding] | None:
    """The QC findings of a take (None when it is not checked, or not measured and ``measure`` is off)."""
    from shotlist.qc import cached_facts

    if not checked(take.backend):
        return None
    try:
        facts = (
            facts_of(store.dir, take.sha256, store.object_path(take.sha256))
            if measure
            else cached_facts(store.dir, take.sha256)
        )
    except MediaError as exc:  # a listing goes on: the take that cannot be decoded says so
        return [QcFinding("undecodable", "error", f"its clip cannot be decoded ({exc})")]
    if facts is None:
        return None  # not measured yet (or its clip is not in this store)
    recipe = store.entry(key)
    return judge(facts, recipe.recipe if recipe else {}, qc)


def remote_takes(
    project: Project, key: str | None, on_wait: Callable[[str], None] | None = None
) -> tuple[Remote | None, list[Take], str]:
    """The project's remote store, its takes of recipe ``key``, and a note when it could not be asked."""
    from shotlist.remote import RemoteError, project_remote

    remote = project_remote(project, on_wait=on_wait)
    if remote is None or key is None:
        return remote, [], ""
    try:
        return remote, remote.takes(key), ""
    except RemoteError as exc:
        return remote, [], f"note: the remote store's takes are not listed: {exc}"


def pick(
    project: Path | Project,
    shot: str,
    take: int | str,
    *,
    model: str | None = None,
    models: Models | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Picked:
    """Pin a take of the shot's current recipe in shotlist.lock: by number, or by its id (a clip hash prefix).

    A take only the remote store has is pulled first. On a lock that a merge left conflicted, the
    other troubled entries are settled too, as ``shotlist lock resolve`` does.
    """
    from shotlist.catalog.registry import CatalogModels
    from shotlist.conflicts import fetched, resolve_lock
    from shotlist.plan import make_plan

    p = project if isinstance(project, Project) else load_project(project)
    ids = [s.id for s in p.shots]
    if shot not in ids:
        raise ShotlistError(f"no shot '{shot}'{did_you_mean(shot, ids)}; the shots are: {', '.join(ids)}")
    store = Store(p.root)
    models = models or CatalogModels()
    lock = read_lock(p.root, lenient=True, store=store)
    sp = next(s for s in make_plan(p, store, lock, models, model=model).shots if s.shot == shot)
    if sp.key is None:
        raise ShotlistError(
            f"{shot} starts from a frame of {sp.waits_for}, which has no clip yet; build it first"
        )
    remote, elsewhere, note = remote_takes(p, sp.key, on_wait)
    local = store.takes(sp.key)
    here = {t.sha256 for t in local}
    chosen = _choose(shot, str(take), local + [t for t in elsewhere if t.sha256 not in here], lock.troubled)
    how = fetched(store, remote, sp.key, chosen.sha256)
    if how is None:
        raise ShotlistError(
            f"the clip of take {chosen.take} ({chosen.id}) of {shot} is not in .shotlist/ and the remote store "
            "has no intact copy of it (a corrupt one, or none): whoever has it can `shotlist push` it; then "
            "pick it again"
        )
    with store.locked("pick", timeout=30, on_wait=on_wait):
        lock = read_lock(p.root, lenient=True, store=store)  # as it is now that no one else writes it
        entry = LockEntry.pinning(shot, sp.key, chosen)
        lock.entries[shot] = entry
        for troubled in (lock.conflicted, lock.dropped, lock.mismatched):
            if shot in troubled:
                troubled.remove(shot)
        settled = resolve_lock(p, store, lock, remote, models, model=model) if lock.troubled else []
        write_lock(p.root, lock, ids)
    return Picked(entry, how, settled, note)


def _choose(shot: str, text: str, choices: list[Take], troubled: list[str]) -> Take:
    """The take named by ``text``: a number (at most 5 digits) or an id (a hex prefix of 4 or more)."""
    wanted = text.strip().lower()
    if wanted.isdigit() and len(wanted) <= 5:
        found = [t for t in choices if t.take == int(wanted)]
    elif len(wanted) >= 4 and all(c in "0123456789abcdef" for c in wanted):
        found = [t for t in choices if t.sha256.startswith(wanted)]
    else:
        raise ShotlistError(
            f"'{text}' is neither a take number nor a take id; `shotlist takes {shot}` lists them"
        )
    if len({t.sha256 for t in found}) == 1:
        return found[0]  # one clip, made more than once (a deterministic model): any of them is that picture
    if found:
        listed = ", ".join(t.id for t in found)
        raise ShotlistError(
            f"{shot} has {len(found)} takes '{text}' of its current recipe (made in different clones: {listed}); "
            f"pick one by its id, e.g. `shotlist pick {shot} {found[0].id}`"
        )
    listed = ", ".join(f"{t.take} ({t.id})" for t in choices)
    if choices:
        fix = f"`shotlist takes {shot}` lists them"
    elif shot in troubled:
        fix = "`shotlist lock resolve` leaves it to the next build"
    else:
        fix = "`shotlist build` makes one"
    raise ShotlistError(
        f"{shot} has no take {text} of its current recipe, here or in the remote store "
        f"(takes: {listed or 'none'}); {fix}"
    )


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
    if not any(t.sha256 == clip for _, t in takes_by_shot(store).get(shot, [])):
        # A stale page or a typo: a rejection filed under a take the shot never had would hide nothing.
        raise ShotlistError(
            f"{shot} has no take {clip[:12]} in this store; reload the page (`shotlist takes {shot}`)"
        )
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
