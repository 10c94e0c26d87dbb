"""The request each shot sends: common params for every model, and the fields a backend declares of its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.animatic import fields
from shotlist.backends.fake import FakeModels
from shotlist.catalog import catalog, shot_params_for
from shotlist.catalog.registry import CatalogModels, ModelInfo
from shotlist.load import load_project
from shotlist.request import shot_spec
from shotlist.spec import ShotSpec
from shotlist.store import Store
from tests.tiny_project import STORYBOARD, TinyProjects

#: Two shots added to the tiny project, with literal prompts so that the caption is known.
SHOTS = """\
  - id: mask
    subject: "A kitsune mask"
    action: "rests on moss-covered stone"
    prompt: "Close-up, low angle: a kitsune mask rests on moss-covered stone in a misty forest at dawn"
    camera: {move: dolly-in, speed: slow}
    audio: {dialogue: {who: mika, says: "Hey, I missed you", how: whispers softly}}
  - id: bare
    prompt: "A red kite"
    camera: pan-left
"""


Specs = Callable[[ModelInfo], dict[str, ShotSpec]]


@pytest.fixture
def specs(tiny_project: TinyProjects) -> Specs:
    """Call it with a model for the spec of each added shot as that model would be asked for it."""
    project = load_project(tiny_project(STORYBOARD + SHOTS))
    store = Store(project.root)

    def asked_of(model: ModelInfo) -> dict[str, ShotSpec]:
        return {
            i: shot_spec(project, project.shot(i), model, store, lambda _: None) for i in ("mask", "bare")
        }

    return asked_of


def test_the_animatic_labels_titles_and_captions_its_clips_from_the_shot(specs: Specs) -> None:
    info = CatalogModels().info("animatic")
    assert info.shot_params is fields.shot_params  # declared by the animatic package, through the catalog
    made = specs(info)
    assert made["mask"].params == {
        "camera": {"move": "dolly-in", "speed": "slow"},
        "label": "mask",
        "title": "A kitsune mask",
        "subtitle": "rests on moss-covered stone",
        "caption": "Close-up, low angle: a kitsune mask rests on moss-covered stone in a…",
        "dialogue": 'mika (whispers softly): "Hey, I missed you"',
    }
    assert made["bare"].params == {
        "camera": {"move": "pan-left", "speed": "slow"},
        "label": "bare",
        "caption": "A red kite",
    }


def test_a_hosted_model_gets_the_camera_move_and_none_of_the_animatics_fields(
    specs: Specs, tmp_path: Path
) -> None:
    info = CatalogModels().info("fal/veo3")
    assert info.shot_params is None
    made = specs(info)
    assert made["mask"].params == {"camera": {"move": "dolly-in", "speed": "slow"}}
    assert made["bare"].params == {"camera": {"move": "pan-left", "speed": "slow"}}
    assert specs(FakeModels(tmp_path / "fake").info("animatic"))["mask"].params == {
        "camera": {"move": "dolly-in", "speed": "slow"}
    }


def test_any_backend_can_declare_keyed_fields_of_its_own_and_they_change_the_key(
    specs: Specs, tmp_path: Path
) -> None:
    plain = FakeModels(tmp_path / "fake").info("fake")

    def motion(shot: Any, prompt: str) -> dict[str, Any]:
        return {"motion_bucket": len(prompt.split())}

    own = dataclasses.replace(plain, shot_params=motion)
    before, after = specs(plain), specs(own)
    assert after["mask"].params == {"camera": {"move": "dolly-in", "speed": "slow"}, "motion_bucket": 16}
    assert after["bare"].params["motion_bucket"] == 3
    assert all(before[s].key != after[s].key for s in before)


def test_every_catalog_hook_for_keyed_fields_can_be_found() -> None:
    declared = {e.shot_params for e in catalog().values() if e.shot_params}
    assert "shotlist.backends.animatic.fields:shot_params" in declared
    assert all(callable(shot_params_for(e)) for e in catalog().values() if e.shot_params)
