"""Builds on ComfyUI servers (the fake, speaking ComfyUI's HTTP and WebSocket API): never spend GPU time on a
clip the engine will reject, one pool of servers for every ComfyUI shot, a dead server's jobs, shots that
send the same request."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from shotlist.backends import comfyui
from shotlist.backends.comfyui import ComfyUIBackend
from shotlist.cli import app
from shotlist.journal import Journal
from shotlist.lock import read_lock
from shotlist.pipeline import BuildOptions, BuildResult, build
from tests.fakes.comfyui import ComfyUIFake
from tests.fakes.proxy import CuttableProxy
from tests.media_factory import make_clip
from tests.test_backend_comfyui import PEER_IMG2VID, PEER_TXT2VID

pytestmark = pytest.mark.slow  # real servers and encodes


def rendered(tmp_path: Path) -> Callable[[str, Any], bytes]:
    """The fake's output: a real clip of the size, frame count and rate the graph asks for."""
    made: dict[tuple[int, int, int, int], bytes] = {}
    lock = threading.Lock()

    def video(prompt_id: str, graph: Any) -> bytes:
        nodes = list(graph.values())
        sized = next(n["inputs"] for n in nodes if "width" in n["inputs"])
        frames = next(
            n["inputs"].get("amount", n["inputs"].get("batch_size"))
            for n in nodes
            if n["class_type"] in ("RepeatImageBatch", "EmptyImage")
        )
        fps = next(n["inputs"]["fps"] for n in nodes if n["class_type"] == "CreateVideo")
        key = (int(sized["width"]), int(sized["height"]), int(frames), int(fps))
        with lock:
            if key not in made:
                path = tmp_path / "renders" / f"{key[0]}x{key[1]}-{key[2]}-{key[3]}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                make_clip(
                    path, "teal", size=f"{key[0]}x{key[1]}", fps=key[3], seconds=key[2] / key[3], audio=False
                )
                made[key] = path.read_bytes()
            return made[key]

    return video


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ComfyUIFake, ComfyUIFake]]:
    video = rendered(tmp_path)
    with ComfyUIFake(video=video, step_s=0.02) as a, ComfyUIFake(video=video, step_s=0.02) as b:
        monkeypatch.setenv("SHOTLIST_COMFYUI_URLS", f"{a.url},{b.url}")
        monkeypatch.setattr(ComfyUIBackend, "poll_interval", 0.01)
        yield a, b


def project(root: Path, shots: str, output: str = "{resolution: 320x240, fps: 24}") -> Path:
    (root / "templates" / "comfyui").mkdir(parents=True)
    (root / "templates" / "comfyui" / "txt2vid.json").write_text(json.dumps(PEER_TXT2VID))
    (root / "templates" / "comfyui" / "img2vid.json").write_text(json.dumps(PEER_IMG2VID))
    (root / "assets").mkdir()
    Image.new("RGB", (320, 240), (30, 90, 160)).save(root / "assets" / "harbour.png")
    (root / "storyboard.yaml").write_text(
        f"version: 1\ntitle: Harbour\noutput: {output}\ndefaults: {{model: comfyui/txt2vid, duration: 1}}\n"
        f"shots:\n{shots}"
    )
    return root


def shot(i: int, extra: str = "") -> str:
    return f'  - id: s{i}\n    subject: "Boat number {i}"\n    action: "rocks slowly on the water"\n{extra}'


def run(root: Path, **options: Any) -> BuildResult:
    return build(root, BuildOptions(yes=True, render=False, **options))


def sizes(*fakes: ComfyUIFake) -> list[tuple[int, int]]:
    out = []
    for fake in fakes:
        for body in fake.queued:
            node = next(n["inputs"] for n in body["prompt"].values() if "width" in n["inputs"])
            out.append((node["width"], node["height"]))
    return out


@pytest.mark.parametrize(
    "output,asked",
    [
        ("{resolution: 320x240, fps: 24}", (384, 288)),
        ('{resolution: 540p, aspect: "16:9", fps: 24}', (960, 544)),
        ('{resolution: 480p, aspect: "4:5", fps: 24}', (512, 640)),
    ],
)
def test_a_comfyui_clip_is_asked_at_a_size_the_engine_accepts(
    servers: tuple[ComfyUIFake, ComfyUIFake], tmp_path: Path, output: str, asked: tuple[int, int]
) -> None:
    root = project(tmp_path / "p", shot(1), output)
    result = run(root)
    assert result.ok, result.failures  # rounding each side down gave 320x224, 960x512, 480x576: all rejected
    assert sizes(*servers) == [asked]


