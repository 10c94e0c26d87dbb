"""Faults of the machine, not of the storyboard: a read-only project, a full disk, Ctrl-C in a build.

Each ends with a message that names what happened, an exit status and nothing lost; never a traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shotlist import durable
from shotlist.cli import INTERRUPTED
from shotlist.journal import Journal
from shotlist.lock import read_lock
from tests.shotlist_cli import run_shotlist
from tests.tiny_project import make_built_project, make_project

ROOT = Path(__file__).resolve().parent.parent

# `shotlist ARGS` with every model served by the fake backend (jobs in JOBS, each taking LATENCY s).
FAKE_CLI = """\
import sys
from pathlib import Path
import shotlist.pipeline
from shotlist.backends.fake import FakeModels
jobs, latency = Path(sys.argv[1]), float(sys.argv[2])
shotlist.pipeline.CatalogModels = lambda: FakeModels(jobs, latency=latency, price=0.1)
sys.argv = ["shotlist", *sys.argv[3:]]
from shotlist.cli import main
main()
"""


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder of the project with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@contextmanager
def read_only(root: Path) -> Iterator[None]:
    """The project read-only: a read-only bind mount for root (who ignores permissions), else chmod -R a-w."""
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)
        return
    try:
        subprocess.run(["mount", "--bind", str(root), str(root)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("running as root where a read-only bind mount is not allowed")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(root)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(root)], check=True)


# --- a read-only project ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_read_only_project_refuses_to_write_and_still_reads(tmp_path: Path) -> None:
    root = make_built_project(tmp_path / "film")
    before = snapshot(root)
    with read_only(root):
        for command in ("build", "render", "export"):
            code, out, err = run_shotlist(command, str(root), *(["--yes"] if command == "build" else []))
            assert code == 1, (command, out, err)
            assert err.startswith(
                f"cannot write {root / '.shotlist'}" if command != "export" else "cannot write "
            )
            assert f"; {command} changed nothing\n" in err and "Traceback" not in err
            assert "fix: make the project writable (or copy it somewhere writable)" in err
        for words in (["validate"], ["lint"], ["plan"], ["status"], ["prompts"], ["cache", "verify"]):
            code, out, err = run_shotlist(*words, str(root))
            assert code in (0, 1) and "Traceback" not in err, (words, out, err)  # lint may find warnings
            assert "cannot write" not in err
    assert snapshot(root) == before


@pytest.mark.slow
@pytest.mark.parametrize("words", [["pick", "door", "1"], ["lock", "resolve"], ["sheet"]])
def test_every_command_that_writes_says_a_read_only_project_is_read_only(
    tmp_path: Path, words: list[str]
) -> None:
    root = make_built_project(tmp_path / "film")
    before = snapshot(root)
    with read_only(root):
        at = 2 if words[0] == "lock" else len(words)
        code, out, err = run_shotlist(*words[:at], str(root), *words[at:])
    assert code == 1 and "Traceback" not in err, err
    first, *rest = err.splitlines()
    assert first.startswith(f"cannot write {root}") and first.endswith(": the file system is read-only"), err
    assert rest[-1] == (
        "  fix: make the project writable (or copy it somewhere writable) and run it again; "
        "validate, lint, plan, status and cache verify work on a read-only project"
    ), err
    assert snapshot(root) == before


@pytest.mark.slow
def test_a_read_only_project_that_was_never_built_validates_plans_and_lints(tmp_path: Path) -> None:
    root = tmp_path / "kitsune"
    shutil.copytree(
        ROOT / "projects" / "kitsune-dawn", root, ignore=shutil.ignore_patterns(".shotlist", "out")
    )
    with read_only(root):
        for words in (["validate"], ["plan"], ["lint"], ["prompts"]):
            code, out, err = run_shotlist(*words, str(root))
            assert code in (0, 1) and err == "", (words, out, err)  # no cache it could not save is mentioned
    assert not (root / ".shotlist").exists()


def test_a_project_another_user_owns_names_the_user_who_may_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "film")
    access = os.access

    def owned_by_someone_else(path: str | Path, mode: int) -> bool:
        return False if mode == os.W_OK and Path(path).is_relative_to(tmp_path) else access(path, mode)

    monkeypatch.setattr(os, "access", owned_by_someone_else)  # root may write anywhere: say it may not
    code, out, err = run_shotlist("build", str(root), "--yes")
    assert code == 1
    who = durable.why_not_writable(root)
    assert who.startswith("this user (") and who.endswith(") may not write there")
    assert err.splitlines()[0] == f"cannot write {root / '.shotlist'}: {who}; build changed nothing"
    assert not (root / ".shotlist").exists() and not (root / "shotlist.lock").exists()


# --- a full disk ------------------------------------------------------------------------------------------


def test_a_write_that_fails_on_a_full_disk_names_the_file_and_keeps_what_was_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_built_project(tmp_path / "film")
    lock = (root / "shotlist.lock").read_text()
    (root / "storyboard.yaml").write_text(
        (root / "storyboard.yaml").read_text().replace("blue door", "red door")
    )

    def full(path: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(durable, "_sync_file", full)  # every durable write fails as on a full disk
    code, out, err = run_shotlist("build", str(root), "--yes")
    assert code == 1 and "Traceback" not in err
    first, *rest = err.splitlines()
    assert first.startswith(str(root / ".shotlist" / "journal")) and first.endswith(
        ": No space left on device"
    )
    assert rest == [
        "  shotlist writes every file whole, so none was left half-written; takes made before this are stored "
        "and pinned",
        "  fix: free some space on that disk and run it again",
    ]
    assert (root / "shotlist.lock").read_text() == lock
    assert not list((root / ".shotlist").rglob("*.tmp"))


@pytest.mark.slow
def test_a_build_on_a_really_full_disk_stops_with_the_file_and_keeps_the_pins(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)]).returncode
    ):
        pytest.skip("needs root to mount an 8 MB tmpfs")
    try:
        root = make_built_project(disk / "film")
        lock = (root / "shotlist.lock").read_text()
        pinned = read_lock(root).pins()
        (root / "storyboard.yaml").write_text(
            (root / "storyboard.yaml").read_text().replace("blue door", "red door")
        )
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * (free - 4096))
        code, out, err = run_shotlist("build", str(root), "--yes")
        assert code == 1 and "Traceback" not in err
        assert "No space left on device" in err and "fix: free some space on that disk" in err
        assert (root / "shotlist.lock").read_text() == lock
        assert all((root / ".shotlist" / "objects" / sha[:2] / sha).is_file() for sha in pinned)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# --- Ctrl-C ---------------------------------------------------------------------------------------------------


def interrupt_when(proc: subprocess.Popen[str], seen: str, count: int) -> list[str]:
    """Send Ctrl-C (SIGINT to the process group, as a terminal does) once ``seen`` was printed ``count`` times."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while sum(seen in line for line in lines) < count:
        line = proc.stdout.readline()
        assert line and time.monotonic() < deadline, "".join(lines)
        lines.append(line)
    os.killpg(proc.pid, signal.SIGINT)
    return lines


