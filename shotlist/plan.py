"""Specs and the plan: what each shot asks a model for, and what a build would do about it, and why.

``shot_spec`` turns a resolved shot into its ShotSpec (prompt rendered in the model's dialect, the
output size and rate, inputs by content hash); ``make_plan`` compares every spec with the lock and
the store and says, per shot, ``pinned`` (the lock's take is this recipe's), ``cached`` (a take of
this recipe is in the store: free), ``generate`` (with the reasons, as sentences) or ``skip``
(``--only`` leaves it out), with the estimated cost and time. Nothing here writes or spends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shotlist.errors import ShotlistError
from shotlist.lock import Lock, LockEntry
from shotlist.media import ClipFacts
from shotlist.resolve import ImageInfo, Project, ResolvedShot
from shotlist.spec import MediaInput, ShotSpec
from shotlist.store import Store, Take
from shotlist.storyboard import FrameRef

if TYPE_CHECKING:
    from shotlist.backends.base import Backend
    from shotlist.journal import Journal
    from shotlist.prompt import RenderedPrompt

LOCAL_MODEL = "animatic"  # cards are drawn locally whatever the shot's model
CAPTION_WORDS = 12


# --- models: what the plan and the scheduler need to know ------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """A model as the engine sees it: which backend runs it, how many jobs at once, what it costs."""

    id: str
    backend: str  # the backend's name, recorded in the store and the lock
    concurrency: int
    latency_s: float
    estimate: Callable[[float, str, bool], float | None]  # (seconds, output resolution, audio) → dollars
    free: bool = False  # a local render: a submit whose answer was lost can simply be sent again


class Models(Protocol):
    """Where the engine finds models and their backends: the catalog, or a test's fake."""

    def info(self, model_id: str) -> ModelInfo: ...

    def backend(self, model_id: str, store_dir: Path) -> Backend: ...


class CatalogModels:
    """The models of shotlist's catalog (shotlist.catalog)."""

    def info(self, model_id: str) -> ModelInfo:
        from shotlist.catalog import estimate_cost, get_model

        entry = get_model(model_id)
        return ModelInfo(
            id=entry.id,
            backend=entry.provider or entry.id,
            concurrency=max(1, entry.concurrency),
            latency_s=entry.latency_s,
            estimate=lambda seconds, resolution, audio: estimate_cost(
                entry, seconds, entry.resolution_for(resolution), audio
            ),
            free=entry.local,
        )

    def backend(self, model_id: str, store_dir: Path) -> Backend:
        from shotlist.catalog import backend_for, get_model

        return backend_for(get_model(model_id), store_dir)


# --- specs -----------------------------------------------------------------------------------------


def model_of(shot: ResolvedShot, override: str | None) -> str:
    """The model that makes this shot: cards are always drawn locally; ``--model`` overrides the rest."""
    if shot.mode == "card":
        return LOCAL_MODEL
    return override or shot.model


class Waiting(Exception):
    """The shot starts from a frame of an upstream clip that this build has yet to make."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.upstream = upstream


def shot_spec(
    project: Project,
    shot: ResolvedShot,
    model: ModelInfo,
    store: Store,
    upstream_clip: Callable[[str], str | None],
    frame_path: Callable[[str, str], Path] | None = None,
) -> ShotSpec:
    """The exact request for one shot (take 1); raise Waiting when an upstream clip is not known yet.

    ``upstream_clip(shot_id)`` is the hash of the clip an upstream shot will have in this build (None:
    it is being generated). ``frame_path(clip, selector)`` extracts the frame a backend reads; without
    it (planning) the input carries no path — the key needs only the clip's hash and the selector.
    """
    from shotlist.prompt import render_prompt

    if shot.model != model.id and shot.mode != "card":
        shot = replace(shot, model=model.id)  # the prompt speaks the dialect of the model that will read it
    rendered = render_prompt(project, shot)
    out = project.board.output
    width, height = out.size()
    inputs: list[MediaInput] = []
    for role, source in (("image", shot.image), ("end_image", shot.end_image)):
        if isinstance(source, ImageInfo):
            inputs.append(_image_input(role, source, store))
        elif isinstance(source, FrameRef):
            clip = upstream_clip(source.shot)
            if clip is None:
                raise Waiting(source.shot)
            selector = source.frame if isinstance(source.frame, str) else f"{float(source.frame):g}"
            path = str(frame_path(clip, selector)) if frame_path else ""
            inputs.append(MediaInput(role=role, sha256=clip, frame=selector, upstream=source.shot, path=path))
    for ref in shot.refs:
        for image in ref.images:
            inputs.append(replace(_image_input("ref", image, store), name=ref.name))
    return ShotSpec(
        shot=shot.id,
        backend=model.backend,
        model=model.id,
        mode=shot.mode,
        prompt=rendered.text if rendered else "",
        negative=rendered.negative if rendered else None,
        duration=shot.duration,
        width=width,
        height=height,
        aspect=out.aspect,
        fps=out.fps,
        seed=shot.seed,
        audio=bool(shot.audio.native),
        inputs=tuple(inputs),
        params=backend_params(model.backend, shot, rendered),
    )


def _image_input(role: str, image: ImageInfo, store: Store) -> MediaInput:
    return MediaInput(
        role=role,
        sha256=store.hashes.digest(image.path),
        width=image.width,
        height=image.height,
        path=str(image.path),
        name=image.rel,
    )


def backend_params(backend: str, shot: ResolvedShot, rendered: RenderedPrompt | None) -> dict[str, Any]:
    """Backend-specific request fields (part of the key). The animatic draws from the shot's words."""
    if shot.mode == "card" and shot.card is not None:
        c = shot.card
        return {
            "card": {"title": c.title, "subtitle": c.subtitle, "background": c.background, "color": c.color}
        }
    # Every backend gets the camera move: Kling maps it to camera_control, Seedance's static to
    # camera_fixed; the others read it from the prompt, where the dialect already wrote it.
    params: dict[str, Any] = {"camera": {"move": shot.camera.move, "speed": shot.camera.speed}}
    if backend != "animatic":
        return params
    # The animatic labels its clip with the shot id, so two shots with the same words get their own
    # (free) clips rather than one labelled with the other's id.
    params["label"] = shot.id
    if shot.subject:
        params["title"] = shot.subject
    if shot.action:
        params["subtitle"] = shot.action
    if rendered is not None and rendered.text:
        words = rendered.text.split()
        params["caption"] = " ".join(words[:CAPTION_WORDS]) + ("…" if len(words) > CAPTION_WORDS else "")
    d = shot.audio.dialogue
    if d is not None:
        params["dialogue"] = f'{d.who}{f" ({d.how})" if d.how else ""}: "{d.says}"'
    return params