def test_a_shape_no_model_size_can_serve_is_refused_at_validate_with_its_line(tmp_path: Path) -> None:
    root = project(tmp_path / "p", shot(1), "{resolution: 3200x32, fps: 24}")
    out = CliRunner().invoke(app, ["validate", str(root)])
    message = str(out.exception)
    assert re.search(r"storyboard.yaml:4:19: defaults\.model: ", message), (
        message
    )  # set in defaults: said there
    assert "none has the shape of the 3200x32 output" in message


def test_every_comfyui_shot_of_a_build_shares_one_pool_of_servers(
    servers: tuple[ComfyUIFake, ComfyUIFake], tmp_path: Path
) -> None:
    a, b = servers
    shots = shot(1) + shot(
        2, "    mode: img2vid\n    model: comfyui/img2vid\n    image: assets/harbour.png\n"
    )
    assert run(project(tmp_path / "p", shots)).ok
    assert (len(a.queued), len(b.queued)) == (1, 1)  # a txt2vid and an img2vid shot: one on each server


def test_a_dead_servers_waiting_jobs_move_and_its_running_one_fails_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(comfyui, "DOWN_FOR_S", 1.0)  # stands for 30 s
    monkeypatch.setattr(comfyui, "MOVE_AFTER_S", 0.1)
    monkeypatch.setattr(ComfyUIBackend, "poll_interval", 0.01)
    video = rendered(tmp_path)
    with (
        ComfyUIFake(video=video, step_s=0.3) as a,
        ComfyUIFake(video=video, step_s=0.02) as b,
        CuttableProxy(("127.0.0.1", int(a.url.rsplit(":", 1)[1]))) as network_to_a,
    ):
        monkeypatch.setenv("SHOTLIST_COMFYUI_URLS", f"{network_to_a.url},{b.url}")
        b.faults.rate_5xx = 1.0  # b refuses work until a has one prompt running and one waiting
        # [slow]: each prompt runs 20 times longer on the fake, so a's first one is still running when it dies
        root = project(tmp_path / "p", (shot(1) + shot(2)).replace("Boat number", "[slow] Boat number"))

        def kill_a() -> None:
            deadline = time.monotonic() + 30
            journal = Journal(root / ".shotlist")
            while time.monotonic() < deadline and not (
                a.running and a.pending and sum(1 for j in journal.entries() if j.job) == 2
            ):
                time.sleep(0.005)
            b.faults.rate_5xx = 0.0
            network_to_a.cut()  # the box dies: connections dropped, then refused

        threading.Thread(target=kill_a, daemon=True).start()
        started = time.monotonic()
        result = run(root)
        took = time.monotonic() - started
    assert len(a.queued) == 2 and len(b.queued) == 1  # the waiting one moved to b: sent once more, free
    (failed,) = result.failures
    assert re.search(
        r"left no clip: comfyui: http://\S+ stopped answering while it had prompt \S+ \(no answer for \d+ s\)",
        result.failures[failed],
    )
    assert result.failures[failed].endswith("the next build makes it again (free)")
    assert len(result.made) == 1 and took < 20


def test_a_deleted_comfyui_output_is_made_again_by_the_next_build(
    servers: tuple[ComfyUIFake, ComfyUIFake], tmp_path: Path
) -> None:
    a, b = servers
    root = project(tmp_path / "p", shot(1))
    a.outputs = _Forgetful()
    b.outputs = _Forgetful()
    result = run(root)
    assert "(deleted from its output folder?); the next build makes it again (free)" in result.failures["s1"]
    a.outputs, b.outputs = {}, {}
    again = run(root)
    assert again.ok and again.made["s1"][0].take == 2  # not "resumed" forever: a new take


class _Forgetful(dict[tuple[str, str], bytes]):
    """An output folder whose files are deleted as soon as they are written."""

    def __setitem__(self, key: tuple[str, str], value: bytes) -> None:
        pass


def test_two_shots_sending_the_same_request_share_one_generation(
    servers: tuple[ComfyUIFake, ComfyUIFake], tmp_path: Path
) -> None:
    a, b = servers
    root = project(tmp_path / "p", shot(1) + shot(1).replace("id: s1", "id: twin"))
    lint = CliRunner().invoke(app, ["lint", str(root)])
    assert "shots s1 and twin send the same request: they will share one clip; change one's text or seed" in (
        lint.output
    ), lint.output
    result = run(root)
    assert result.ok and len(a.queued) + len(b.queued) == 1 and result.shared == {"twin": "s1"}
    lock = read_lock(root)
    assert lock.entries["s1"].clip == lock.entries["twin"].clip
    takes = CliRunner().invoke(app, ["takes", "twin", str(root)])
    assert "* take 1" in takes.output
