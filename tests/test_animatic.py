"""The offline animatic backend: clips of the exact length, size and rate, deterministic, moving as asked."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from shotlist.backends.animatic.backend import AnimaticBackend
from shotlist.backends.animatic.camera import camera_path
from shotlist.backends.animatic.render import render_animatic
from shotlist.backends.base import Backend, BackendError, JobState
from shotlist.fonts import FONT_FAMILY, font_path
from shotlist.media import MediaError, extract_frame, probe, run_ffmpeg
from shotlist.spec import MediaInput, ShotSpec
from shotlist.storyboard import CAMERA_MOVES

W, H = 320, 180


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detailed test picture (rings and bars), so that any move changes the pixels."""
    path = tmp_path_factory.mktemp("img") / "street.png"
    im = Image.new("RGB", (640, 400), (30, 60, 90))
    draw = ImageDraw.Draw(im)
    for i in range(0, 640, 24):
        draw.rectangle((i, 0, i + 11, 400), fill=(200, 120 + i % 100, 40))
    for r in range(10, 200, 18):
        draw.ellipse((320 - r, 200 - r, 320 + r, 200 + r), outline=(255, 255, 255), width=3)
    im.save(path)
    return path


def solid(tmp_path: Path, name: str, color: tuple[int, int, int]) -> Path:
    path = tmp_path / name
    Image.new("RGB", (200, 120), color).save(path)
    return path


def make_spec(
    mode: str = "txt2vid",
    *,
    move: Any = "static",
    duration: float = 1.0,
    fps: int = 24,
    inputs: tuple[MediaInput, ...] = (),
    params: dict[str, Any] | None = None,
    size: tuple[int, int] = (W, H),
) -> ShotSpec:
    if params is None:
        params = {
            "camera": {"move": move, "speed": "medium"} if isinstance(move, str) else move,
            "title": "A kitsune mask",
            "subtitle": "rests on moss-covered stone",
            "caption": "close-up: a kitsune mask rests on moss-covered stone",
            "dialogue": 'mika (whispers softly): "Hey, I missed you"',
        }
    return ShotSpec(
        shot="mask",
        backend="animatic",
        model="animatic",
        mode=mode,
        prompt="close-up: a kitsune mask",
        duration=duration,
        width=size[0],
        height=size[1],
        aspect="16:9",
        fps=fps,
        inputs=inputs,
        params=params,
    )


def image_input(path: Path, role: str = "image", name: str = "") -> MediaInput:
    return MediaInput(
        role=role, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), path=str(path), name=name
    )


def gray_frames(clip: Path, tmp_path: Path, w: int = W, h: int = H) -> list[bytes]:
    raw = tmp_path / f"{clip.stem}.gray"
    run_ffmpeg(["-i", str(clip), "-f", "rawvideo", "-pix_fmt", "gray", str(raw)])
    data = raw.read_bytes()
    return [data[i : i + w * h] for i in range(0, len(data), w * h)]


def picture_area(frame: bytes, w: int = W, h: int = H) -> Image.Image:
    """The middle of a frame: clear of the corner label and of the caption band."""
    return Image.frombytes("L", (w, h), frame).crop((w // 8, h // 4, w * 7 // 8, h * 3 // 5))


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    return float(ImageStat.Stat(ImageChops.difference(a, b)).mean[0])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["txt2vid", "img2vid", "ref2vid", "card"])
def test_each_mode_renders_a_clip_of_the_exact_length_size_and_rate_with_silence(
    mode: str, photo: Path, tmp_path: Path
) -> None:
    inputs: tuple[MediaInput, ...] = ()
    params = None
    if mode == "img2vid":
        inputs = (image_input(photo),)
    elif mode == "ref2vid":
        inputs = (
            image_input(photo, "ref", "mika"),
            image_input(solid(tmp_path, "u.png", (200, 30, 30)), "ref", "umbrella"),
        )
    elif mode == "card":
        params = {
            "card": {
                "title": "Kitsune Dawn",
                "subtitle": "a short film",
                "background": "#102030",
                "color": "#ffeeaa",
            }
        }
    clip = tmp_path / f"{mode}.mp4"
    render_animatic(
        make_spec(mode, move="pan-right", duration=1.3, fps=30, inputs=inputs, params=params), clip
    )
    facts = probe(clip)
    assert (facts.frames, facts.width, facts.height, facts.fps) == (39, W, H, "30")
    assert abs(facts.duration - 1.3) <= 1 / 30
    assert (facts.video_codec, facts.pix_fmt) == ("h264", "yuv420p")
    assert (facts.has_audio, facts.audio_codec, facts.sample_rate, facts.channels) == (True, "aac", 48000, 2)


@pytest.mark.slow
def test_the_same_spec_renders_the_same_bytes(photo: Path, tmp_path: Path) -> None:
    end = image_input(solid(tmp_path, "end.png", (20, 40, 200)), "end_image")
    spec = make_spec("img2vid", move="handheld", inputs=(image_input(photo), end))
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    render_animatic(spec, first)
    render_animatic(spec, second)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    render_animatic(dataclasses.replace(spec, params={**spec.params, "caption": "another caption"}), second)
    assert first.read_bytes() != second.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["img2vid", "txt2vid"])