# --- the plan --------------------------------------------------------------------------------------

PINNED, CACHED, GENERATE, SKIP, MISSING = "pinned", "cached", "generate", "skip", "missing"


@dataclass
class ShotPlan:
    """What a build does about one shot, and why."""

    shot: str
    action: str  # pinned | cached | generate | skip | missing (pinned, but the clip is nowhere: not regenerated unasked)
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
        return self.take.sha256 if self.take and self.action in (PINNED, CACHED, MISSING) else None

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
        return [s for s in self.shots if s.action == GENERATE]

    @property
    def missing(self) -> list[ShotPlan]:
        """Shots whose pinned clip is in no store: a build leaves them out unless told to regenerate them."""
        return [s for s in self.shots if s.action == MISSING]

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
            shot=shot.id, action=GENERATE, model=model_id, backend=info.backend, seconds=info.latency_s
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
            if sp.action == MISSING and regenerate_missing:
                sp.action = GENERATE
        if sp.action in (GENERATE, MISSING):
            per_take = info.estimate(shot.duration, resolution, bool(shot.audio.native))
            paid = len(sp.takes) - len(sp.resume)  # a resumed job was paid for by the build that submitted it
            sp.cost = None if per_take is None else round(per_take * paid, 4)
            if only_set and shot.id not in only_set:
                sp.action = SKIP
                sp.reasons = [f"not in --only (it would generate: {sp.summary()})"]
                sp.cost = 0.0
    plan = Plan(project=project, shots=[plans[i] for i in ids])
    plan.seconds = _wall_time(project, plan, infos)
    store.hashes.save()
    return plan


def _known(names: set[str], ids: list[str], option: str) -> set[str]:
    unknown = sorted(names - set(ids))
    if unknown:
        from shotlist.resolve import did_you_mean

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
            sp.action, sp.take = PINNED, take or _take_from_lock(entry, store)
            return
    existing = store.takes(key)
    if not new_take and entry is not None and entry.key == key and not store.has_object(entry.clip):
        sp.action = MISSING
        sp.take = Take(
            take=entry.take,
            sha256=entry.clip,
            shot=entry.shot,
            backend=entry.backend,
            model=entry.model,
            job=entry.job,
            cost=entry.cost,
            cost_is_estimate=entry.cost_is_estimate,
            time="",
            facts=ClipFacts(duration=0.0),
        )
        sp.reasons = [
            f"its pinned clip (take {entry.take}, {entry.clip[:12]}) is missing: not in .shotlist/ nor in "
            "the remote store; regenerating makes a new clip that will differ from the one the lock pins "
            "(`shotlist build --regenerate-missing` pays for it)"
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
        sp.action = CACHED
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

    return Take(
        take=entry.take,
        sha256=entry.clip,
        shot=entry.shot,
        backend=entry.backend,
        model=entry.model,
        job=entry.job,
        cost=entry.cost,
        cost_is_estimate=entry.cost_is_estimate,
        time="",
        facts=probe(store.object_path(entry.clip)),
    )


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
        if sp.action != GENERATE:
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
