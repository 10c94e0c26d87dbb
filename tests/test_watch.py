"""`shotlist watch`: every save re-validates, re-plans, makes the changed shots with the animatic and re-renders the preview."""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.cut import output_path
from shotlist.load import load_project
from shotlist.lock import read_lock
from shotlist.watch import Round, refresh, watch
from tests.tiny_project import TinyProjects, edit

pytestmark = pytest.mark.slow  # real animatic renders and cuts

PAID = """\
version: 1
title: Paid
output: {resolution: 480p, fps: 12, file: out/paid.mp4}
defaults: {model: animatic, duration: 2}
shots:
  - id: kite
    model: fal/seedance-1-lite
    duration: 5
    subject: "A red kite"
    action: "rises slowly over a green hill"
  - id: door
    subject: "A blue door"
    action: "swings slowly open"
"""


def test_a_save_remakes_only_the_changed_shot_and_the_preview_and_reuses_the_sound(
    tiny_project: TinyProjects,
) -> None:
    root = tiny_project(name="p")
    said: list[str] = []
    first = refresh(root, say=said.append)
    assert first.ok and first.made == ["door", "end", "kite", "street", "walk"]
    preview = output_path(load_project(root), preview=True)
    before = preview.stat().st_mtime_ns
    edit(root, "swings slowly open", "swings slowly shut")
    second = refresh(root, say=said.append)
    assert second.ok and second.made == ["door"]
    assert preview.stat().st_mtime_ns != before
    assert "door: prompt changed" in "\n".join(said)
    assert read_lock(root).entries["door"].model == "animatic"  # a free shot is pinned, as a build would
    mixes = list((root / ".shotlist" / "mix").glob("*.m4a"))
    assert len(mixes) == 1  # the animatic's clips are silent: the new picture needed no new sound pass


def test_a_paid_shot_is_previewed_by_the_animatic_and_never_pinned(tiny_project: TinyProjects) -> None:
    root = tiny_project(name="p", storyboard=PAID)
    said: list[str] = []
    r = refresh(root, say=said.append)
    assert r.ok and r.stand_ins == ["kite"] and "kite" in r.made
    assert "kite" not in read_lock(root).entries and "door" in read_lock(root).entries
    assert "kite: new shot (animatic stand-in)" in said
    assert r.preview is not None and r.preview.is_file()
    # a paid model on the command line needs --yes
    refused = CliRunner().invoke(app, ["watch", str(root), "--model", "fal/seedance-1-lite"])
    assert refused.exit_code != 0 and "is paid" in str(refused.exception)


def test_a_mistake_is_reported_with_its_line_and_the_watch_goes_on(tiny_project: TinyProjects) -> None:
    root = tiny_project(name="p")
    rounds: list[Round] = []
    said: list[str] = []
    stop = threading.Event()
    done = threading.Condition()

    def on_round(r: Round) -> None:
        with done:
            rounds.append(r)
            done.notify_all()

    thread = threading.Thread(
        target=watch,
        kwargs={"path": root, "say": said.append, "stop": stop, "on_round": on_round},
        daemon=True,
    )
    thread.start()
    try:
        with done:
            assert done.wait_for(lambda: len(rounds) == 1, timeout=120) and rounds[0].ok
        edit(root, "camera: static", "camera: pan-left, tilt-up")
        with done:
            assert done.wait_for(lambda: len(rounds) == 2, timeout=60)
        assert not rounds[1].ok
        assert any("storyboard.yaml:" in s and "one camera move per shot" in s for s in said)
        edit(root, "camera: pan-left, tilt-up", "camera: static")
        edit(root, "rises slowly", "rises gently")
        with done:
            assert done.wait_for(lambda: any(r.ok and r.made for r in rounds[2:]), timeout=60)
        assert rounds[-1].made == ["kite"]
    finally:
        stop.set()
        thread.join(timeout=30)
