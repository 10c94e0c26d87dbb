"""Random damage never gives a traceback: to the example storyboards (exit 0, or exit 2 with file:line:col),
and to the files a built project keeps in .shotlist/ (every command still runs, nothing pinned is lost)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shotlist.lock import read_lock
from tests.shotlist_cli import run_shotlist
from tests.tiny_project import make_built_project, pins_are_kept, run_on_damaged_state

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "projects").glob("*/storyboard.yaml"))
HEAD = re.compile(r"^\S*storyboard\.yaml:\d+:\d+: ")


# --- mutations of the text --------------------------------------------------------------------------

VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.just("pan-left, tilt-up"),
    st.just("../../etc/passwd"),
    st.just("/etc/hosts"),
    st.just("*alias"),
    st.just("&anchor x"),
    st.just("[a, {b: c}]"),
    st.just("{shot: nope, frame: last}"),
    st.just("!!python/object:os.system x"),
    st.just("'unclosed"),
    st.just("{"),
    st.just("- item"),
)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


@st.composite
def text_mutation(draw: st.DrawFn, text: str) -> bytes:
    lines = _lines(text)
    i = draw(st.integers(0, len(lines) - 1))
    kind = draw(
        st.sampled_from(["delete", "duplicate", "tab", "value", "truncate", "indent", "bytes", "swap"])
    )
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "tab":
        col = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:col] + "\t" + lines[i][col:]
    elif kind == "value":
        head, sep, _ = lines[i].partition(": ")
        lines[i] = f"{head}{sep or ': '}{draw(VALUES)}\n"
    elif kind == "indent":
        lines[i] = " " * draw(st.integers(0, 9)) + lines[i].lstrip(" ")
    elif kind == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    raw = "".join(lines).encode("utf-8")
    if kind == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif kind == "bytes":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    return raw


# --- mutations of the data ----------------------------------------------------------------------------


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _places(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _places(v, path + (i,))
    return found


@st.composite
def data_mutation(draw: st.DrawFn, text: str) -> bytes:
    data = yaml.safe_load(text)
    places = [p for p in _places(data) if p]
    for _ in range(draw(st.integers(1, 3))):
        place = draw(st.sampled_from(places))
        parent = data
        for part in place[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["delete", "replace", "rename"]))
        try:
            if action == "delete":
                del parent[place[-1]]
            elif action == "replace":
                parent[place[-1]] = draw(
                    st.one_of(
                        VALUES,
                        st.lists(VALUES, max_size=3),
                        st.dictionaries(st.text(max_size=6), VALUES, max_size=3),
                    )
                )
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = parent.pop(place[-1])
        except (KeyError, IndexError, TypeError):
            pass  # an earlier change in this round removed the place
        places = [p for p in _places(data) if p] or [("version",)]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


def _check(project: Path, raw: bytes) -> None:
    (project / "storyboard.yaml").write_bytes(raw)
    code, out, err = run_shotlist("validate", str(project))
    assert "Traceback" not in out + err
    assert code in (0, 2), (code, out, err)
    if code == 2:
        lines = err.splitlines()
        assert HEAD.match(lines[0]), err
        assert re.fullmatch(r"\d+ problems? in \S*storyboard\.yaml", lines[-1]), err


@pytest.fixture(scope="module", params=[p.parent.name for p in EXAMPLES])
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    source = ROOT / "projects" / request.param
    copy = tmp_path_factory.mktemp(request.param) / request.param
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".shotlist", "out"))
    return copy, (source / "storyboard.yaml").read_text(encoding="utf-8")


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_there_are_example_storyboards_to_damage() -> None:
    assert EXAMPLES, "projects/*/storyboard.yaml: the fuzz tests below need at least one"


@pytest.mark.slow
def test_damaged_storyboards_never_give_a_traceback(example: tuple[Path, str]) -> None:
    project, text = example

    @FUZZ
    @given(st.one_of(text_mutation(text), data_mutation(text)))
    def run(raw: bytes) -> None:
        _check(project, raw)

    run()


def test_the_examples_themselves_validate(example: tuple[Path, str]) -> None:
    project, text = example
    (project / "storyboard.yaml").write_text(text, encoding="utf-8")
    code, out, err = run_shotlist("validate", str(project))
    assert (code, err) == (0, ""), err


# --- damage to the project's state (.shotlist/) -----------------------------------------------------


@st.composite
def byte_damage(draw: st.DrawFn, raw: bytes) -> bytes:
    """Bytes flipped, cut short, or foreign bytes put in: what a bad disk or a bad copy does to a file."""
    kind = draw(st.sampled_from(["flip", "truncate", "insert"]))
    if kind == "truncate" or not raw:
        return raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    at = draw(st.integers(0, len(raw) - 1))
    if kind == "insert":
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    flips = draw(st.lists(st.integers(1, 255), min_size=1, max_size=4))
    out = bytearray(raw)
    for i, x in enumerate(flips):
        out[(at + i * 7) % len(out)] ^= x
    return bytes(out)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_built_project(tmp_path_factory.mktemp("state") / "film")


@pytest.mark.slow
def test_damaged_state_files_never_give_a_traceback_or_lose_a_pin(
    built: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kinds: dict[
        str, list[str]
    ] = {}  # index, journal, objects, hashes.json, …: each kind as likely as the others
    for p in sorted((built / ".shotlist").rglob("*")):
        if p.is_file():
            kinds.setdefault(p.relative_to(built / ".shotlist").parts[0], []).append(
                p.relative_to(built).as_posix()
            )
    files = st.sampled_from(sorted(kinds)).flatmap(lambda kind: st.sampled_from(kinds[kind]))

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(files, st.data())
    def run(name: str, data: st.DataObject) -> None:
        root = tmp_path_factory.mktemp("damaged") / "film"
        shutil.copytree(built, root)
        pinned = {shot: e.clip for shot, e in read_lock(root).entries.items()}
        target = root / name
        target.write_bytes(data.draw(byte_damage(target.read_bytes()), label=name))
        for command, code, output in run_on_damaged_state(root):
            assert code in (0, 1), (command, output)
        pins_are_kept(root, pinned)
        shutil.rmtree(root.parent)

    run()
