"""The model catalog: what each model that shotlist can drive accepts, and what it costs.

One YAML file per provider lives beside this module. A storyboard names a model by its catalog id
(``animatic``, ``fal/kling-2.1-standard``); at load, a shot that asks a model for something it cannot
do is an error that lists what is allowed — never silently coerced. Prices are data with a source
and a date, because price tables go stale faster than code.
"""

from __future__ import annotations

import functools
import importlib
import math
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shotlist.errors import Loc, Problem, ShotlistError

if TYPE_CHECKING:
    from shotlist.backends.base import Backend
    from shotlist.catalog.registry import ShotParams
    from shotlist.load import Project
    from shotlist.resolve import ResolvedShot

LOCAL_MODES = ("card",)  # rendered locally by the animatic backend, whatever the model
#: How far the aspect of a size a model is asked for may be from the output's (the edit crops the rest).
SIZE_ASPECT_TOLERANCE = 0.01


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DurationRange(_Entry):
    min: float
    max: float
    step: float = 1.0

    def allows(self, seconds: float) -> bool:
        if not self.min - 1e-9 <= seconds <= self.max + 1e-9:
            return False
        n = (seconds - self.min) / self.step
        return abs(n - round(n)) < 1e-6

    def __str__(self) -> str:
        return f"{self.min:g}–{self.max:g} s in steps of {self.step:g} s"


class ImageLimits(_Entry):
    """How input images travel to the provider, and the limits they must fit."""

    transport: Literal["path", "data_uri", "base64", "upload", "multipart", "url"] = "data_uri"
    max_bytes: int = 10_000_000
    min_px: int = 64
    max_px: int = 4096
    formats: list[str] = Field(default_factory=lambda: ["PNG", "JPEG", "WEBP"])


class Price(_Entry):
    """Price per second of output by resolution (``"*"``: any), with audio surcharges, a source and a date."""

    per_second: dict[str, float] = Field(default_factory=dict)
    audio_per_second: dict[str, float] = Field(default_factory=dict)  # replaces per_second when audio is on
    base: float = 0.0  # a fixed price for the first ``base_seconds``
    base_seconds: float = 0.0
    currency: Literal["USD"] = "USD"
    source: str = ""
    date: str = ""


class ModelEntry(_Entry):
    """One model as a storyboard can use it."""

    id: str
    name: str
    provider: str = ""
    backend: str = ""  # "module:Class", filled from the provider
    shot_params: str = ""  # "module:function" giving the backend's own keyed fields, filled from the provider
    env: list[str] = Field(default_factory=list)  # environment variables holding credentials (names only)
    concurrency: int = 4
    endpoint: dict[str, str] = Field(default_factory=dict)  # mode → provider-specific endpoint or model name
    dialect: str = "generic"
    modes: list[Literal["txt2vid", "img2vid", "ref2vid"]]
    durations: list[float] | DurationRange
    duration_format: str = "{seconds}"  # how a duration goes on the wire: "{seconds}", "{seconds}s", "int"
    resolutions: list[str]
    aspects: list[str] = Field(default_factory=lambda: ["16:9", "9:16", "1:1"])
    fps: list[int] = Field(default_factory=lambda: [24])
    prompt_chars: int = 2000
    negative: bool = False
    seed: bool = False
    audio: bool | Literal["always"] = False
    first_last: bool = False
    refs: int = 0
    image: ImageLimits = Field(default_factory=ImageLimits)
    price: Price = Field(default_factory=Price)
    latency_s: float = 120.0  # typical wall time of one job
    status: Literal["active", "shutdown", "preview"] = "active"
    status_message: str = ""
    notes: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def local(self) -> bool:
        return not self.env and self.price.per_second == {} and self.price.base == 0

    def allows_duration(self, seconds: float) -> bool:
        if isinstance(self.durations, DurationRange):
            return self.durations.allows(seconds)
        return any(abs(seconds - d) < 1e-6 for d in self.durations)

    def durations_text(self) -> str:
        if isinstance(self.durations, DurationRange):
            return str(self.durations)
        return ", ".join(f"{d:g}" for d in self.durations) + " s"

    def wire_duration(self, seconds: float) -> Any:
        """The duration as this provider's API wants it (``5``, ``"5"``, ``"5s"``, ``"4s"``…)."""
        if self.duration_format == "int":
            return int(round(seconds))
        if self.duration_format == "float":
            return float(seconds)
        return self.duration_format.format(seconds=f"{seconds:g}")

    def size_for(self, width: int, height: int) -> tuple[int, int] | None:
        """The frame size to ask this model for, for an output of ``width``×``height``.

        A model whose sizes must be multiples of ``extra.size_multiple`` (up to ``extra.max_side``) is
        asked for the allowed size nearest the output's area whose aspect is within 1 % of the
        output's: the edit scales it, and the clip is never rejected for its shape after being paid
        for. None when no allowed size has the shape. Other models get the output size.
        """
        multiple = int(self.extra.get("size_multiple", 0))
        if not multiple:
            return width, height
        longest = int(self.extra.get("max_side", 2048))
        aspect = width / height
        best: tuple[float, tuple[int, int]] | None = None
        for h in range(multiple, longest + 1, multiple):
            w = round(h * aspect / multiple) * multiple
            if not multiple <= w <= longest or abs(w / h - aspect) > SIZE_ASPECT_TOLERANCE * aspect:
                continue
            distance = abs(math.log(w * h / (width * height)))
            if best is None or distance < best[0]:
                best = (distance, (w, h))
        return best[1] if best else None

    def resolution_for(self, wanted: str) -> str:
        """The resolution to generate at for an output resolution: itself if allowed, else the nearest above."""
        if wanted in self.resolutions or "*" in self.resolutions:
            return wanted

        def height(r: str) -> int:
            return int(r.rstrip("pP")) if r.rstrip("pP").isdigit() else 0

        above = sorted((r for r in self.resolutions if height(r) >= height(wanted)), key=height)
        return above[0] if above else max(self.resolutions, key=height)


