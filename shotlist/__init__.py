"""shotlist: compile a declarative shot list into an edited video.

The CLI is a thin layer over this API. Heavy modules are imported by the functions that need them,
so ``import shotlist`` and ``shotlist --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pathlib import Path

    from shotlist.load import Project
    from shotlist.pipeline import BuildOptions, BuildResult
    from shotlist.storyboard import Storyboard

__all__ = ["__version__", "build", "load", "load_project"]


def load(path: str | Path = ".") -> Storyboard:
    """The validated Storyboard of a project folder or storyboard file (raises StoryboardError)."""
    from shotlist.load import load as _load

    return _load(path)


def load_project(path: str | Path = ".") -> Project:
    """A resolved Project: folder, storyboard, board and shots (raises StoryboardError)."""
    from shotlist.load import load_project as _load_project

    return _load_project(path)


def build(path: str | Path = ".", options: BuildOptions | None = None) -> BuildResult:
    """Build a project: generate what changed, pin it in shotlist.lock, render the cut (shotlist.pipeline)."""
    from shotlist.pipeline import build as _build

    return _build(path, options)
