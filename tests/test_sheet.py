"""Contact sheets (`shotlist sheet`) and continuity sheets as references (`refs: [{sheet: …}]`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.errors import StoryboardError
from shotlist.load import load_project
from shotlist.sheet import GRID, cells, continuity_key
from shotlist.store import Store
from shotlist.takes import pick, takes_by_shot
from tests.tiny_project import STORYBOARD, TinyProjects, actions, fake, plan, run

SHEETED = (
    STORYBOARD
    + """\
  - id: together
    mode: ref2vid
    subject: "The kite above the blue door"
    action: "drifts slowly across the frame"
    refs: [{sheet: [street, walk]}]
  - id: after
    mode: ref2vid
    subject: "The bench at dusk"
    action: "sits still as leaves fall slowly"
    refs: [{sheet: previous}]
"""
)


def test_nine_cells_are_shared_by_how_long_each_shot_plays() -> None:
    assert cells([5.0, 5.0]) == [5, 4] or cells([5.0, 5.0]) == [4, 5]
    assert sum(cells([5.0, 5.0])) == 9
    assert cells([8.0, 1.0]) == [8, 1]  # every shot gets at least one cell
    assert cells([1.0] * 12) == [1] * 9 + [0] * 3
    assert cells([3.0]) == [9]
    assert continuity_key([("a" * 64, 5.0)]) != continuity_key([("b" * 64, 5.0)])


@pytest.mark.slow
def test_contact_sheet_has_a_row_per_shot_and_reuses_its_strips(
    tmp_path: Path, tiny_project: TinyProjects
) -> None:
    root = tiny_project(name="p")
    run(root, fake(root), takes=2)
    runner = CliRunner()
    out = runner.invoke(app, ["sheet", str(root), "-o", str(tmp_path / "sheet.png")])
    assert out.exit_code == 0, out.output
    assert "5 rows" in out.output
    one = Image.open(tmp_path / "sheet.png")
    strips = sorted((root / ".shotlist" / "sheets").glob("*.png"))
    assert len(strips) == 5 and Image.open(strips[0]).width == 3 * 320  # first, middle, last frame
    stamps = [p.stat().st_mtime_ns for p in strips]
    every = runner.invoke(app, ["sheet", str(root), "--takes", "-o", str(tmp_path / "all.png")])
    assert "10 rows" in every.output
    assert [p.stat().st_mtime_ns for p in strips] == stamps  # cached by clip hash: not made again
    assert Image.open(tmp_path / "all.png").height > one.height


@pytest.mark.slow
def test_a_continuity_sheet_waits_for_its_shots_and_a_repick_replans_the_shot(
    tiny_project: TinyProjects,
) -> None:
    root = tiny_project(name="p", storyboard=SHEETED)
    models = fake(root)
    result = run(root, models, takes=2)
    assert result.ok and {"together", "after"} <= set(result.made)
    store = Store(root)
    sheets = list((store.dir / "sheets").glob("*.continuity"))
    assert len(sheets) == 2  # [street, walk] and previous (= together)
    grid = Image.open(store.object_path(sheets[0].read_text().strip()))
    assert grid.width == GRID * 426 and grid.height == GRID * 240
    assert actions(plan(root, models)) == dict.fromkeys(
        ["kite", "street", "walk", "door", "end", "together", "after"], "pinned"
    )
    # picking the other take of `walk` changes the sheet `together` is given
    other = next(t for _, t in takes_by_shot(store)["walk"] if t.take == 1)
    pick(root, "walk", other.take, models=models)
    again = {s.shot: s for s in plan(root, models).shots}
    assert again["together"].action == "cached" or again["together"].action == "generate"
    assert any("continuity sheet of street, walk" in r for r in again["together"].reasons), again[
        "together"
    ].reasons
    assert again["after"].action in ("generate", "cached")


def test_a_sheet_names_earlier_shots_only(tmp_path: Path, tiny_project: TinyProjects) -> None:
    root = tiny_project(
        name="p",
        storyboard=STORYBOARD.replace(
            "    camera: static\n", "    camera: static\n    refs: [{sheet: previous}]\n", 1
        ),
    )
    with pytest.raises(StoryboardError) as err:
        load_project(root)
    assert "the first shot has no previous shot" in str(err.value) and "storyboard.yaml:" in str(err.value)
    root = tiny_project(
        name="q", storyboard=SHEETED.replace("[{sheet: [street, walk]}]", "[{sheet: [street, after]}]")
    )
    with pytest.raises(StoryboardError) as err:
        load_project(root)
    assert "shot 'after' comes later" in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("damage", [b"", b"\x89PNG\r\n\x1a\n cut short", b"\x00\xff junk"])
def test_a_damaged_strip_in_the_cache_is_made_again_with_a_note(
    tmp_path: Path, tiny_project: TinyProjects, damage: bytes
) -> None:
    from tests.shotlist_cli import run_shotlist

    root = tiny_project(name="p")
    run(root, fake(root))
    assert run_shotlist("sheet", str(root), "-o", str(tmp_path / "one.png"))[0] == 0
    strip = sorted((root / ".shotlist" / "sheets").glob("*.png"))[0]
    strip.write_bytes(damage)
    code, out, err = run_shotlist("sheet", str(root), "-o", str(tmp_path / "two.png"))
    assert (code, err) == (0, f"note: .shotlist/sheets/{strip.name} (a contact sheet strip) was damaged: "
                                "discarded; it is rebuilt as needed\n"), err  # fmt: skip
    assert Image.open(tmp_path / "two.png").tobytes() == Image.open(tmp_path / "one.png").tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("damage", [b"\xff\xfe\x00", b"../../../storyboard.yaml\n", b"0" * 64 + b"\n"])
def test_a_damaged_continuity_sheet_reference_is_made_again_and_never_followed(
    tiny_project: TinyProjects, damage: bytes
) -> None:
    from shotlist.lock import read_lock
    from shotlist.salvage import notes_to
    from shotlist.sheet import continuity_sheet

    root = tiny_project(name="p")
    run(root, fake(root))
    store = Store(root)
    pins = read_lock(root).entries
    parts = [(pins["street"].clip, 4.0), (pins["walk"].clip, 4.0)]
    made = continuity_sheet(store, parts)
    ref = next((store.dir / "sheets").glob("*.continuity"))
    ref.write_bytes(damage)
    notes: list[str] = []
    with notes_to(notes.append):
        again = continuity_sheet(store, parts)
    assert again == made and Image.open(again).size == (GRID * 426, GRID * 240)
    said = (
        f".shotlist/sheets/{ref.name} (a continuity sheet's name in the store) was damaged: discarded; "
        "it is rebuilt as needed"
    )
    stale = damage == b"0" * 64 + b"\n"  # a name of no stored object is only out of date, not damage
    assert notes == ([] if stale else [said])
