"""Clip: a generated video in the store, with the facts probed from it. What the edit consumes.

Nothing unverified reaches the cut: a pinned clip is checked against its hash before the edit uses it
(re-hashed only when the file changed since it was last found intact), and a damaged one is moved
aside, pulled again from the project's remote store when there is one, and otherwise named with the
command that fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shotlist.errors import ShotlistError
from shotlist.lock import Lock, read_lock
from shotlist.media import ClipFacts
from shotlist.store import Store

if TYPE_CHECKING:
    from shotlist.load import Project
    from shotlist.remote import Transfer


class DamagedClip(ShotlistError):
    """A pinned clip's bytes no longer match its hash, and no remote store had it again."""


@dataclass(frozen=True)
class Clip:
    """The picked take of one shot: its file (in the content-addressed store), hash and probed facts."""

    shot: str
    path: Path
    sha256: str
    facts: ClipFacts


def pinned_clips(
    project: Project, *, store: Store | None = None, lock: Lock | None = None
) -> tuple[dict[str, Clip], list[str]]:
    """The clip the lock pins for each shot, and the ids of shots with none in the local store (storyboard order).

    Every clip handed out hashes to its name; DamagedClip when one does not and cannot be pulled again.
    A pin may be stale (the storyboard changed since): ``shotlist plan`` says which shots would change.
    """
    store = store or Store(project.root)
    lock = lock if lock is not None else read_lock(project.root, store=store)
    check_pinned_intact(project, store, lock)
    clips: dict[str, Clip] = {}
    missing: list[str] = []
    for shot in project.shots:
        entry = lock.get(shot.id)
        if entry is None or not store.has_object(entry.clip):
            missing.append(shot.id)
            continue
        recipe = store.entry(entry.key)
        take = recipe.by_clip(entry.clip) if recipe else None
        if take is not None:
            facts = take.facts
        else:
            from shotlist.media import probe

            facts = probe(store.object_path(entry.clip))
        clips[shot.id] = Clip(
            shot=shot.id, path=store.object_path(entry.clip), sha256=entry.clip, facts=facts
        )
    return clips, missing


_FIX = (
    "  fix: `shotlist pull` if a teammate pushed it; else `shotlist takes {shot}` and `shotlist pick` "
    "another take, or `shotlist build --regenerate-missing` to pay for a new one"
)


def check_pinned_intact(project: Project, store: Store, lock: Lock) -> None:
    """Set aside every pinned clip whose bytes no longer match its hash and pull it again from the remote;
    DamagedClip naming each one that could not be, with the fix."""
    damaged = set_aside_damaged(project, store, lock)
    if damaged:
        pull_pinned(project, store, lock, None, shots=set(damaged))
        lost = {shot: why for shot, why in damaged.items() if not store.has_object(lock.entries[shot].clip)}
        if lost:
            raise DamagedClip("\n".join([*lost.values(), _FIX.format(shot=next(iter(lost)))]))


def set_aside_damaged(project: Project, store: Store, lock: Lock) -> dict[str, str]:
    """Move every pinned clip whose bytes no longer match its hash out of the store; shot → what happened.

    Moved aside, the clip is missing like one never pulled: the next pull fetches it again, and the
    plan says what regenerating it would cost.
    """
    pinned = {s.id: e.clip for s in project.shots if (e := lock.get(s.id)) is not None}
    bad = store.damaged(set(pinned.values()))
    moved = {sha: store.set_aside(sha) for sha in bad}
    return {
        shot: f"shot '{shot}': its clip {sha[:12]} in the store was damaged (its bytes no longer match its "
        f"hash); it was moved to {moved[sha].relative_to(project.root)} and is not used"
        for shot, sha in pinned.items()
        if sha in moved
    }


def pull_pinned(
    project: Project,
    store: Store,
    lock: Lock,
    say: Callable[[str], None] | None,
    *,
    shots: set[str] | None = None,
) -> tuple[str, Transfer] | None:
    """Download the pinned clips (of ``shots``, else all) and take records this store lacks from the
    project's remote store, when it names one.

    Returns the remote's URL and what the pull did, or None when nothing was asked of a remote.
    """
    clips, records = {}, {}
    for shot, e in lock.entries.items():
        if shots is not None and shot not in shots:
            continue
        recipe = store.entry(e.key)
        if not store.has_object(e.clip):
            clips[e.key] = e.clip
        elif recipe is None or recipe.by_clip(e.clip) is None:
            records[e.key] = e.clip  # a teammate's take: its record says what made it
    if not (clips or records):
        return None  # nothing to ask for: the remote store's module is not even imported
    from shotlist.errors import masked
    from shotlist.remote import Remote, RemoteError, pull, remote_url

    url = remote_url(project.board.remote, project.root)
    if url is None:
        return None
    if say is not None and clips:
        say(f"pulling {len(clips)} pinned clip{'s' if len(clips) > 1 else ''} from {masked(url)}…")
    try:
        remote = Remote(url, on_wait=say)
        return remote.url, pull(store, remote, {**records, **clips})
    except RemoteError:
        if clips:
            raise
        return None  # only records were wanted: the clips are here, so the build goes on without them
