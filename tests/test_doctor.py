"""`shotlist doctor`: what it finds, that it never prints a key, and when it fails."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shotlist import media
from shotlist.catalog import catalog
from shotlist.cli import app
from shotlist.cli.doctor import check_comfyui, check_prices, comfyui_urls, missing_keys
from shotlist.errors import StoryboardError
from tests.fakes.server import FakeProvider, Response
from tests.media_factory import Media
from tests.tiny_project import TinyProjects

runner = CliRunner()
KEY_NAMES = sorted({n for e in catalog().values() for n in e.env} | {"GOOGLE_API_KEY"})


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in [*KEY_NAMES, "SHOTLIST_COMFYUI_URLS", "SHOTLIST_FFMPEG"]:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


@pytest.fixture
def fresh_ffmpeg_lookup() -> Iterator[None]:
    """ffmpeg's path and abilities are cached per process: forget them around a test that changes them."""
    for f in (media.ffmpeg_exe, media.ffmpeg_version, media.available):
        f.cache_clear()
    yield
    for f in (media.ffmpeg_exe, media.ffmpeg_version, media.available):
        f.cache_clear()


def test_doctor_names_the_keys_that_are_set_and_missing_but_never_their_values(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("ARK_API_KEY", "ark-very-secret-value-123")
    clean_env.setenv("GOOGLE_API_KEY", "google-very-secret-value-456")  # stands in for GEMINI_API_KEY
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^ok\s+keys\s+ark: ARK_API_KEY set", result.output, re.M)
    assert re.search(r"^ok\s+keys\s+veo: GEMINI_API_KEY set", result.output, re.M)
    assert re.search(
        r"^warn\s+keys\s+minimax: MINIMAX_API_KEY not set — minimax/hailuo-02", result.output, re.M
    )
    assert re.search(r"^warn\s+keys\s+kling: KLING_ACCESS_KEY, KLING_SECRET_KEY not set", result.output, re.M)
    assert "very-secret" not in result.output
    assert re.search(r"^ok\s+ffmpeg\s+ffmpeg \S+ with every filter", result.output, re.M)
    assert "openai" not in result.output  # a shut-down provider needs no key


def test_doctor_says_the_animatic_still_builds_when_no_key_is_set(clean_env: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0 and "the animatic backend still builds every shot offline" in result.output


def test_doctor_fails_when_ffmpeg_is_missing(
    clean_env: pytest.MonkeyPatch, fresh_ffmpeg_lookup: None, tmp_path: Path
) -> None:
    clean_env.setenv("SHOTLIST_FFMPEG", str(tmp_path / "no-ffmpeg-here"))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert re.search(r"^fail\s+ffmpeg\s+no usable ffmpeg", result.output, re.M)
    assert "doctor: 1 problem," in result.output


@pytest.mark.slow
def test_doctor_asks_every_configured_comfyui_server(clean_env: pytest.MonkeyPatch) -> None:
    server = FakeProvider()
    server.route(
        "GET",
        r"/system_stats",
        lambda req, m: Response(
            200,
            {
                "system": {"os": "posix", "comfyui_version": "0.3.64", "python_version": "3.11"},
                "devices": [{"name": "cpu", "type": "cpu"}],
            },
        ),
    )
    with server:
        clean_env.setenv("SHOTLIST_COMFYUI_URLS", f"{server.url}/, http://127.0.0.1:9")
        result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0  # a ComfyUI box that is down is a warning, not a broken install
    assert re.search(
        rf"^ok\s+comfyui\s+{re.escape(server.url)} answers \(ComfyUI 0\.3\.64; cpu\)", result.output, re.M
    )
    assert re.search(r"^warn\s+comfyui\s+http://127\.0\.0\.1:9 does not answer", result.output, re.M)
    assert [r.path for r in server.log] == ["/system_stats"]


def test_doctor_checks_the_default_comfyui_server_when_none_is_named(
    clean_env: pytest.MonkeyPatch,
) -> None:
    server = FakeProvider()
    server.route(
        "GET",
        r"/system_stats",
        lambda req, m: Response(
            200, {"system": {"comfyui_version": "0.3.64"}, "devices": [{"name": "cuda:0"}]}
        ),
    )
    clean_env.delenv("SHOTLIST_COMFYUI_URLS", raising=False)
    with server:
        clean_env.setattr("shotlist.backends.comfyui.DEFAULT_URL", server.url)  # stands for 127.0.0.1:8188
        result = runner.invoke(app, ["doctor"])
    assert re.search(
        rf"^ok\s+comfyui\s+{re.escape(server.url)} answers \(ComfyUI 0\.3\.64; cuda:0\) \(the default;",
        result.output,
        re.M,
    ), result.output
    clean_env.setattr("shotlist.backends.comfyui.DEFAULT_URL", "http://127.0.0.1:9")
    quiet = runner.invoke(app, ["doctor"])
    assert re.search(r"^ok\s+comfyui\s+no ComfyUI at http://127\.0\.0\.1:9, the default", quiet.output, re.M)
    assert comfyui_urls("") == ["http://127.0.0.1:9"]


def test_comfyui_urls_are_split_on_commas_and_spaces_and_credentials_are_not_shown() -> None:
    assert comfyui_urls(" http://a:8188/, http://b:8188  http://c ") == [
        "http://a:8188",
        "http://b:8188",
        "http://c",
    ]
    [found] = check_comfyui(["http://user:hunter22@127.0.0.1:9"], timeout=0.5)
    assert found.level == "warn" and "hunter22" not in found.detail


def test_prices_older_than_ninety_days_are_warned_about() -> None:
    entries = list(catalog().values())
    [fresh] = check_prices(entries, dt.date(2026, 11, 30))
    assert fresh.level == "ok" and "marked as estimates" in fresh.detail
    [stale] = check_prices(entries, dt.date(2027, 6, 1))
    assert stale.level == "warn" and "ark/seedance-1.0-lite (2026-11-23)" in stale.detail
    assert "openai/sora-2" not in stale.detail and "animatic" not in stale.detail


def test_a_key_alias_counts_for_the_name_it_stands_in_for() -> None:
    veo = catalog()["veo/veo-3.0"]
    assert missing_keys(veo, {}) == ["GEMINI_API_KEY"]
    assert missing_keys(veo, {"GOOGLE_API_KEY": "x"}) == []
    kling = catalog()["kling/v1-std"]
    assert missing_keys(kling, {"KLING_ACCESS_KEY": "a"}) == ["KLING_SECRET_KEY"]


def test_a_storyboard_asking_for_sora_is_told_it_is_shut_down(tiny_project: TinyProjects) -> None:
    root = tiny_project(
        "version: 1\ntitle: T\noutput: {resolution: 720p, aspect: '16:9', fps: 24, file: out/t.mp4}\n"
        "shots:\n  - id: mask\n    mode: txt2vid\n    model: openai/sora-2\n    duration: 4\n"
        "    subject: A carved kitsune mask\n    action: rests on moss-covered stone\n"
    )
    result = runner.invoke(app, ["validate", str(root)])  # shotlist.cli.main turns this error into exit 2
    assert isinstance(result.exception, StoryboardError) and result.exception.exit_code == 2
    assert "shots[0].model: Sora 2 (OpenAI) is shut down: OpenAI shut the Sora API down on 2026-09-24" in str(
        result.exception
    )


def _smoke_module() -> Any:
    path = Path(__file__).resolve().parent.parent / "scripts" / "smoke_live.py"
    spec = importlib.util.spec_from_file_location("smoke_live", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["smoke_live"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_live_smoke_test_without_keys_spends_nothing(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setattr(sys, "argv", ["smoke_live.py"])
    assert _smoke_module().main() == 0
    out = capsys.readouterr().out
    assert "skip  kling: set KLING_ACCESS_KEY, KLING_SECRET_KEY to include it" in out
    assert "nothing to generate (this costs nothing)" in out


@pytest.mark.slow
def test_the_live_smoke_test_makes_one_clip_per_configured_provider(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, media: Media, capsys: pytest.CaptureFixture[str]
) -> None:
    from shotlist.backends.ark import ArkBackend
    from shotlist.backends.kling import KlingBackend
    from shotlist.backends.minimax import MiniMaxBackend
    from shotlist.backends.veo import VeoBackend
    from tests.fakes.ark import FakeArk
    from tests.fakes.kling import FakeKling
    from tests.fakes.minimax import FakeMiniMax
    from tests.fakes.veo import FakeVeo

    video = media.clip(seconds=1).read_bytes()
    for cls in (ArkBackend, VeoBackend, MiniMaxBackend, KlingBackend):
        clean_env.setattr(cls, "poll_interval", 0.01)
    ark, veo, mm, kling = (
        FakeArk(video=video),
        FakeVeo(video=video),
        FakeMiniMax(video=video),
        FakeKling(video=video),
    )
    with ark, veo, mm, kling:
        for name, value in {
            "ARK_API_KEY": ark.key,
            "VOLCENGINE_ARK_API_KEY": ark.key,
            "SHOTLIST_ARK_URL": ark.base,
            "GEMINI_API_KEY": veo.key,
            "SHOTLIST_VEO_URL": veo.url,
            "MINIMAX_API_KEY": mm.key,
            "SHOTLIST_MINIMAX_URL": mm.url,
            "KLING_ACCESS_KEY": kling.access_key,
            "KLING_SECRET_KEY": kling.secret_key,
            "SHOTLIST_KLING_URL": kling.base,
        }.items():
            clean_env.setenv(name, value)
        clean_env.setattr(sys, "argv", ["smoke_live.py", "--out", str(tmp_path / "out")])
        assert _smoke_module().main() == 0, capsys.readouterr().out
        submits = [len(f.submits()) for f in (veo, mm, kling)] + [len(ark.submits())]
    out = capsys.readouterr().out
    assert submits == [1, 1, 1, 2]  # one clip per provider; BytePlus and Volcengine are two
    for model in (
        "ark/seedance-1.0-lite",
        "volcengine/seedance-1.0-pro",
        "veo/veo-3.1-fast",
        "minimax/hailuo-02",
        "kling/v1-std",
    ):
        assert re.search(
            rf"^ok\s+{re.escape(model)}: \S+\.mp4 320x180 24 fps 1\.00 s h264 \+audio", out, re.M
        ), out
    assert "(reported)" in out and "(estimate)" in out  # Ark reports tokens; the others are estimated
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 5
