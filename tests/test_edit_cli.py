"""`shotlist render`: the edit alone, from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from tests.test_edit import write_project

runner = CliRunner()


def test_render_without_generated_clips_names_the_shots_and_points_at_plan(tmp_path: Path) -> None:
    write_project(tmp_path, [{"id": "mask"}, {"id": "street"}])
    result = runner.invoke(app, ["render", str(tmp_path)])
    assert result.exit_code == 1
    assert "mask, street" in result.output
    assert "shotlist plan" in result.output
    assert result.output.strip().splitlines()[-1] == "no cut written: no clip yet for 2 shots: mask, street"
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_build_then_render_writes_the_cut_and_reuses_every_piece(tmp_path: Path) -> None:
    write_project(tmp_path, [{"id": "mask", "transition": "fade"}, {"id": "street"}])
    built = runner.invoke(app, ["build", str(tmp_path)])
    assert built.exit_code == 0, built.output
    rendered = runner.invoke(app, ["render", str(tmp_path)])
    assert rendered.exit_code == 0, rendered.output
    assert (tmp_path / "out" / "cut.mp4").is_file()
    assert "0 encoded" in rendered.output
