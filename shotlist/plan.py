"""The plan: what a build would do about each shot, and why.

``make_plan`` compares every shot's request (shotlist.request) with the lock and the store and says,
per shot, ``pinned`` (the lock's take is this recipe's), ``cached`` (a take of this recipe is in the
store: free), ``generate`` (with the reasons, as sentences), ``skip`` (``--only`` leaves it out) or
``missing`` (pinned, but the clip is in no store), with the estimated cost and time. Nothing here
writes or spends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shotlist.catalog.registry import ModelInfo, Models
from shotlist.errors import ShotlistError, did_you_mean
from shotlist.load import Project
from shotlist.lock import Lock, LockEntry
from shotlist.request import Waiting, model_of, shot_spec
from shotlist.resolve import ResolvedShot
from shotlist.spec import ShotSpec
from shotlist.store import Store, Take

if TYPE_CHECKING:
    from shotlist.journal import Journal


class Action(StrEnum):
    """What a build does about one shot."""

    PINNED = "pinned"  # the lock pins a take of exactly this recipe, and its clip is in the store
    CACHED = "cached"  # a take of this recipe is in the store: pinned for free
    GENERATE = "generate"
    SKIP = "skip"  # left out by --only
    MISSING = "missing"  # pinned, but the clip is in no store: not regenerated unasked


@dataclass
class ShotPlan:
    """What a build does about one shot, and why."""

    shot: str
    action: Action
    model: str
    backend: str
    reasons: list[str] = field(default_factory=list)
    spec: ShotSpec | None = None  # None while it waits for an upstream clip
    waits_for: str | None = None
    take: Take | None = None  # the take a pinned or cached shot is built from
    takes: list[int] = field(default_factory=list)  # numbers of the takes to generate
    resume: dict[int, str] = field(default_factory=dict)  # take → job id an interrupted build submitted
    unknown: list[int] = field(default_factory=list)  # takes whose submit has an unknown outcome
    cost: float | None = 0.0  # estimated dollars of the new takes (None: unknown)
    seconds: float = 0.0  # estimated generation time of one take

    @property
    def key(self) -> str | None:
        return self.spec.key if self.spec else None

    @property
    def clip(self) -> str | None:
        """The clip this shot has without generating: the pinned or cached take's hash (a missing pin's too:
        the shots chained from it are keyed by that hash, whether or not its bytes are here)."""
        return (
            self.take.sha256
            if self.take and self.action in (Action.PINNED, Action.CACHED, Action.MISSING)
            else None
        )

    def summary(self) -> str:
        """The plan's line of reasons, as sentences."""
        text = "; ".join(self.reasons)
        if self.waits_for:
            text += (
                f"{'; ' if text else ''}waits for {self.waits_for}; its new clip decides this shot's input"
            )
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "shot": self.shot,
            "action": self.action,
            "model": self.model,
            "backend": self.backend,
            "key": self.key,
            "reasons": self.reasons,
            "waits_for": self.waits_for,
            "take": self.take.take if self.take else None,
            "clip": self.clip,
            "new_takes": self.takes,
            "resumes_jobs": sorted(self.resume.values()),
            "cost": self.cost,
            "seconds": self.seconds,
        }


@dataclass
class Plan:
    """The plan for a whole project, in storyboard order."""

    project: Project
    shots: list[ShotPlan]
    seconds: float = 0.0  # estimated wall time: chains wait, each backend runs `concurrency` jobs at once

    @property
    def generating(self) -> list[ShotPlan]:
        return [s for s in self.shots if s.action == Action.GENERATE]

    @property
    def missing(self) -> list[ShotPlan]:
        """Shots whose pinned clip is in no store: a build leaves them out unless told to regenerate them."""
        return [s for s in self.shots if s.action == Action.MISSING]

    @property
    def cost(self) -> float | None:
        """Estimated dollars to spend (None when some model's price is unknown)."""
        costs = [s.cost for s in self.generating]
        return None if any(c is None for c in costs) else round(sum(c for c in costs if c is not None), 4)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": str(self.project.path),
            "shots": [s.to_json() for s in self.shots],
            "generate": len(self.generating),
            "cost": self.cost,
            "seconds": round(self.seconds, 1),
        }


