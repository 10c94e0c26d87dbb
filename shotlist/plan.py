"""The plan: what a build would do about each shot, and why.

``make_plan`` compares every shot's request (shotlist.request) with the lock, the store, the journal
of jobs in flight and the ledger of jobs that ended without a take, and says, per shot, ``pinned``
(the lock's take is this recipe's), ``cached`` (a take of this recipe is in the store: free),
``generate`` (with the reasons, as sentences; a job an interrupted build submitted is resumed, never
paid again), ``skip`` (``--only`` leaves it out), ``missing`` (pinned, but the clip is in no store),
or one of the endings a plain build does not pay for again unasked — ``refused`` (moderation said
no), ``lost`` (a paid job whose clip can never be had), ``unknown`` (a submit whose answer was lost)
— each with the one command that moves it on. Nothing here writes or spends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shotlist.catalog.registry import ModelInfo, Models
from shotlist.errors import ShotlistError, did_you_mean
from shotlist.journal import Journal, JournalEntry
from shotlist.ledger import JobRecord, Ledger, Outcome
from shotlist.load import Project
from shotlist.lock import Lock, LockEntry
from shotlist.prompt import save_prompts
from shotlist.request import Waiting, model_of, shot_spec
from shotlist.resolve import ResolvedShot
from shotlist.spec import ShotSpec
from shotlist.store import Store, Take


class Action(StrEnum):
    """What a build does about one shot."""

    PINNED = "pinned"  # the lock pins a take of exactly this recipe, and its clip is in the store
    CACHED = "cached"  # a take of this recipe is in the store: pinned for free
    GENERATE = "generate"
    SKIP = "skip"  # left out by --only
    MISSING = "missing"  # pinned, but the clip is in no store: not regenerated unasked
    # Endings a plain build does not pay for again unasked (`--regenerate ID` does):
    REFUSED = "refused"  # the provider's moderation refused this recipe
    LOST = "lost"  # a paid job of this recipe ran but its clip can never be had
    UNKNOWN = "unknown"  # a submit of this recipe whose answer was lost: it may be running and billed


HELD = (Action.REFUSED, Action.LOST, Action.UNKNOWN)


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
    unknown: list[int] = field(default_factory=list)  # takes whose lost submit is looked up (or resent free)
    abandon: list[int] = field(default_factory=list)  # takes whose lost submit --regenerate sends anew
    record: JobRecord | None = None  # the ending that holds a refused / lost / unknown shot
    shares: str | None = None  # an earlier shot sends the same request: this one pins its clip
    cost: float | None = 0.0  # estimated dollars of the new takes (None: unknown)
    again: float | None = 0.0  # estimated dollars of one new take (what `--regenerate` costs)
    free: bool = False  # made locally: nothing is paid, so nothing is held back
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
            "record": self.record.to_json() if self.record else None,
            "shares": self.shares,
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
    def held(self) -> list[ShotPlan]:
        """Shots a plain build does not pay for again unasked: refused, lost, or sent with no answer."""
        return [s for s in self.shots if s.action in HELD]

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
    """Decide, for every shot, pinned / cached / generate / skip / missing / a held ending, with reasons,
    cost and time.

    Spends nothing. A shot whose pinned clip is in no store is ``missing`` (its cost is what
    regenerating would be), or ``generate`` with ``regenerate_missing``.
    """
    ids = [s.id for s in project.shots]
    only_set = _known(set(only or ()), ids, "--only")
    again = _known(set(regenerate or ()), ids, "--regenerate")
    history = History(store, journal or Journal(store.dir), Ledger(store.dir))
    infos: dict[str, ModelInfo] = {}
    plans: dict[str, ShotPlan] = {}

    for shot in project.shots:
        model_id = model_of(shot, model)
        info = infos.get(model_id) or infos.setdefault(model_id, models.info(model_id))
        sp = plans[shot.id] = _plan_shot(
            project, shot, info, lock.get(shot.id), history, plans, takes, shot.id in again
        )
        if sp.action == Action.MISSING and regenerate_missing:
            sp.action = Action.GENERATE
        if sp.action in (Action.GENERATE, Action.MISSING):
            paid = len(sp.takes) - len(sp.resume)  # a resumed job was paid for by the build that submitted it
            sp.cost = None if sp.again is None else round(sp.again * paid, 4)
            if only_set and shot.id not in only_set:
                sp.action = Action.SKIP
                sp.reasons = [f"not in --only (it would generate: {sp.summary()})"]
                sp.cost = 0.0
    _share_identical(plans.values())
    plan = Plan(project=project, shots=[plans[i] for i in ids])
    plan.seconds = _wall_time(project, plan, infos)
    store.hashes.save()
    save_prompts(project.root)
    return plan


def _plan_shot(
    project: Project,
    shot: ResolvedShot,
    info: ModelInfo,
    entry: LockEntry | None,
    history: History,
    plans: dict[str, ShotPlan],
    takes: int | None,
    new_take: bool,
) -> ShotPlan:
    """One shot's plan: its request when it is known (else what it waits for), then the decision."""
    sp = ShotPlan(
        shot=shot.id,
        action=Action.GENERATE,
        model=info.id,
        backend=info.backend,
        seconds=info.latency_s,
        again=info.estimate(shot.duration, project.board.output.resolution, bool(shot.audio.native)),
        free=info.free,
    )
    # the storyboard's `takes:` is kept topped up; --takes applies to what is generated
    wanted = shot.takes
    try:
        sp.spec = shot_spec(project, shot, info, history.store, lambda up: plans[up].clip)
    except Waiting as w:
        sp.waits_for = w.upstream
        sp.reasons = ["new shot"] if entry is None else [f"upstream shot {w.upstream} changes"]
        sp.takes = list(range(1, ((takes or 1) if new_take else max(wanted, takes or 0)) + 1))
        return sp
    decide(sp, shot, sp.spec, entry, history, wanted, new_take, takes, info)
    return sp


