"""The command itself: starts, reports its version, validates the examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist import __version__
from shotlist.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"shotlist {__version__}"


def test_every_example_project_validates() -> None:
    projects = sorted(p for p in (ROOT / "projects").iterdir() if (p / "storyboard.yaml").is_file())
    assert projects
    for project in projects:
        result = runner.invoke(app, ["validate", str(project)])
        assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_the_console_script_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "shotlist", "--help"], capture_output=True, text=True, check=True
    )
    assert "validate" in out.stdout
