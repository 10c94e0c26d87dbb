"""ComfyUI adapter against a fake ComfyUI (HTTP + WebSocket) that validates and 'executes' workflows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist.backends.base import BackendError, JobGone, JobState
from shotlist.backends.comfyui import ComfyUIBackend, frame_count, load_workflow
from tests.fakes.comfyui import ComfyUIFake
from tests.fakes.hosted import FAIL, generate, make_spec, no_sleep

# Weightless peers of the built-in workflows (they run on a CPU-only ComfyUI with no
# model files), titled for shotlist's roles like the built-ins.
PEER_IMG2VID: dict[str, Any] = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "shotlist.image"}},
    "2": {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["1", 0],
            "upscale_method": "bilinear",
            "width": 320,
            "height": 240,
            "crop": "center",
        },
        "_meta": {"title": "shotlist.size"},
    },
    "3": {
        "class_type": "RepeatImageBatch",
        "inputs": {"image": ["2", 0], "amount": 12},
        "_meta": {"title": "shotlist.frames"},
    },
    "4": {
        "class_type": "ImageAddNoise",
        "inputs": {"image": ["3", 0], "seed": 0, "strength": 0.2},
        "_meta": {"title": "shotlist.seed"},
    },
    "5": {
        "class_type": "CreateVideo",
        "inputs": {"images": ["4", 0], "fps": 24},
        "_meta": {"title": "shotlist.fps"},
    },
    "6": {
        "class_type": "SaveVideo",
        "inputs": {"video": ["5", 0], "filename_prefix": "video/peer", "format": "auto", "codec": "auto"},
        "_meta": {"title": "shotlist.output"},
    },
    "7": {
        "class_type": "PrimitiveStringMultiline",
        "inputs": {"value": ""},
        "_meta": {"title": "shotlist.prompt"},
    },
}
PEER_TXT2VID: dict[str, Any] = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 320, "height": 240, "batch_size": 12, "color": 0},
        "_meta": {"title": "shotlist.size shotlist.frames"},
    },
    **{k: v for k, v in PEER_IMG2VID.items() if k in ("4", "5", "6", "7")},
}
PEER_TXT2VID["4"] = {**PEER_IMG2VID["4"], "inputs": {**PEER_IMG2VID["4"]["inputs"], "image": ["1", 0]}}


def with_an_invalid_second_output(graph: dict[str, Any]) -> dict[str, Any]:
    """``graph`` plus a second output whose frame count is under its minimum (ComfyUI queues the valid part)."""
    two: dict[str, Any] = json.loads(json.dumps(graph))
    two["8"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 0}}
    two["9"] = {"class_type": "CreateVideo", "inputs": {"images": ["8", 0], "fps": 24}}
    two["10"] = {
        "class_type": "SaveVideo",
        "inputs": {"video": ["9", 0], "filename_prefix": "x", "format": "auto", "codec": "auto"},
    }
    return two


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[ComfyUIFake]:
    with ComfyUIFake() as f:
        monkeypatch.setenv("SHOTLIST_COMFYUI_URLS", f.url)
        yield f


def project(tmp_path: Path, **workflows: dict[str, Any]) -> Path:
    """A project folder (its .shotlist workdir returned) with its own templates/comfyui/<mode>.json."""
    for name, graph in workflows.items():
        p = tmp_path / "templates" / "comfyui" / f"{name}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(graph))
    (tmp_path / ".shotlist").mkdir(exist_ok=True)
    return tmp_path / ".shotlist"


def backend(workdir: Path) -> ComfyUIBackend:
    b = ComfyUIBackend(workdir)
    b.sleep = no_sleep
    return b


@pytest.mark.parametrize("mode", ["txt2vid", "img2vid"])
def test_the_builtin_wan_workflow_gets_the_shot_injected(
    fake: ComfyUIFake, tmp_path: Path, mode: str
) -> None:
    spec = make_spec(f"comfyui/{mode}", mode, tmp_path, duration=5, negative="smears", seed=1234)
    [(job, status)] = generate(backend(project(tmp_path)), spec, out=tmp_path)
    assert status.state is JobState.SUCCEEDED, status.message
    (body,) = fake.queued
    g = body["prompt"]
    assert g["5"]["inputs"]["text"] == spec.prompt and g["6"]["inputs"]["text"] == "smears"
    assert g["8"]["inputs"]["seed"] == 1234
    assert (g["7"]["inputs"]["width"], g["7"]["inputs"]["height"], g["7"]["inputs"]["length"]) == (
        1312,
        736,
        121,
    )  # 1280x720 asked as the nearest size in multiples of 32 with its aspect
    assert g["10"]["inputs"]["fps"] == 24 and g["11"]["inputs"]["filename_prefix"].startswith("shotlist/s1-")
    if mode == "img2vid":
        assert g["12"]["inputs"]["image"] in fake.inputs  # the name the upload returned
        assert fake.inputs[g["12"]["inputs"]["image"]] == Path(spec.inputs[0].path).read_bytes()
    assert job == f"{fake.url}::{body['prompt_id']}"
    assert (tmp_path / "s1.mp4").read_bytes() == f"fake-mp4 {body['prompt_id']}".encode()


@pytest.mark.parametrize("mode,peer", [("txt2vid", PEER_TXT2VID), ("img2vid", PEER_IMG2VID)])
def test_a_projects_own_workflow_replaces_the_builtin(
    fake: ComfyUIFake, tmp_path: Path, mode: str, peer: dict[str, Any]
) -> None:
    spec = make_spec(f"comfyui/{mode}", mode, tmp_path, duration=2, size=(640, 360))
    [(_, status)] = generate(backend(project(tmp_path, **{mode: peer})), spec, out=tmp_path)
    assert status.state is JobState.SUCCEEDED, status.message
    g = fake.queued[0]["prompt"]
    assert {n["class_type"] for n in g.values()} == {n["class_type"] for n in peer.values()}
    frames_node = g["1"] if mode == "txt2vid" else g["3"]
    assert (
        frames_node["inputs"].get("batch_size", frames_node["inputs"].get("amount")) == 49
    )  # 2 s × 24 → 4k+1
    assert g["7"]["inputs"]["value"] == spec.prompt


def test_the_same_take_twice_gives_two_files_not_comfyuis_cached_one(
    fake: ComfyUIFake, tmp_path: Path
) -> None:
    spec = make_spec("comfyui/img2vid", "img2vid", tmp_path, seed=5)
    b = backend(project(tmp_path, img2vid=PEER_IMG2VID))
    ((job1, s1),) = generate(b, spec, out=tmp_path / "a")
    ((job2, s2),) = generate(backend(project(tmp_path)), spec, out=tmp_path / "b")
    assert s1.state is s2.state is JobState.SUCCEEDED
    assert len(fake.outputs) == 2  # the save node ran again on cached frames: a new file
    assert (tmp_path / "a" / "s1.mp4").read_bytes() != (tmp_path / "b" / "s1.mp4").read_bytes()


def test_the_fake_reproduces_comfyuis_identical_prompt_trap(fake: ComfyUIFake) -> None:
    import httpx

    graph = {**PEER_TXT2VID}
    with httpx.Client(base_url=fake.url) as c:
        ids = [c.post("/prompt", json={"prompt": graph}).json()["prompt_id"] for _ in range(2)]
        for _ in range(200):
            hist = [c.get(f"/history/{i}").json() for i in ids]
            if all(hist):
                break
            asyncio.run(asyncio.sleep(0.01))
    files = [h[i]["outputs"]["6"]["images"][0]["filename"] for h, i in zip(hist, ids, strict=True)]
    assert files[0] == files[1] and len(fake.outputs) == 1


def test_takes_without_a_seed_get_different_seeds(fake: ComfyUIFake, tmp_path: Path) -> None:
    specs = [make_spec("comfyui/txt2vid", "txt2vid", tmp_path, take=t, shot=f"t{t}") for t in (1, 2)]
    generate(backend(project(tmp_path, txt2vid=PEER_TXT2VID)), *specs, out=tmp_path)
    seeds = {b["prompt"]["4"]["inputs"]["seed"] for b in fake.queued}
    assert len(seeds) == 2


def test_a_workflow_error_names_the_node_and_input(fake: ComfyUIFake, tmp_path: Path) -> None:
    broken = json.loads(json.dumps(PEER_TXT2VID))
    del broken["4"]["inputs"]["strength"]
    spec = make_spec("comfyui/txt2vid", "txt2vid", tmp_path)
    with pytest.raises(
        BackendError,
        match=r"node 4 “shotlist.seed” \(ImageAddNoise\) input strength: "
        "Required input is missing",
    ) as info:
        generate(backend(project(tmp_path, txt2vid=broken)), spec, out=tmp_path)
    assert not info.value.retryable and not fake.queued


def test_a_200_with_node_errors_is_a_failure_and_nothing_runs(fake: ComfyUIFake, tmp_path: Path) -> None:
    two_outputs = with_an_invalid_second_output(PEER_TXT2VID)
    spec = make_spec("comfyui/txt2vid", "txt2vid", tmp_path)
    with pytest.raises(
        BackendError, match=r"node 8 \(RepeatImageBatch\) input amount: Value 0 smaller than min"
    ):
        generate(backend(project(tmp_path, txt2vid=two_outputs)), spec, out=tmp_path)
    assert len(fake.queued) == 1  # accepted (the valid part may already run), then taken off the queue
    assert fake.calls("POST", "^/queue$")[0].json() == {"delete": [fake.queued[0]["prompt_id"]]}


def test_a_runtime_error_fails_the_job_naming_the_node(fake: ComfyUIFake, tmp_path: Path) -> None:
    spec = make_spec("comfyui/txt2vid", "txt2vid", tmp_path, prompt=f"a storm {FAIL}")
    [(_, status)] = generate(backend(project(tmp_path)), spec, out=tmp_path)
    assert status.state is JobState.FAILED
    assert status.message == (
        "comfyui: node 8 “shotlist.seed” (KSampler) failed: torch.OutOfMemoryError: Allocation on device"
    )


def test_a_server_restarted_since_the_submit_is_reported_as_the_reason(
    fake: ComfyUIFake, tmp_path: Path
) -> None:
    workdir = project(tmp_path, txt2vid=PEER_TXT2VID)
    [(job, status)] = generate(
        backend(workdir), make_spec("comfyui/txt2vid", "txt2vid", tmp_path), out=tmp_path
    )
    assert status.state is JobState.SUCCEEDED
    fake.restart()  # ComfyUI keeps its history in memory only
    with pytest.raises(JobGone, match="does not know prompt .* was the server restarted"):
        asyncio.run(backend(workdir).poll(job))


def test_shots_spread_across_a_pool_of_servers_and_skip_a_dead_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ComfyUIFake(step_s=0.005) as a, ComfyUIFake(step_s=0.005) as b:
        monkeypatch.setenv("SHOTLIST_COMFYUI_URLS", f"{a.url}, http://127.0.0.1:9, {b.url}")
        specs = [make_spec("comfyui/txt2vid", "txt2vid", tmp_path, shot=f"s{i}") for i in range(6)]
        results = generate(backend(project(tmp_path, txt2vid=PEER_TXT2VID)), *specs, out=tmp_path)
    assert all(s.state is JobState.SUCCEEDED for _, s in results)
    assert len(a.queued) + len(b.queued) == 6 and len(a.queued) >= 2 and len(b.queued) >= 2


def test_progress_follows_the_websocket(fake: ComfyUIFake, tmp_path: Path) -> None:
    b = backend(project(tmp_path, img2vid=PEER_IMG2VID))
    spec = make_spec("comfyui/img2vid", "img2vid", tmp_path)

    async def go() -> tuple[str, list[float | None]]:
        job = await b.submit(spec)
        seen = []
        for _ in range(400):
            status = await b.poll(job)
            seen.append(status.progress)
            if status.done:
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        await b.aclose()
        return job, seen

    job, seen = asyncio.run(go())
    prompt_id = job.split("::")[1]
    sent = [m for m in fake.ws_sent if m["client"] == b.client_id and m["data"].get("prompt_id") == prompt_id]
    assert [m["type"] for m in sent][0] == "execution_start" and any(m["type"] == "progress" for m in sent)
    assert b.progress[prompt_id] == 1.0  # heard over the socket, not from a poll
    assert seen[-1] == 1.0


def test_a_deleted_output_says_to_generate_again(fake: ComfyUIFake, tmp_path: Path) -> None:
    b = backend(project(tmp_path, txt2vid=PEER_TXT2VID))
    spec = make_spec("comfyui/txt2vid", "txt2vid", tmp_path)

    async def go() -> None:
        job = await b.submit(spec)
        for _ in range(400):
            if (await b.poll(job)).done:
                break
            await asyncio.sleep(0.005)
        fake.outputs.clear()
        try:
            await b.fetch(job, tmp_path / "o.mp4")
        finally:
            await b.aclose()

    with pytest.raises(JobGone, match=r"no longer has .* \(deleted from its output folder\?\)"):
        asyncio.run(go())


def test_a_ui_format_workflow_is_refused_with_how_to_export(tmp_path: Path) -> None:
    project(tmp_path, img2vid={"nodes": [], "links": []})
    with pytest.raises(BackendError, match=r"Save \(API\)"):
        load_workflow("img2vid", tmp_path)


def test_a_workflow_without_an_image_node_is_refused_not_silently_ignored(
    fake: ComfyUIFake, tmp_path: Path
) -> None:
    no_image = json.loads(json.dumps(PEER_IMG2VID))
    no_image["1"]["_meta"]["title"] = "Load Image"
    spec = make_spec("comfyui/img2vid", "img2vid", tmp_path)
    with pytest.raises(BackendError, match="no node titled shotlist.image"):
        generate(backend(project(tmp_path, img2vid=no_image)), spec, out=tmp_path)


def test_frame_counts_follow_the_models_rule() -> None:
    assert (
        frame_count(5, 24, "4k+1") == 121
        and frame_count(2, 24, "4k+1") == 49
        and frame_count(2, 24, "") == 48
    )


def test_every_output_preset_is_asked_at_a_size_whose_clip_the_engine_accepts() -> None:
    from shotlist.catalog import get_model
    from shotlist.storyboard import ASPECTS, RESOLUTIONS, Output

    for model in ("comfyui/txt2vid", "comfyui/img2vid"):
        entry = get_model(model)
        for resolution in RESOLUTIONS:
            for aspect in ASPECTS:
                w, h = Output(resolution=resolution, aspect=aspect).size()
                size = entry.size_for(w, h)
                assert size is not None and size[0] % 32 == 0 and size[1] % 32 == 0
                # within 1 %: the engine accepts a clip up to 3 % off the output's shape, and the edit crops the rest
                assert abs(size[0] / size[1] - w / h) <= 0.01 * w / h, (resolution, aspect, size)
                assert 0.6 < size[0] * size[1] / (w * h) < 1.5  # about the output's size, not a thumbnail