class _Provider(_Entry):
    name: str
    backend: str
    shot_params: str = ""
    env: list[str] = Field(default_factory=list)
    concurrency: Annotated[int, Field(ge=1)] = 4
    docs: str = ""


class _File(_Entry):
    provider: _Provider
    models: list[dict[str, Any]]


class CatalogError(ShotlistError):
    """The catalog data itself is wrong (a packaging error, not a user's)."""


@functools.cache
def catalog() -> dict[str, ModelEntry]:
    """Every model in the catalog by id, read from the YAML files beside this module."""
    out: dict[str, ModelEntry] = {}
    for res in sorted(resources.files(__name__).iterdir(), key=lambda r: r.name):
        if res.name.endswith(".yaml"):
            for entry in _file(res.name).values():
                if entry.id in out:
                    raise CatalogError(f"catalog: model id '{entry.id}' appears twice")
                out[entry.id] = entry
    return out


@functools.cache
def _file(name: str) -> dict[str, ModelEntry]:
    """The models of one catalog file by id (empty when there is no such file)."""
    res = resources.files(__name__) / name
    if not res.is_file():
        return {}
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
        f = _File.model_validate(yaml.load(res.read_text(encoding="utf-8"), Loader=loader))
        out = {}
        for raw in f.models:
            data = {
                "provider": f.provider.name,
                "backend": f.provider.backend,
                "shot_params": f.provider.shot_params,
                "env": f.provider.env,
                "concurrency": f.provider.concurrency,
                **raw,
            }
            entry = ModelEntry.model_validate(data)
            out[entry.id] = entry
        return out
    except (yaml.YAMLError, ValueError) as exc:
        raise CatalogError(f"catalog file {name} is invalid: {exc}") from exc


def find(model_id: str) -> ModelEntry | None:
    """The catalog entry of a model id, or None. A model ``fal/x`` is looked for in ``fal.yaml`` first:
    a build reads only the files of the providers it uses (parsing all of them was ~30 ms a command)."""
    entry = _file(f"{model_id.split('/')[0]}.yaml").get(model_id)
    return entry if entry is not None else catalog().get(model_id)


def get_model(model_id: str) -> ModelEntry:
    """The catalog entry of a model id; ShotlistError with 'did you mean' if unknown."""
    entry = find(model_id)
    if entry is not None:
        return entry
    from shotlist.errors import did_you_mean

    raise ShotlistError(
        f"no model '{model_id}' in the catalog{did_you_mean(model_id, list(catalog()))}; "
        "`shotlist models` lists them"
    )


def estimate_cost(entry: ModelEntry, duration: float, resolution: str, audio: bool = False) -> float:
    """The catalog's estimate in US dollars for one clip (0 for local models)."""
    p = entry.price
    table = p.audio_per_second if audio and p.audio_per_second else p.per_second
    rate = table.get(resolution, table.get("*", 0.0))
    billable = max(duration - p.base_seconds, 0.0) if p.base else duration
    return round(p.base + rate * billable, 4)


def shot_params_for(entry: ModelEntry) -> ShotParams | None:
    """The function that gives this model's backend its own keyed fields for a shot (None: it has none)."""
    if not entry.shot_params:
        return None
    module, _, name = entry.shot_params.partition(":")
    hook: ShotParams = getattr(importlib.import_module(module), name)
    return hook