def make_plan(
    project: Project,
    store: Store,
    lock: Lock,
    models: Models,
    *,
    journal: Journal | None = None,
    only: Iterable[str] | None = None,
    regenerate: Iterable[str] | None = None,
    takes: int | None = None,
    model: str | None = None,
    regenerate_missing: bool = False,
) -> Plan:
    """Decide, for every shot, pinned / cached / generate / skip / missing, with reasons, cost and time.

    Spends nothing. A shot whose pinned clip is in no store is ``missing`` (its cost is what
    regenerating would be), or ``generate`` with ``regenerate_missing``.
    """
    ids = [s.id for s in project.shots]
    only_set = _known(set(only or ()), ids, "--only")
    again = _known(set(regenerate or ()), ids, "--regenerate")
    infos: dict[str, ModelInfo] = {}
    plans: dict[str, ShotPlan] = {}
    resolution = project.board.output.resolution

    for shot in project.shots:
        model_id = model_of(shot, model)
        info = infos.get(model_id) or infos.setdefault(model_id, models.info(model_id))
        sp = ShotPlan(
            shot=shot.id, action=Action.GENERATE, model=model_id, backend=info.backend, seconds=info.latency_s
        )
        plans[shot.id] = sp
        wanted = (
            shot.takes
        )  # the storyboard's `takes:` is kept topped up; --takes applies to what is generated
        entry = lock.get(shot.id)
        try:
            sp.spec = shot_spec(project, shot, info, store, lambda up: plans[up].clip)
        except Waiting as w:
            sp.waits_for = w.upstream
            sp.reasons = ["new shot"] if entry is None else [f"upstream shot {w.upstream} changes"]
            sp.takes = list(range(1, ((takes or 1) if shot.id in again else max(wanted, takes or 0)) + 1))
        if sp.spec is not None:
            _decide(sp, shot, sp.spec, entry, store, wanted, shot.id in again, takes, journal)
            if sp.action == Action.MISSING and regenerate_missing:
                sp.action = Action.GENERATE
        if sp.action in (Action.GENERATE, Action.MISSING):
            per_take = info.estimate(shot.duration, resolution, bool(shot.audio.native))
            paid = len(sp.takes) - len(sp.resume)  # a resumed job was paid for by the build that submitted it
            sp.cost = None if per_take is None else round(per_take * paid, 4)
            if only_set and shot.id not in only_set:
                sp.action = Action.SKIP
                sp.reasons = [f"not in --only (it would generate: {sp.summary()})"]
                sp.cost = 0.0
    plan = Plan(project=project, shots=[plans[i] for i in ids])
    plan.seconds = _wall_time(project, plan, infos)
    store.hashes.save()
    return plan


def _known(names: set[str], ids: list[str], option: str) -> set[str]:
    unknown = sorted(names - set(ids))
    if unknown:
        raise ShotlistError(
            f"{option}: no shot '{unknown[0]}'{did_you_mean(unknown[0], ids)}; "
            f"the shots are: {', '.join(ids)}"
        )
    return names


def _decide(
    sp: ShotPlan,
    shot: ResolvedShot,
    spec: ShotSpec,
    entry: LockEntry | None,
    store: Store,
    wanted: int,
    new_take: bool,
    takes: int | None,
    journal: Journal | None,
) -> None:
    key = spec.key
    if not new_take and entry is not None and entry.key == key and store.has_object(entry.clip):
        stored = store.takes(key)
        if wanted == 1 or len(stored) >= wanted:
            take = next((t for t in stored if t.sha256 == entry.clip), None)
            sp.action, sp.take = Action.PINNED, take or _take_from_lock(entry, store)
            return
    existing = store.takes(key)
    if not new_take and entry is not None and entry.key == key and not store.has_object(entry.clip):
        sp.action = Action.MISSING
        sp.take = entry.as_take()
        sp.reasons = [  # what the remote store has of it is for the caller to add (only it asked)
            f"its pinned clip (take {entry.take}, {entry.clip[:8]}) is missing: not in .shotlist/",
            "regenerating makes a new clip that will differ from the one the lock pins "
            "(`shotlist build --regenerate-missing` pays for it)",
        ]
        sp.takes = [store.next_take(key)]
        return
    if new_take:
        count = takes or 1
        sp.reasons = ["new take requested" if count == 1 else f"{count} new takes requested"]
    elif len(existing) < wanted and existing:
        count = wanted - len(existing)
        sp.reasons = [f"{count} more take{'s' if count > 1 else ''} requested (takes: {wanted})"]
    elif existing:
        pinned_here = entry is not None and entry.key == key
        sp.action = Action.CACHED
        sp.take = next(
            (t for t in existing if pinned_here and entry is not None and t.sha256 == entry.clip), existing[0]
        )
        why = why_changed(shot, spec, entry, store) if entry is not None and not pinned_here else []
        sp.reasons = why + [f"take {sp.take.take} of this recipe is in the store: reused, free"]
        return
    else:
        count = max(wanted, takes or 0)
        sp.reasons = why_changed(shot, spec, entry, store)
        if count > 1:
            sp.reasons.append(f"{count} takes requested")
    first = store.next_take(key)
    sp.takes = list(range(first, first + count))
    if journal is not None:
        for n in sp.takes:
            j = journal.get(spec.take_key(n))
            if j is None:
                continue
            if j.job:
                sp.resume[n] = j.job
                sp.reasons.append(
                    f"take {n} resumes job {j.job}, submitted by an interrupted build (already paid)"
                )
            else:
                sp.unknown.append(n)
                sp.reasons.append(f"take {n}: an interrupted build's submit has an unknown outcome")


def _take_from_lock(entry: LockEntry, store: Store) -> Take:
    """A pinned take whose index record is gone (the objects came from elsewhere): rebuilt from the lock."""
    from shotlist.media import probe

    return entry.as_take(probe(store.object_path(entry.clip)))


