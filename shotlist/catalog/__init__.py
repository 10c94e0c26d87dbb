"""The model catalog: one YAML file per provider beside this module (placeholder until the build engine lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shotlist.errors import Problem

if TYPE_CHECKING:
    from shotlist.resolve import Project


def check_project(project: Project) -> list[Problem]:
    """Problems of shots that ask a model for something it cannot do."""
    return []
