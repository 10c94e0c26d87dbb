"""The request each shot sends: common params for every model, and the fields a backend declares of its own."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from shotlist.backends.animatic import fields
from shotlist.backends.fake import FakeModels
from shotlist.catalog import catalog, shot_params_for
from shotlist.catalog.registry import CatalogModels, ModelInfo
from shotlist.load import load_project
from shotlist.request import shot_spec
from shotlist.spec import ShotSpec
from shotlist.store import Store

BOARD = """\
version: 1
title: Keyed
output: {resolution: 64x36, fps: 8, file: out/keyed.mp4}
defaults: {model: animatic, duration: 1}
characters:
  mika: {look: "a young woman with a short black bob and a yellow raincoat"}
shots:
  - id: mask
    subject: "A kitsune mask"
    action: "rests on moss-covered stone"
    prompt: "Close-up, low angle: a kitsune mask rests on moss-covered stone in a misty forest at dawn"
    camera: {move: dolly-in, speed: slow}
    audio: {dialogue: {who: mika, says: "Hey, I missed you", how: whispers softly}}
  - id: kite
    prompt: "A red kite"
    camera: pan-left
"""


def specs(root: Path, model: ModelInfo) -> dict[str, ShotSpec]:
    """Every shot's spec as ``model`` would be asked for it."""
    if not (root / "storyboard.yaml").exists():
        root.mkdir(parents=True, exist_ok=True)
        (root / "storyboard.yaml").write_text(BOARD)
    project = load_project(root)
    store = Store(project.root)
    return {s.id: shot_spec(project, s, model, store, lambda _: None) for s in project.shots}


def test_the_animatic_labels_titles_and_captions_its_clips_from_the_shot(tmp_path: Path) -> None:
    info = CatalogModels().info("animatic")
    assert info.shot_params is fields.shot_params  # declared by the animatic package, through the catalog
    made = specs(tmp_path / "p", info)
    assert made["mask"].params == {
        "camera": {"move": "dolly-in", "speed": "slow"},
        "label": "mask",
        "title": "A kitsune mask",
        "subtitle": "rests on moss-covered stone",
        "caption": "Close-up, low angle: a kitsune mask rests on moss-covered stone in a…",
        "dialogue": 'mika (whispers softly): "Hey, I missed you"',
    }
    assert made["kite"].params == {
        "camera": {"move": "pan-left", "speed": "slow"},
        "label": "kite",
        "caption": "A red kite",
    }


def test_a_hosted_model_gets_the_camera_move_and_none_of_the_animatics_fields(tmp_path: Path) -> None:
    info = CatalogModels().info("fal/veo3")
    assert info.shot_params is None
    made = specs(tmp_path / "p", info)
    assert made["mask"].params == {"camera": {"move": "dolly-in", "speed": "slow"}}
    assert made["kite"].params == {"camera": {"move": "pan-left", "speed": "slow"}}
    assert specs(tmp_path / "p", FakeModels(tmp_path / "fake").info("animatic"))["mask"].params == {
        "camera": {"move": "dolly-in", "speed": "slow"}
    }


def test_any_backend_can_declare_keyed_fields_of_its_own_and_they_change_the_key(tmp_path: Path) -> None:
    plain = FakeModels(tmp_path / "fake").info("fake")

    def motion(shot: Any, prompt: str) -> dict[str, Any]:
        return {"motion_bucket": len(prompt.split())}

    own = dataclasses.replace(plain, shot_params=motion)
    before, after = specs(tmp_path / "p", plain), specs(tmp_path / "p", own)
    assert after["mask"].params == {"camera": {"move": "dolly-in", "speed": "slow"}, "motion_bucket": 16}
    assert after["kite"].params["motion_bucket"] == 3
    assert all(before[s].key != after[s].key for s in before)


def test_every_catalog_hook_for_keyed_fields_can_be_found() -> None:
    declared = {e.shot_params for e in catalog().values() if e.shot_params}
    assert "shotlist.backends.animatic.fields:shot_params" in declared
    assert all(callable(shot_params_for(e)) for e in catalog().values() if e.shot_params)
