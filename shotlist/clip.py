"""Clip: a generated video in the store, with the facts probed from it. What the edit consumes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shotlist.lock import Lock, read_lock
from shotlist.media import ClipFacts
from shotlist.store import Store

if TYPE_CHECKING:
    from shotlist.load import Project


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

    A pin may be stale (the storyboard changed since): ``shotlist plan`` says which shots would change.
    """
    store = store or Store(project.root)
    lock = lock if lock is not None else read_lock(project.root, store=store)
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