def why_changed(shot: ResolvedShot, spec: ShotSpec, entry: LockEntry | None, store: Store) -> list[str]:
    """Why this recipe differs from the one the lock pins, as sentences (``new shot`` when it pins none)."""
    if entry is None:
        return ["new shot"]
    old_entry = store.entry(entry.key)
    if old_entry is None:
        return ["its recipe changed (the pinned recipe is not in this store, so not how)"]
    old, new = old_entry.recipe, spec.recipe()
    out: list[str] = []
    if old.get("salt") != new["salt"]:
        out.append("shotlist's key recipe changed (a new shotlist version)")
    if old.get("model") != new["model"] or old.get("backend") != new["backend"]:
        out.append(f"model changed ({old.get('model')} → {new['model']})")
    if old.get("mode") != new["mode"]:
        out.append(f"mode changed ({old.get('mode')} → {new['mode']})")
    if old.get("prompt") != new["prompt"]:
        out.append("prompt changed")
    if old.get("negative") != new["negative"]:
        out.append("negative prompt changed")
    if old.get("duration") != spec.recipe()["duration"]:
        out.append(f"duration changed ({_num(old.get('duration'))} → {spec.duration:g} s)")
    if old.get("size") != new["size"] or old.get("aspect") != new["aspect"]:
        out.append(f"output size changed ({_size(old.get('size'))} → {spec.width}x{spec.height})")
    if old.get("fps") != new["fps"]:
        out.append(f"frame rate changed ({old.get('fps')} → {spec.fps} fps)")
    if old.get("seed") != new["seed"]:
        out.append("seed changed")
    if old.get("audio") != new["audio"]:
        out.append(f"native audio switched {'on' if spec.audio else 'off'}")
    out += _inputs_changed(old.get("inputs") or [], spec)
    out += _params_changed(old.get("params") or {}, new["params"], "prompt changed" in out)
    return out or ["its recipe changed"]


def _num(value: Any) -> str:
    return (
        f"{float(value):g}"
        if isinstance(value, (int, float, str)) and str(value).replace(".", "").isdigit()
        else "?"
    )


def _size(value: Any) -> str:
    return f"{value[0]}x{value[1]}" if isinstance(value, list) and len(value) == 2 else "?"


def _inputs_changed(old: list[dict[str, Any]], spec: ShotSpec) -> list[str]:
    out: list[str] = []
    names = {"image": "source image", "end_image": "end image"}
    for role in ("image", "end_image"):
        was = next((i for i in old if i.get("role") == role), None)
        now = spec.input(role)
        if now is None:
            if was is not None:
                out.append(f"{names[role]} removed")
        elif was is None or was.get("sha256") != now.sha256 or was.get("frame") != now.frame:
            if now.frame is not None:
                out.append(f"upstream shot {now.upstream} changed")
            else:
                out.append(f"{names[role]} {now.name} {'changed' if was is not None else 'added'}")
    was_refs = [i.get("sha256") for i in old if i.get("role") == "ref"]
    now_refs = [i for i in spec.inputs if i.role == "ref"]
    if was_refs != [i.sha256 for i in now_refs]:
        changed = sorted({i.name for i in now_refs if i.sha256 not in was_refs})
        out.append(f"reference {', '.join(changed)} changed" if changed else "references changed")
    return out


def _params_changed(old: dict[str, Any], new: dict[str, Any], prompt_changed: bool) -> list[str]:
    from shotlist.spec import canonical

    old, new = canonical(old), canonical(new)
    out: list[str] = []
    for name, sentence in (
        ("camera", "camera changed"),
        ("dialogue", "dialogue changed"),
        ("card", "card changed"),
    ):
        if old.get(name) != new.get(name):
            out.append(sentence)
    rest = sorted(
        k
        for k in set(old) | set(new)
        if k not in ("camera", "dialogue", "card")
        and old.get(k) != new.get(k)
        and not (prompt_changed and k == "caption")
    )
    if rest:
        out.append(f"{', '.join(rest)} changed")
    return out


def _wall_time(project: Project, plan: Plan, infos: dict[str, ModelInfo]) -> float:
    """List-schedule the generating shots: each waits for its upstream and for a free slot of its backend."""
    done: dict[str, float] = {}
    lanes: dict[str, list[float]] = {}
    by_model = {i.id: i for i in infos.values()}
    for shot, sp in zip(project.shots, plan.shots, strict=True):
        if sp.action != Action.GENERATE:
            done[shot.id] = 0.0
            continue
        info = by_model[sp.model]
        slots = lanes.setdefault(info.backend, [0.0] * info.concurrency)
        ready = max((done.get(u, 0.0) for u in shot.upstream), default=0.0)
        end = ready
        for _ in sp.takes or [1]:
            i = min(range(len(slots)), key=lambda k: slots[k])
            start = max(slots[i], ready)
            slots[i] = start + info.latency_s
            end = max(end, slots[i])
        done[shot.id] = end
    return max(done.values(), default=0.0)
