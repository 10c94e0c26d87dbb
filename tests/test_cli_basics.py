"""The command itself: starts, reports its version, validates the examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist import __version__
from shotlist.cli import COMMANDS, app, commands_of

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


def test_the_command_table_names_what_each_module_registers() -> None:
    """`shotlist X` imports only X's module, found in COMMANDS: a command missing from it is unreachable."""
    import pkgutil

    import shotlist.cli as cli

    modules = {m.name for m in pkgutil.iter_modules(cli.__path__)} - {"options"}
    registered = {name: module for module in modules for name in commands_of(module)}
    assert registered == COMMANDS


def test_a_command_imports_only_its_own_module() -> None:
    code = (
        "import sys; from shotlist.cli import app; from typer.testing import CliRunner;"
        "r = CliRunner().invoke(app, ['models']); assert r.exit_code == 0, r.output;"
        "print(*(m for m in sys.modules if m.startswith('shotlist.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(out.stdout.split()) - {"shotlist.cli.options"} == {"shotlist.cli.models"}


def test_help_lists_every_command_and_a_typo_gets_a_suggestion() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output
    typo = runner.invoke(app, ["biuld"])
    assert typo.exit_code == 2 and "Did you mean 'build'?" in typo.output
