"""The ComfyUI adapter against a real ComfyUI server, when one is given: ``SHOTLIST_TEST_COMFYUI_URL``.

The workflows are the weightless peers of the built-ins (they run on a CPU-only
ComfyUI with no model files), so any ComfyUI ≥ 0.3.6x can serve them. Skipped without the variable;
run e.g. ``python main.py --cpu --port 8188`` in a ComfyUI checkout, then
``SHOTLIST_TEST_COMFYUI_URL=http://127.0.0.1:8188 pytest tests/test_backend_comfyui_live.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import BackendError, JobState, JobStatus
from shotlist.backends.comfyui import ComfyUIBackend
from shotlist.media import probe
from shotlist.spec import ShotSpec
from tests.fakes import hosted
from tests.fakes.hosted import make_spec
from tests.test_backend_comfyui import PEER_IMG2VID, PEER_TXT2VID, project, with_an_invalid_second_output

URL = os.environ.get("SHOTLIST_TEST_COMFYUI_URL", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="set SHOTLIST_TEST_COMFYUI_URL to a ComfyUI"),
]


@pytest.fixture(autouse=True)
def server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOTLIST_COMFYUI_URLS", URL)


def generate(workdir: Path, *specs: ShotSpec, out: Path) -> list[JobStatus]:
    """How each shot ends on the real server (clips in ``out``); a CPU-only server may take a while."""
    return [status for _, status in hosted.generate(ComfyUIBackend(workdir), *specs, out=out, within_s=120)]


@pytest.mark.parametrize("mode,peer", [("txt2vid", PEER_TXT2VID), ("img2vid", PEER_IMG2VID)])
def test_a_real_comfyui_makes_the_clip_asked_for(tmp_path: Path, mode: str, peer: dict[str, Any]) -> None:
    spec = make_spec(f"comfyui/{mode}", mode, tmp_path, duration=1, size=(320, 192), aspect="16:9")
    [status] = generate(project(tmp_path, **{mode: peer}), spec, out=tmp_path / "out")
    assert status.state is JobState.SUCCEEDED, status.message
    facts = probe(tmp_path / "out" / "s1.mp4")
    assert facts.has_video and (facts.width, facts.height) == (320, 192)
    assert facts.duration == pytest.approx(25 / 24, abs=0.05)  # 1 s × 24 fps → 25 frames (4k+1)


def test_the_same_take_twice_makes_two_files_on_a_real_comfyui(tmp_path: Path) -> None:
    spec = make_spec("comfyui/txt2vid", "txt2vid", tmp_path, duration=1, size=(320, 192), seed=4)
    workdir = project(tmp_path, txt2vid=PEER_TXT2VID)
    first, second = (generate(workdir, spec, out=tmp_path / d)[0] for d in ("a", "b"))
    assert first.state is second.state is JobState.SUCCEEDED
    assert (tmp_path / "a" / "s1.mp4").stat().st_size > 0 and (tmp_path / "b" / "s1.mp4").stat().st_size > 0


def test_a_real_validation_error_names_the_node(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(PEER_TXT2VID))
    del broken["4"]["inputs"]["strength"]
    spec = make_spec("comfyui/txt2vid", "txt2vid", tmp_path, duration=1, size=(320, 192))
    with pytest.raises(BackendError, match=r"node 4 “shotlist.seed” \(ImageAddNoise\) input strength"):
        generate(project(tmp_path, txt2vid=broken), spec, out=tmp_path / "out")


def test_a_real_partial_validation_error_is_a_failure(tmp_path: Path) -> None:
    two = with_an_invalid_second_output(PEER_TXT2VID)
    spec = make_spec("comfyui/txt2vid", "txt2vid", tmp_path, duration=1, size=(320, 192))
    with pytest.raises(BackendError, match=r"node 8 \(RepeatImageBatch\) input amount"):
        generate(project(tmp_path, txt2vid=two), spec, out=tmp_path / "out")


def test_a_real_runtime_error_names_the_node(tmp_path: Path) -> None:
    odd = json.loads(json.dumps(PEER_IMG2VID))
    odd["2"]["_meta"]["title"] = "Scale"  # not shotlist.size: keeps its odd width
    odd["2"]["inputs"]["width"] = 321
    spec = make_spec("comfyui/img2vid", "img2vid", tmp_path, duration=1)
    [status] = generate(project(tmp_path, img2vid=odd), spec, out=tmp_path / "out")
    assert status.state is JobState.FAILED and "(SaveVideo) failed" in (status.message or "")


@pytest.mark.parametrize("mode", ["txt2vid", "img2vid"])
def test_the_builtin_wan_workflows_are_valid_graphs_for_a_real_comfyui(tmp_path: Path, mode: str) -> None:
    import httpx

    unets = httpx.get(f"{URL}/object_info/UNETLoader").json()["UNETLoader"]["input"]["required"]["unet_name"][
        0
    ]
    if "wan2.2_ti2v_5B_fp16.safetensors" in unets:
        pytest.skip("this server has the Wan model files: it would really generate")
    spec = make_spec(f"comfyui/{mode}", mode, tmp_path, duration=5, negative="smears", seed=3)
    with pytest.raises(BackendError) as info:
        generate(project(tmp_path), spec, out=tmp_path / "out")
    problems = str(info.value).split(": ", 2)[2].split("; ")
    # every node and input exists in ComfyUI: only the absent model files are refused
    assert len(problems) == 4 and all("Value not in list" in p for p in problems[:3])
    assert "not in that server's models/ folder" in problems[3]


def test_progress_is_heard_over_a_real_websocket(tmp_path: Path) -> None:
    heard: list[str] = []

    async def go() -> Any:
        b = ComfyUIBackend(project(tmp_path, img2vid=PEER_IMG2VID))
        hear = b._on_message

        def listen(msg: dict[str, Any]) -> None:
            heard.append(str(msg.get("type")))
            hear(msg)

        b._on_message = listen  # type: ignore[method-assign]
        job = await b.submit(make_spec("comfyui/img2vid", "img2vid", tmp_path, duration=2, size=(640, 352)))
        while not (status := await b.poll(job)).done:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        await b.aclose()
        return job, status, b.progress

    job, status, progress = asyncio.run(go())
    assert status.state is JobState.SUCCEEDED and progress[job.split("::")[1]] == 1.0
    assert heard.index("execution_start") < heard.index("progress_state") < heard.index("execution_success")
