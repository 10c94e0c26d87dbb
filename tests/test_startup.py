"""A build with nothing to do does as little as it can: what it keeps between commands, and that each kept
thing is dropped the moment what it was made from changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shotlist import media
from tests.tiny_project import TinyProjects, edit

pytestmark = pytest.mark.slow

#: Builds the project named on the command line with the animatic, then says which heavy modules it imported.
PROBE = """\
import sys
from shotlist.pipeline import build, BuildOptions
result = build(sys.argv[1], BuildOptions(yes=True))
assert result.ok and result.cut is not None, result.failures
heavy = ("jinja2", "shotlist.templating", "shotlist.edit", "shotlist.generate", "asyncio", "PIL", "filelock")
print(" ".join(m for m in heavy if m in sys.modules))
"""


def imported(root: Path) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(root)], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_a_build_with_nothing_to_do_renders_no_prompt_no_cut_and_opens_no_image(
    tiny_project: TinyProjects,
) -> None:
    root = tiny_project()
    assert {"jinja2", "shotlist.edit", "shotlist.generate", "PIL"} <= imported(root)  # the first makes all
    # Loading a project writes nothing into it, so its images' facts are kept from the second build on
    # (the first made .shotlist/); from then on a build with nothing to do finds every prompt, every
    # image's facts and the cut it made.
    assert imported(root) == {"PIL"}
    assert imported(root) == set()


def test_an_edited_template_renders_its_prompts_again(tiny_project: TinyProjects) -> None:
    root = tiny_project(files={"templates/generic.j2": "{{ shot.subject }} rises. No jitter."})
    imported(root)
    (root / "templates" / "generic.j2").write_text("{{ shot.subject }} falls. No jitter.")
    assert "jinja2" in imported(root)  # not the kept prompt: the template it came from changed
    lock = (root / "shotlist.lock").read_text()
    kept = json.loads((root / ".shotlist" / "prompts.json").read_text())
    assert all("falls" in text for text, _ in kept.values()) and "kite" in lock


def test_a_changed_image_is_opened_again(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    imported(root)
    (root / "assets" / "street.png").write_text("not a picture any more")
    out = subprocess.run(
        [sys.executable, "-m", "shotlist", "validate", str(root)], capture_output=True, text=True
    )
    assert out.returncode == 2 and "'assets/street.png' is not a PNG, JPEG or WebP image" in out.stderr


def test_a_storyboard_edit_to_the_cut_alone_renders_the_cut_again(tiny_project: TinyProjects) -> None:
    root = tiny_project()
    imported(root), imported(root)
    edit(root, "type: dissolve, duration: 0.25", "type: wipeleft, duration: 0.25")
    assert imported(root) == {"shotlist.edit"}  # no prompt changed, no shot generated: only the cut is made
    assert imported(root) == set()


def test_what_ffmpeg_answered_is_kept_per_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for cached in (media._known, media.ffmpeg_exe, media.ffmpeg_version, media.available):
        cached.cache_clear()
    version = media.ffmpeg_version()
    encoders = media.available("encoders")
    kept = json.loads((tmp_path / "shotlist" / "ffmpeg.json").read_text())
    exe = kept["exe"][0]
    [facts] = [v for k, v in kept.items() if k.startswith(exe + "|")]
    assert facts["version"] == version and set(facts["encoders"]) == encoders and "libx264" in encoders
    for cached in (media._known, media.ffmpeg_exe, media.ffmpeg_version, media.available):
        cached.cache_clear()
    asked: list[tuple[str, ...]] = []

    def asking(*args: str) -> str:
        asked.append(args)
        return ""

    monkeypatch.setattr(media, "_ffmpeg_says", asking)
    assert media.ffmpeg_version() == version and asked == []  # the kept answer, no process