@pytest.mark.slow
def test_ctrl_c_during_a_build_stops_it_with_one_line_and_the_next_build_pays_nothing_twice(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "film")
    driver = tmp_path / "shotlist_fake.py"
    driver.write_text(FAKE_CLI)
    jobs = tmp_path / "jobs"
    proc = subprocess.Popen(
        [sys.executable, str(driver), str(jobs), "60", "build", str(root), "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    interrupt_when(proc, ": submitted (job ", 4)  # every shot but the chained one is in flight
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == INTERRUPTED + "\n"
    submitted = [str(s["take_key"]) for s in _submits(jobs)]
    assert len(submitted) == 4 and len(Journal(root / ".shotlist").entries()) == 4
    again = subprocess.run(
        [sys.executable, str(driver), str(jobs), "0", "build", str(root), "--yes"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("resuming job fake-") == 4
    assert (
        len(_submits(jobs)) == 5
    )  # the four jobs were polled, not paid for again; the chained shot sent once


@pytest.mark.slow
def test_ctrl_c_while_the_animatic_renders_leaves_no_task_exception_behind(tmp_path: Path) -> None:
    root = tmp_path / "film"
    root.mkdir()
    shots = "".join(
        f"  - id: s{i}\n    subject: 'A red kite number {i}'\n    action: 'rises slowly'\n" for i in range(24)
    )
    (root / "storyboard.yaml").write_text(
        "version: 1\noutput: {resolution: 320x180, fps: 24, file: out/c.mp4}\n"
        f"defaults: {{model: animatic, duration: 4}}\nshots:\n{shots}"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "shotlist", "build", str(root), "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: SIGINT reaches the renders' ffmpeg too
        env={**os.environ, "SHOTLIST_DEBUG": ""},
    )
    interrupt_when(proc, ": done (take 1", 2)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == INTERRUPTED + "\n"


def _submits(jobs: Path) -> list[dict[str, object]]:
    from shotlist.backends.fake import FakeBackend

    return FakeBackend(jobs).submits()


# --- an ffmpeg that does not run ------------------------------------------------------------------------------


SAID = {
    "missing": "there is no such file",
    "a text file": "it does not run: Permission denied",
    "a folder": "this is a folder, not a program",
    "not ffmpeg": "it does not answer -version as ffmpeg does (exit status 3)",
}


@pytest.mark.parametrize("kind", list(SAID))
def test_an_unusable_shotlist_ffmpeg_is_named_and_blames_no_input_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    root = tmp_path / "kitsune"
    shutil.copytree(
        ROOT / "projects" / "kitsune-dawn", root, ignore=shutil.ignore_patterns(".shotlist", "out")
    )
    (root / ".shotlist").mkdir()  # a project with a store keeps what it probed in .shotlist/probes.json
    exe = tmp_path / "ffmpeg"
    if kind == "a text file":
        exe.write_text("not a program\n")
    elif kind == "a folder":
        exe.mkdir()
    elif kind == "not ffmpeg":
        exe.write_text("#!/bin/sh\necho 'something else' >&2\nexit 3\n")
        exe.chmod(0o755)
    monkeypatch.setenv("SHOTLIST_FFMPEG", str(exe))
    from shotlist import media

    media.ffmpeg_exe.cache_clear()
    for words in (["validate"], ["build", "--yes"]):
        code, out, err = run_shotlist(*words, str(root))
        assert code == 1 and "Traceback" not in err, (words, err)
        first, fix, *rest = err.splitlines()
        assert first == f"SHOTLIST_FFMPEG={exe}: {SAID[kind]}" and "score.wav" not in err, err
        assert (
            fix
            == "  fix: point SHOTLIST_FFMPEG at an ffmpeg program, or unset it to use the one shotlist ships"
        )
        assert rest == ([f"no cut written: {first}"] if words[0] == "build" else [])
    monkeypatch.delenv("SHOTLIST_FFMPEG")
    media.ffmpeg_exe.cache_clear()
    code, out, err = run_shotlist("validate", str(root))
    assert (code, err) == (0, ""), err  # nothing the broken ffmpeg said about the inputs was kept


# --- an input file this user may not read ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "line"), [("assets/mika-street.png", 72), ("assets/score.wav", 124)])
def test_an_input_file_this_user_may_not_read_is_named_at_its_storyboard_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, line: int
) -> None:
    import builtins

    root = tmp_path / "kitsune"
    shutil.copytree(
        ROOT / "projects" / "kitsune-dawn", root, ignore=shutil.ignore_patterns(".shotlist", "out")
    )
    unreadable = root / name
    real_open = builtins.open

    def refuse(
        file: object, *args: object, **kwargs: object
    ) -> object:  # root reads anything: say it may not
        if str(file) == str(unreadable):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", refuse)
    for command in ("validate", "build"):
        code, out, err = run_shotlist(command, str(root))
        assert code == 2 and "Traceback" not in err, (command, err)
        first, *rest = err.splitlines()
        assert (
            f"storyboard.yaml:{line}:" in first and f"'{name}' cannot be read: Permission denied" in first
        ), err
        assert f"  fix: make it readable by this user (chmod a+r {name})" in rest, err
