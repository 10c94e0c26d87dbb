"""MiniMax Hailuo: the wire format, against a fake that speaks its task → file → download-URL protocol
(the money rules every adapter keeps are in test_backend_contract.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shotlist.backends.base import JobState, JobStatus
from shotlist.backends.minimax import MiniMaxBackend
from shotlist.spec import ShotSpec
from tests.fakes.hosted import frames, make_spec, no_sleep, outcome
from tests.fakes.minimax import FakeMiniMax
from tests.fakes.providers import MINIMAX

fake = MINIMAX.fixture()


def spec(
    model: str = "minimax/hailuo-02", mode: str = "txt2vid", *, height: int = 720, **kw: Any
) -> ShotSpec:
    prompt, size = "Close-up of a kitsune mask. [Static shot] Mist swirls.", (height * 16 // 9, height)
    return make_spec(model, mode, **{"prompt": prompt, "duration": 6, "size": size, **kw})


def build(tmp_path: Path, s: ShotSpec) -> JobStatus:
    return outcome(MiniMaxBackend(tmp_path), s, tmp_path)


def test_txt2vid_goes_task_file_download(fake: FakeMiniMax, tmp_path: Path) -> None:
    status = build(tmp_path, spec())
    assert status.state is JobState.SUCCEEDED
    assert fake.submits()[0].json() == {
        "model": "MiniMax-Hailuo-02",
        "duration": 6,
        "resolution": "768P",
        "prompt": "Close-up of a kitsune mask. [Static shot] Mist swirls.",
        "prompt_optimizer": False,
    }
    assert (tmp_path / "s1.mp4").read_bytes() == fake.video
    assert len(fake.calls("GET", r"/files/retrieve")) == 1


def test_a_480p_txt2vid_shot_is_moved_up_to_768p_since_512p_needs_an_image(
    fake: FakeMiniMax, tmp_path: Path
) -> None:
    assert build(tmp_path, spec(height=480)).state is JobState.SUCCEEDED
    assert fake.submits()[0].json()["resolution"] == "768P"


def test_img2vid_sends_first_and_last_frames(fake: FakeMiniMax, tmp_path: Path) -> None:
    first, last = frames(tmp_path, "image", "end_image")
    assert (
        build(tmp_path, spec(mode="img2vid", inputs=(first, last), duration=10, height=480)).state
        is JobState.SUCCEEDED
    )
    body = fake.submits()[0].json()
    assert body["first_frame_image"].startswith("data:image/png;base64,")
    assert body["last_frame_image"].startswith("data:image/png;base64,")
    assert (body["resolution"], body["duration"]) == ("512P", 10)


def test_ref2vid_sends_a_subject_reference(fake: FakeMiniMax, tmp_path: Path) -> None:
    (ref,) = frames(tmp_path, "ref")
    assert build(tmp_path, spec("minimax/s2v-01", "ref2vid", inputs=(ref,))).state is JobState.SUCCEEDED
    body = fake.submits()[0].json()
    assert body["model"] == "S2V-01" and body["resolution"] == "720P"
    assert (
        body["subject_reference"][0]["type"] == "character"
        and len(body["subject_reference"][0]["image"]) == 1
    )


def test_minimaxs_own_rate_limit_code_in_a_200_is_waited_out_and_makes_one_task(
    fake: FakeMiniMax, tmp_path: Path
) -> None:
    fake.rate_limit_next = 3  # "1002 rate limit exceeded", answered with HTTP 200
    backend = MiniMaxBackend(tmp_path)
    backend.sleep = no_sleep
    status = outcome(backend, spec(), tmp_path)
    assert status.state is JobState.SUCCEEDED and fake.rate_limit_next == 0
    assert fake.submissions == 1 and len(fake.submits()) == 4  # three rate-limited tries made nothing
