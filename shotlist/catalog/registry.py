"""The model registry the engine uses: what it needs to know of a model, and where it finds one.

``Models`` is the one seam between the engine and the catalog: ``CatalogModels`` serves the
catalog's models; tests pass a fake registry (``shotlist.backends.fake.FakeModels``) instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from shotlist.backends.base import Backend
    from shotlist.resolve import ResolvedShot

#: A backend's own request fields for a shot, beyond the common ones: (shot, rendered prompt) → params.
#: They are part of the key, so the same shot must always give the same fields.
ShotParams: TypeAlias = "Callable[[ResolvedShot, str], dict[str, Any]]"


@dataclass(frozen=True)
class ModelInfo:
    """A model as the engine sees it: which backend runs it, how many jobs at once, what it costs."""

    id: str
    backend: str  # the backend's name, recorded in the store and the lock
    concurrency: int
    latency_s: float
    estimate: Callable[[float, str, bool], float | None]  # (seconds, output resolution, audio) → dollars
    free: bool = False  # a local render: a submit whose answer was lost can simply be sent again
    shot_params: ShotParams | None = None  # the backend's own keyed fields (the catalog's ``shot_params``)
    recovers: bool = False  # its backend can look up a submit whose answer was lost (Recoverable)


class Models(Protocol):
    """Where the engine finds models and their backends: the catalog, or a test's fake."""

    def info(self, model_id: str) -> ModelInfo: ...

    def backend(self, model_id: str, store_dir: Path) -> Backend: ...


class CatalogModels:
    """The models of shotlist's catalog (shotlist.catalog)."""

    def info(self, model_id: str) -> ModelInfo:
        from shotlist.catalog import estimate_cost, get_model, shot_params_for

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
            shot_params=shot_params_for(entry),
            recovers=not entry.local and _recovers(entry.backend),
        )

    def backend(self, model_id: str, store_dir: Path) -> Backend:
        from shotlist.catalog import backend_for, get_model

        return backend_for(get_model(model_id), store_dir)


@functools.cache
def _recovers(backend: str) -> bool:
    """Whether the backend class named ``module:Class`` offers ``recover`` (imported only for paid models)."""
    import importlib

    module, _, cls = backend.partition(":")
    try:
        return hasattr(getattr(importlib.import_module(module), cls), "recover")
    except (ImportError, AttributeError):
        return False