def test_a_pan_moves_the_picture_and_static_holds_it(mode: str, photo: Path, tmp_path: Path) -> None:
    inputs = (image_input(photo),) if mode == "img2vid" else ()
    diffs = {}
    for move in ("pan-left", "static"):
        clip = tmp_path / f"{move}.mp4"
        render_animatic(make_spec(mode, move=move, inputs=inputs), clip)
        early, late = (
            Image.open(extract_frame(clip, t, tmp_path / f"{move}-{t}.png"))
            .convert("L")
            .crop((W // 8, H // 4, W * 7 // 8, H * 3 // 5))
            for t in (0.05, 0.95)
        )
        diffs[move] = mean_diff(early, late)
    # A still picture still changes a little as x264's P-frames refine the first frame: hence the margin.
    assert diffs["pan-left"] > 5 * max(diffs["static"], 0.5)
    assert diffs["static"] < 1.0


@pytest.mark.slow
def test_a_slow_pan_glides_every_frame_with_no_whole_pixel_steps(photo: Path, tmp_path: Path) -> None:
    # Under a pixel per frame: a mover that rounds to whole pixels would repeat frames.
    spec = make_spec(
        "img2vid", move={"move": "pan-right", "speed": "slow"}, duration=2.0, inputs=(image_input(photo),)
    )
    views = camera_path("pan-right", "slow", 24, 48, W / H)
    assert max(abs(b.x - a.x) * W for a, b in zip(views, views[1:], strict=False)) < 1.0
    clip = tmp_path / "slow.mp4"
    render_animatic(spec, clip)
    frames = [picture_area(f) for f in gray_frames(clip, tmp_path)]
    assert len(frames) == 48
    steps = [mean_diff(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    assert min(steps) > 0.3, steps


def test_a_dolly_in_magnifies_the_centre() -> None:
    views = camera_path("dolly-in", "medium", 24, 24)
    assert views[0].z == 1.0 and views[-1].z > 1.05
    assert all(b.z >= a.z for a, b in zip(views, views[1:], strict=False))


@pytest.mark.slow
@pytest.mark.parametrize("move", CAMERA_MOVES)
def test_every_move_of_the_vocabulary_renders(move: str, photo: Path, tmp_path: Path) -> None:
    clip = tmp_path / "m.mp4"
    render_animatic(
        make_spec(
            "img2vid",
            move={"move": move, "speed": "fast"},
            duration=0.5,
            inputs=(image_input(photo),),
            size=(160, 90),
        ),
        clip,
    )
    assert probe(clip).frames == 12


@pytest.mark.slow
def test_an_end_image_is_faded_in_over_the_clip(tmp_path: Path) -> None:
    start = image_input(solid(tmp_path, "red.png", (220, 20, 20)))
    end = image_input(solid(tmp_path, "blue.png", (20, 20, 220)), "end_image")
    clip = tmp_path / "fade.mp4"
    render_animatic(make_spec("img2vid", inputs=(start, end)), clip)

    def centre(at: str | float) -> tuple[float, ...]:
        im = Image.open(extract_frame(clip, at, tmp_path / f"{at}.png")).convert("RGB")
        return tuple(ImageStat.Stat(im.crop((W // 3, H // 3, W * 2 // 3, H // 2))).mean)

    first, middle, last = centre("first"), centre(0.5), centre("last")
    assert first[0] > 180 and first[2] < 60
    assert last[2] > 180 and last[0] < 60
    assert 60 < middle[0] < 180 and 60 < middle[2] < 180


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode,params",
    [
        ("txt2vid", {}),
        (
            "txt2vid",
            {"camera": "dolly-out", "title": None, "dialogue": {"who": "mika", "says": "Hi", "how": None}},
        ),
        ("txt2vid", {"camera": {"move": "not-a-move"}, "caption": "word " * 200}),
        ("img2vid", {"camera": {"speed": "fast"}}),  # no image: falls back to the storyboard card
        ("ref2vid", {"camera": "orbit-right"}),  # no references
        ("card", {}),
        ("card", {"card": "Just a title"}),
        ("card", {"card": {"title": "Bad colours", "background": "not-a-colour", "color": None}}),
    ],
)
def test_missing_or_odd_params_fall_back_instead_of_failing(
    mode: str, params: dict[str, Any], tmp_path: Path
) -> None:
    clip = tmp_path / "c.mp4"
    render_animatic(make_spec(mode, duration=0.5, params=params), clip)
    assert probe(clip).frames == 12


@pytest.mark.slow
def test_a_portrait_reference_card_lays_out_many_refs(photo: Path, tmp_path: Path) -> None:
    refs = tuple(image_input(photo, "ref", f"ref-{i}") for i in range(7))
    clip = tmp_path / "refs.mp4"
    render_animatic(make_spec("ref2vid", duration=0.5, inputs=refs, size=(180, 320)), clip)
    facts = probe(clip)
    assert (facts.width, facts.height, facts.frames) == (180, 320, 12)


def test_an_unreadable_source_image_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(MediaError, match="broken.png"):
        render_animatic(make_spec("img2vid", inputs=(image_input(broken),)), tmp_path / "x.mp4")
    assert not list(tmp_path.glob("*.mp4"))


@pytest.mark.slow
def test_progress_rises_to_one_and_an_exception_from_it_stops_the_render(tmp_path: Path) -> None:
    seen: list[float] = []
    render_animatic(make_spec(duration=1.0), tmp_path / "p.mp4", seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 2

    def stop(_: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_animatic(make_spec(duration=1.0), tmp_path / "stopped.mp4", stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.mp4"]


@pytest.mark.slow
def test_the_backend_protocol_submit_poll_fetch(photo: Path, tmp_path: Path) -> None:
    spec = make_spec("img2vid", move="dolly-in", inputs=(image_input(photo),))

    async def flow() -> list[JobState]:
        backend = AnimaticBackend(tmp_path / "jobs")
        assert isinstance(backend, Backend) and backend.name == "animatic"
        try:
            job = await backend.submit(spec)
            assert job == spec.take_key()
            assert await backend.submit(spec) == job  # resubmitting the same take starts nothing new
            states = []
            while not (status := await backend.poll(job)).done:
                states.append(status.state)
                await asyncio.sleep(0.01)
            assert status.state == JobState.SUCCEEDED and status.cost == 0.0 and status.progress == 1.0
            await backend.fetch(job, tmp_path / "out.mp4")
            return states
        finally:
            await backend.aclose()

    states = asyncio.run(flow())
    assert set(states) <= {JobState.QUEUED, JobState.RUNNING}
    assert probe(tmp_path / "out.mp4").frames == 24


@pytest.mark.slow
def test_a_job_survives_a_restart_of_the_backend(tmp_path: Path) -> None:
    spec = make_spec(duration=0.5)

    async def first() -> str:
        backend = AnimaticBackend(tmp_path / "jobs")
        job = await backend.submit(spec)
        await backend.fetch(job, tmp_path / "one.mp4")
        await backend.aclose()
        return job

    job = asyncio.run(first())
    assert not (tmp_path / "jobs" / job / "clip.mp4").exists()  # handed over: no second copy kept

    async def second() -> None:
        backend = AnimaticBackend(tmp_path / "jobs")  # a new process: it knows the job from its saved spec
        try:
            assert (await backend.poll(job)).state in (JobState.QUEUED, JobState.RUNNING)
            await backend.fetch(job, tmp_path / "two.mp4")
        finally:
            await backend.aclose()

    asyncio.run(second())
    assert (tmp_path / "one.mp4").read_bytes() == (tmp_path / "two.mp4").read_bytes()


def test_unknown_and_failed_jobs_are_reported(tmp_path: Path) -> None:
    missing = make_spec("img2vid", inputs=(MediaInput("image", "0" * 64, path=str(tmp_path / "gone.png")),))

    async def flow() -> None:
        backend = AnimaticBackend(tmp_path / "jobs")
        try:
            status = await backend.poll("f" * 64)
            assert status.state == JobState.FAILED and "unknown" in (status.message or "")
            job = await backend.submit(missing)
            while not (status := await backend.poll(job)).done:
                await asyncio.sleep(0.01)
            assert status.state == JobState.FAILED and "gone.png" in (status.message or "")
            with pytest.raises(BackendError, match="gone.png"):
                await backend.fetch(job, tmp_path / "x.mp4")
        finally:
            await backend.aclose()

    asyncio.run(flow())


@pytest.mark.slow
def test_closing_the_backend_stops_renders_in_progress(tmp_path: Path) -> None:
    async def flow() -> Path:
        backend = AnimaticBackend(tmp_path / "jobs")
        job = await backend.submit(make_spec(duration=30.0))
        await asyncio.sleep(0.05)
        await backend.aclose()
        return tmp_path / "jobs" / job

    job_dir = asyncio.run(flow())
    assert [p.name for p in job_dir.iterdir()] == ["spec.json"]


def test_the_shipped_font_is_found_and_loads() -> None:
    path = font_path()
    assert path.is_file() and path.suffix == ".ttf"
    assert (path.parent / "LICENSE-DejaVu.txt").is_file()
    assert ImageFont.truetype(str(path), 12).getname()[0] == FONT_FAMILY


@pytest.mark.slow
def test_a_720p_clip_of_five_seconds(photo: Path, tmp_path: Path) -> None:
    clip = tmp_path / "hd.mp4"
    render_animatic(
        make_spec("img2vid", move="dolly-in", duration=5.0, inputs=(image_input(photo),), size=(1280, 720)),
        clip,
    )
    facts = probe(clip)
    assert (facts.frames, facts.width, facts.height, facts.fps, facts.has_audio) == (
        120,
        1280,
        720,
        "24",
        True,
    )


@pytest.mark.slow
def test_a_frame_from_another_animatic_does_not_carry_its_caption_band_into_the_next_shot(
    tmp_path: Path,
) -> None:
    # An upstream animatic frame: a red caption band at the bottom, a green label strip at the top.
    w, h = 320, 180
    src = Image.new("RGB", (w, h), (20, 40, 200))
    ImageDraw.Draw(src).rectangle((0, h - 36, w, h), fill=(230, 20, 20))
    ImageDraw.Draw(src).rectangle((0, 0, w, 14), fill=(20, 220, 20))
    path = tmp_path / "upstream-last.png"
    src.save(path)
    chained = MediaInput(role="image", sha256="ab" * 32, path=str(path), frame="last", upstream="mika-turns")
    spec = make_spec(
        "img2vid", inputs=(chained,), params={"camera": {"move": "static"}, "caption": "x"}, size=(w, h)
    )
    out = tmp_path / "walk-away.mp4"
    render_animatic(spec, out)
    frame = Image.open(extract_frame(out, 0.5, tmp_path / "f.png")).convert("RGB")
    r, _, b = frame.crop((w // 2, h - 28, w // 2 + 1, h - 27)).tobytes()  # just above the band
    assert b > 150 and r < 100, (r, b)  # blue, not the old red band
    _, g, b = frame.crop((w - 10, 10, w - 9, 11)).tobytes()  # below where the old label was
    assert b > 150 and g < 120, (g, b)  # blue, not the old green label


def test_each_take_of_a_recipe_is_a_different_clip_that_says_its_number(tmp_path: Path) -> None:
    """Take 1 is what it always was; take 2 differs (its tag says so), so picking another take changes the cut."""
    spec = make_spec("txt2vid")
    first, again, second = tmp_path / "1.mp4", tmp_path / "1b.mp4", tmp_path / "2.mp4"
    render_animatic(spec, first)
    render_animatic(dataclasses.replace(spec, take=1), again)
    render_animatic(dataclasses.replace(spec, take=2), second)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != second.read_bytes()
    a, b = (Image.frombytes("L", (W, H), gray_frames(c, tmp_path)[0]) for c in (first, second))
    tag = (0, 0, W // 2, H // 6)  # the top-left tag is where they differ; the picture is the same recipe
    assert mean_diff(a.crop(tag), b.crop(tag)) > 1.0
    assert mean_diff(picture_area(a.tobytes()), picture_area(b.tobytes())) < 0.5
