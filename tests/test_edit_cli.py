"""`shotlist render`: the edit alone, from the command line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from tests.tiny_project import TinyProjects, edit_storyboard

runner = CliRunner()


def test_render_without_generated_clips_names_the_shots_and_points_at_plan(
    tiny_project: TinyProjects,
) -> None:
    root = tiny_project(edit_storyboard([{"id": "mask"}, {"id": "street"}]))
    result = runner.invoke(app, ["render", str(root)])
    assert result.exit_code == 1
    assert "mask, street" in result.output
    assert "shotlist plan" in result.output
    assert result.output.strip().splitlines()[-1] == "no cut written: no clip yet for 2 shots: mask, street"
    assert not (root / "out").exists()


@pytest.mark.slow
def test_build_then_render_writes_the_cut_and_reuses_every_piece(tiny_project: TinyProjects) -> None:
    root = tiny_project(edit_storyboard([{"id": "mask", "transition": "fade"}, {"id": "street"}]))
    built = runner.invoke(app, ["build", str(root)])
    assert built.exit_code == 0, built.output
    rendered = runner.invoke(app, ["render", str(root)])
    assert rendered.exit_code == 0, rendered.output
    assert (root / "out" / "cut.mp4").is_file()
    assert "0 encoded" in rendered.output