def _known(names: set[str], ids: list[str], option: str) -> set[str]:
    unknown = sorted(names - set(ids))
    if unknown:
        raise ShotlistError(
            f"{option}: no shot '{unknown[0]}'{did_you_mean(unknown[0], ids)}; "
            f"the shots are: {', '.join(ids)}"
        )
    return names


@dataclass
class History:
    """What this project has of each recipe: stored takes, jobs in flight (journal), endings (ledger)."""

    store: Store
    journal: Journal
    ledger: Ledger
    _flight: dict[str, list[JournalEntry]] | None = None

    def in_flight(self, key: str) -> list[JournalEntry]:
        """The recipe's journaled jobs whose takes are not stored (read once per plan)."""
        if self._flight is None:
            self._flight = self.journal.by_key()
        stored = self.store.entry(key)
        return [j for j in self._flight.get(key, []) if stored is None or stored.take(j.take) is None]

    def used(self, key: str) -> int:
        """The highest take number the recipe has used: stored, in flight or ended without a take."""
        numbers = [self.store.next_take(key) - 1]
        numbers += [j.take for j in self.in_flight(key)] + [r.take for r in self.ledger.records(key)]
        return max(numbers)


def decide(
    sp: ShotPlan,
    shot: ResolvedShot,
    spec: ShotSpec,
    entry: LockEntry | None,
    history: History,
    wanted: int,
    new_take: bool,
    takes: int | None,
    info: ModelInfo,
) -> None:
    """Fill ``sp`` with what a build does about a shot whose request is ``spec``, and why.

    The build calls it again for a chained shot once its upstream clip is known: one rule, one place.
    """
    store, key = history.store, spec.key
    flight = history.in_flight(key)
    # A submit whose answer was lost is looked up where the backend can, or resent where it is free;
    # otherwise it is held until the user sends it again (--regenerate).
    lookup = info.free or info.recovers
    resume = [j for j in flight if j.job or lookup]
    stored = store.takes(key)
    pinned_here = entry is not None and entry.key == key
    if not new_take and pinned_here and entry is not None and store.has_object(entry.clip):
        if wanted == 1 or len(stored) >= wanted:
            take = next((t for t in stored if t.sha256 == entry.clip), None)
            sp.action, sp.take = Action.PINNED, take or _take_from_lock(entry, store)
            _finish_in_flight(sp, spec, resume, history)
            return
    if not new_take and pinned_here and entry is not None and not store.has_object(entry.clip):
        _missing(sp, entry, history.used(key) + 1)
        return
    if new_take:
        count = takes or 1
        sp.reasons = ["new take requested" if count == 1 else f"{count} new takes requested"]
        sp.abandon = [j.take for j in flight if j not in resume]
    elif len(stored) < wanted and stored:
        count = wanted - len(stored)
        sp.reasons = [f"{count} more take{'s' if count > 1 else ''} requested (takes: {wanted})"]
    elif stored:
        sp.action = Action.CACHED
        sp.take = next(
            (t for t in stored if pinned_here and entry is not None and t.sha256 == entry.clip), stored[0]
        )
        why = why_changed(shot, spec, entry, store) if entry is not None and not pinned_here else []
        sp.reasons = why + [f"take {sp.take.take} of this recipe is in the store: reused, free"]
        _finish_in_flight(sp, spec, resume, history)
        return
    elif _held(sp, spec, flight, resume, history):
        return
    else:
        count = max(wanted, takes or 0)
        sp.reasons = why_changed(shot, spec, entry, store) + _earlier_endings(sp, history.ledger.records(key))
        if count > 1:
            sp.reasons.append(f"{count} takes requested")
    _number(sp, spec, count, resume, history)


def _missing(sp: ShotPlan, entry: LockEntry, take: int) -> None:
    sp.action = Action.MISSING
    sp.take = entry.as_take()
    sp.reasons = [  # what the remote store has of it is for the caller to add (only it asked)
        f"its pinned clip (take {entry.take}, {entry.clip[:8]}) is missing: not in .shotlist/",
        "regenerating makes a new clip that will differ from the one the lock pins "
        "(`shotlist build --regenerate-missing` pays for it)",
    ]
    sp.takes = [take]