def backend_for(entry: ModelEntry, workdir: Path) -> Backend:
    """A backend instance for this model's provider; ``workdir`` is the project's .shotlist folder."""
    module, _, cls = entry.backend.partition(":")
    if not module or not cls:
        raise CatalogError(f"catalog: model '{entry.id}' names no backend")
    factory = getattr(importlib.import_module(module), cls)
    backend: Backend = factory(workdir)
    return backend


def _shot_problems(shot: ResolvedShot, entry: ModelEntry, project: Project) -> list[Problem]:
    """What ``shot`` asks of its model that the model cannot do, each at the field that asks it."""
    loc: Loc = ("shots", shot.index)
    if entry.status == "shutdown":
        return [
            Problem(
                loc + ("model",),
                f"{entry.name} is shut down: {entry.status_message}",
                "choose another model (`shotlist models`)",
            )
        ]
    out = _unsupported(shot, entry, loc)
    out += _size_problems(entry, project, loc)
    aspect = project.board.output.aspect
    if aspect not in entry.aspects and "*" not in entry.aspects:
        out.append(
            Problem(
                loc + ("model",),
                f"{entry.id} does not make {aspect} video; it makes {', '.join(entry.aspects)}",
                "choose another model or output aspect",
            )
        )
    # A frame rate the model does not make is no problem: the edit conforms every clip to the output's.
    return out


def _unsupported(shot: ResolvedShot, entry: ModelEntry, loc: Loc) -> list[Problem]:
    """What the shot uses that the model does not do: its mode, duration, seed, negative prompt, native
    audio, last frame, number of references."""
    name = entry.id
    n_refs = sum(len(r.images) for r in shot.refs)
    # (the shot asks what the model cannot do, the field that asks it, what is wrong, the fix)
    checks: list[tuple[bool, Loc, str, str]] = [
        (
            shot.mode not in entry.modes,
            ("mode",),
            f"{name} does not do {shot.mode}; it does {', '.join(entry.modes)}",
            "change the mode or choose a model that does it (`shotlist models`)",
        ),
        (
            not entry.allows_duration(shot.duration),
            ("duration",),
            f"{name} makes clips of {entry.durations_text()}, not {shot.duration:g} s",
            "pick an allowed duration and trim the clip in the edit (trim:) if you need it shorter",
        ),
        (
            shot.seed is not None and not entry.seed,
            ("seed",),
            f"{name} ignores seeds",
            "remove seed: (its takes are not reproducible)",
        ),
        (
            bool(shot.negative) and not entry.negative,
            ("negative",),
            f"{name} takes no negative prompt",
            "remove negative: or say what you want instead in the prompt",
        ),
        (
            bool(shot.audio.native) and not entry.audio,
            ("audio", "native"),
            f"{name} makes no native audio",
            "remove audio.native, or choose a model with audio (`shotlist models`)",
        ),
        (
            shot.end_image is not None and not entry.first_last,
            ("end_image",),
            f"{name} cannot pin a last frame",
            "remove end_image: or choose a model with first+last frame support",
        ),
        (
            shot.mode == "ref2vid" and n_refs > entry.refs,
            ("refs",),
            f"{name} takes at most {entry.refs} reference images, this shot has {n_refs}",
            "use fewer references",
        ),
    ]
    return [Problem(loc + field, message, fix) for asks, field, message, fix in checks if asks]


def _size_problems(entry: ModelEntry, project: Project, loc: Loc) -> list[Problem]:
    """A model that makes no frame size with the output's shape: refused before anything is paid."""
    width, height = project.board.output.size()
    if entry.size_for(width, height) is not None:
        return []
    return [
        Problem(
            loc + ("model",),
            f"{entry.id} makes frames in multiples of {entry.extra.get('size_multiple')} px up to "
            f"{entry.extra.get('max_side', 2048)} px, and none has the shape of the {width}x{height} "
            "output; its clips could not be used",
            "choose an output resolution and aspect it can make (16:9, 9:16, 1:1, 4:5, 21:9 all work), "
            "or another model",
        )
    ]


def check_project(project: Project) -> list[Problem]:
    """Problems of shots that ask their model for something it cannot do."""
    from shotlist.errors import did_you_mean

    problems: list[Problem] = []
    for shot in project.shots:
        if shot.mode in LOCAL_MODES:
            continue
        entry = find(shot.model)
        if entry is None:
            problems.append(
                Problem(
                    ("shots", shot.index, "model"),
                    f"no model '{shot.model}' in the catalog{did_you_mean(shot.model, list(catalog()))}",
                    "`shotlist models` lists the models and what each can do",
                )
            )
            continue
        problems.extend(_shot_problems(shot, entry, project))
    return problems
