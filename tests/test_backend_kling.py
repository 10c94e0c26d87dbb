"""Kling: its JWTs and its wire format, against a fake that verifies the tokens and speaks its task protocol
(the money rules every adapter keeps are in test_backend_contract.py)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import JobState, JobStatus
from shotlist.backends.kling import KlingBackend, kling_jwt
from shotlist.spec import ShotSpec
from tests.fakes.hosted import frames, make_spec, outcome
from tests.fakes.kling import FakeKling, verify_jwt
from tests.fakes.providers import KLING

AK, SK = "kling-ak-0123456789", "kling-sk-abcdefghijklmnop"


fake = KLING.fixture()


def spec(model: str = "kling/v1-std", mode: str = "txt2vid", *, move: str = "static", **kw: Any) -> ShotSpec:
    camera = {"camera": {"move": move, "speed": kw.pop("speed", "medium")}}
    return make_spec(
        model,
        mode,
        **{"prompt": "Close-up of a kitsune mask on moss.", "duration": 5, "params": camera, **kw},
    )


def build(tmp_path: Path, s: ShotSpec) -> JobStatus:
    return outcome(KlingBackend(tmp_path), s, tmp_path)


def test_the_jwt_is_hs256_from_the_access_key_and_verifies_as_kling_checks_it() -> None:
    now = time.time()
    token = kling_jwt(AK, SK, now=now)
    assert verify_jwt(token, AK, SK, now=now) is None
    assert verify_jwt(token, AK, "another-secret", now=now) == "signature invalid"
    assert verify_jwt(token, "another-ak", SK, now=now) == "issuer is not an access key of this account"
    assert verify_jwt(token, AK, SK, now=now + 1801) == "token expired"
    assert verify_jwt(token, AK, SK, now=now - 60) == "token not yet valid"
    head, body, sig = token.split(".")
    tampered = base64.urlsafe_b64encode(body.encode() + b"x").decode().rstrip("=")
    assert verify_jwt(f"{head}.{tampered}.{sig}", AK, SK, now=now) in (
        "signature invalid",
        "token is not decodable",
    )
    assert verify_jwt(kling_jwt(AK, SK, now=now, ttl=7200), AK, SK, now=now) is None  # capped at 30 minutes


def test_txt2vid_sends_the_prompt_and_no_camera_control_for_a_static_shot(
    fake: FakeKling, tmp_path: Path
) -> None:
    status = build(tmp_path, spec(negative="blur, text"))
    assert status.state is JobState.SUCCEEDED and fake.jwt_errors == []
    req = fake.submits()[0]
    assert req.path == "/v1/videos/text2video"
    body = req.json()
    assert {
        k: body[k] for k in ("model_name", "mode", "duration", "aspect_ratio", "negative_prompt", "cfg_scale")
    } == {
        "model_name": "kling-v1",
        "mode": "std",
        "duration": "5",
        "aspect_ratio": "16:9",
        "negative_prompt": "blur, text",
        "cfg_scale": 0.5,
    }
    assert "camera_control" not in body and len(body["external_task_id"]) == 32
    assert (tmp_path / "s1.mp4").read_bytes() == fake.video


@pytest.mark.parametrize(
    ("move", "speed", "axis", "value"),
    [
        ("pan-left", "slow", "tilt", -3.0),
        ("tilt-up", "fast", "pan", 8.0),
        ("dolly-in", "medium", "zoom", -5.0),
        ("truck-right", "medium", "horizontal", 5.0),
        ("pedestal-down", "slow", "vertical", -3.0),
    ],
)
def test_a_camera_move_becomes_kling_camera_control(
    fake: FakeKling, tmp_path: Path, move: str, speed: str, axis: str, value: float
) -> None:
    assert build(tmp_path, spec(move=move, speed=speed)).state is JobState.SUCCEEDED
    control = fake.submits()[0].json()["camera_control"]
    assert control["type"] == "simple"
    assert {k: v for k, v in control["config"].items() if v} == {axis: value}


def test_a_move_with_no_single_axis_stays_in_the_prompt(fake: FakeKling, tmp_path: Path) -> None:
    assert build(tmp_path, spec(move="orbit-left")).state is JobState.SUCCEEDED
    assert "camera_control" not in fake.submits()[0].json()


def test_img2vid_sends_bare_base64_frames_and_drops_camera_control_for_a_tail(
    fake: FakeKling, tmp_path: Path
) -> None:
    first, last = frames(tmp_path, "image", "end_image")
    assert (
        build(tmp_path, spec(mode="img2vid", inputs=(first, last), move="pan-left")).state
        is JobState.SUCCEEDED
    )
    req = fake.submits()[0]
    body = req.json()
    assert req.path == "/v1/videos/image2video" and "aspect_ratio" not in body
    assert base64.b64decode(body["image"]) == Path(first.path).read_bytes()
    assert base64.b64decode(body["image_tail"]) == Path(last.path).read_bytes()
    assert "camera_control" not in body
    assert fake.calls("GET", r"/v1/videos/image2video/")  # polled under its own kind


def test_kling_2_models_send_no_cfg_scale_and_use_their_mode(fake: FakeKling, tmp_path: Path) -> None:
    s = spec("kling/v2.5-turbo-pro", "img2vid", inputs=frames(tmp_path, "image"), move="zoom-in")
    assert build(tmp_path, s).state is JobState.SUCCEEDED
    body = fake.submits()[0].json()
    assert body["model_name"] == "kling-v2-5-turbo" and body["mode"] == "pro"
    assert (
        "cfg_scale" not in body and "camera_control" not in body
    )  # camera control only where the catalog says