def _number(sp: ShotPlan, spec: ShotSpec, count: int, resume: list[JournalEntry], history: History) -> None:
    """The takes to make: first the jobs in flight (never paid twice), then new numbers after every used one."""
    sp.takes, sp.resume, sp.unknown = [], {}, []
    for j in resume:
        sp.takes.append(j.take)
        if j.job:
            sp.resume[j.take] = j.job
            sp.reasons.append(
                f"take {j.take} resumes job {j.job}, submitted by an interrupted build (already paid)"
            )
        else:
            sp.unknown.append(j.take)
            sp.reasons.append(
                f"take {j.take}: the answer to its submit was lost; it is looked up at {spec.backend} "
                "before anything is sent again"
            )
    for n in sp.abandon:
        sp.reasons.append(
            f"take {n}'s submit had no answer and may be billed; it stays in the shot's history "
            "(`shotlist takes`) and a new take is sent"
        )
    first = history.used(spec.key) + 1
    sp.takes += list(range(first, first + max(0, count - len(sp.takes))))


def _finish_in_flight(sp: ShotPlan, spec: ShotSpec, resume: list[JournalEntry], history: History) -> None:
    """A pinned or cached shot with jobs in flight (a killed `build --regenerate`): finish them, pay nothing."""
    if resume:
        sp.action, sp.take, sp.reasons = Action.GENERATE, None, []
        _number(sp, spec, len(resume), resume, history)


def _held(
    sp: ShotPlan, spec: ShotSpec, flight: list[JournalEntry], resume: list[JournalEntry], history: History
) -> bool:
    """Hold a recipe whose last job ended refused, lost (paid) or unanswered: True when held."""
    waiting = [j for j in flight if j not in resume]
    records = history.ledger.records(spec.key)
    if waiting:
        j = waiting[0]
        sp.action = Action.UNKNOWN
        why = j.why_unknown
        sp.record = JobRecord.of(j, Outcome.UNKNOWN, why, sp.again, True, j.time)
    elif records and records[-1].outcome is Outcome.REFUSED:
        sp.action, sp.record = Action.REFUSED, records[-1]
    elif records and records[-1].outcome in (Outcome.LOST, Outcome.UNKNOWN) and not sp.free:
        sp.action, sp.record = Action(records[-1].outcome.value), records[-1]
    else:
        return False
    sp.reasons = [sp.record.text(sp.again, sp.free, full=False)]
    return True


def _earlier_endings(sp: ShotPlan, records: list[JobRecord]) -> list[str]:
    """Why a recipe with earlier endings is generated again (a failure, a free clip lost)."""
    if not records:
        return []
    last = records[-1]
    if last.outcome is Outcome.FAILED:
        return [f"take {last.take} failed at {last.backend} ({last.message}); trying again"]
    return [f"take {last.take}'s clip was lost ({last.message}); made again, free"]


def _share_identical(plans: Iterable[ShotPlan]) -> None:
    """Shots that send the same request share one generation: the later ones pin the first one's clip."""
    first: dict[str, str] = {}
    for sp in plans:
        if sp.action != Action.GENERATE or sp.key is None:
            continue
        if sp.key not in first:
            first[sp.key] = sp.shot
            continue
        sp.shares, sp.takes, sp.resume, sp.cost = first[sp.key], [], {}, 0.0
        sp.reasons.append(f"sends the same request as {first[sp.key]}: pins its clip, free")


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
    out = [
        sentence
        for fields, sentence in (
            (("salt",), "shotlist's key recipe changed (a new shotlist version)"),
            (("model", "backend"), f"model changed ({old.get('model')} → {new['model']})"),
            (("mode",), f"mode changed ({old.get('mode')} → {new['mode']})"),
            (("prompt",), "prompt changed"),
            (("negative",), "negative prompt changed"),
            (("duration",), f"duration changed ({_num(old.get('duration'))} → {spec.duration:g} s)"),
            (
                ("size", "aspect"),
                f"output size changed ({_size(old.get('size'))} → {spec.width}x{spec.height})",
            ),
            (("fps",), f"frame rate changed ({old.get('fps')} → {spec.fps} fps)"),
            (("seed",), "seed changed"),
            (("audio",), f"native audio switched {'on' if spec.audio else 'off'}"),
        )
        if any(old.get(name) != new[name] for name in fields)
    ]
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


def pin_found(plan: Plan, lock: Lock) -> bool:
    """Pin in ``lock`` the takes the plan found without generating (pinned or cached); whether it changed."""
    changed = False
    for sp in plan.shots:
        if sp.clip and sp.take and sp.key and sp.action in (Action.PINNED, Action.CACHED):
            entry = LockEntry.pinning(sp.shot, sp.key, sp.take)
            if lock.get(sp.shot) != entry:
                lock.entries[sp.shot] = entry
                changed = True
    return changed
