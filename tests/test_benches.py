"""The benchmarks' own projects load: a bench that cannot set itself up prints no figure."""

from __future__ import annotations

from pathlib import Path

from bench.startup import make_project
from shotlist.load import load_project


def test_the_startup_benchmarks_storyboard_validates(tmp_path: Path) -> None:
    # It once put a transition on the last shot, which validate rightly refuses.
    make_project(tmp_path, 30)
    project = load_project(tmp_path)
    assert len(project.shots) == 30
    assert project.shots[-1].transition.type == "cut"
