"""The review app in a real browser: Debian's Chromium driven by Playwright (its own browser download cannot work here).

One browser and one review server for the module; the tests run in file order and each asserts on
what changed. Skipped when Chromium or Playwright is missing (`.ci/run` installs both).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.review_page import ARGS, CHROMIUM
from shotlist.backends.fake import FakeModels
from shotlist.load import load_project
from shotlist.lock import read_lock
from shotlist.pipeline import BuildOptions, build
from shotlist.review.server import Served, serve
from shotlist.review.static_copy import write_static
from tests.test_review import BOARD, XSS
from tests.tiny_project import TinyProjects, fake, submits

pytestmark = pytest.mark.slow


def launch(playwright: Any) -> Any:
    """Chromium from Debian, headless, with an empty profile of its own."""
    return playwright.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="shotlist-chromium-"),
        executable_path=CHROMIUM,
        headless=True,
        args=ARGS,
        viewport={"width": 1280, "height": 900},
    )


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    """Started after the project is built: Playwright's sync API holds an event loop in this thread."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        context = launch(p)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FakeModels]:
    root = TinyProjects(tmp_path_factory.mktemp("review"))(name="p", storyboard=BOARD)
    models = fake(root, looks={"door": ["moving", "solid"]})
    build(root, BuildOptions(models=models, yes=True, takes=2, preview=True))
    return root, models


@pytest.fixture(scope="module")
def served(project: tuple[Path, FakeModels]) -> Iterator[Served]:
    root, models = project
    s = serve(root, models=models)
    s.start()
    yield s
    s.stop()


def wait_for(check: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def wait_js(page: Any, expression: str, seconds: float = 60.0) -> None:
    """Poll a JavaScript expression (Playwright's wait_for_function needs eval, which the page's CSP forbids)."""

    def true() -> bool:
        try:
            return bool(page.evaluate(expression))
        except Exception as exc:  # the page is navigating (it reloads itself): ask again
            if "navigation" not in str(exc) and "context" not in str(exc):
                raise
            return False

    wait_for(true, seconds)


def plays(page: Any) -> float:
    """Play the cut; the time it reached (the browser really decodes it)."""
    page.evaluate("document.getElementById('cut').muted = true; document.getElementById('cut').play()")
    wait_js(page, "document.getElementById('cut').currentTime > 0.5", 20)
    return float(page.evaluate("document.getElementById('cut').currentTime"))


def test_the_page_shows_every_shot_and_take_and_the_cut_plays(browser: Any, served: Served) -> None:
    dialogs: list[str] = []
    page = browser.new_page()

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(served.url)
    assert page.locator("section.shot").count() == 3
    assert page.locator(".strip .tile").count() == 3
    assert page.locator("section.shot .take").count() == 6  # --takes 2: two of each shot
    assert page.locator("#shot-door .take.pinned").count() == 1
    assert plays(page) > 0.5
    # the XSS prompt is text on the page, and nothing ran
    assert XSS in page.locator("#shot-kite pre.prompt").inner_text()
    assert dialogs == []
    # A/B: door's two takes side by side, playing from the same time
    for box in page.locator("#shot-door .abpick").all():
        box.check()
    assert page.locator("#shot-door .ab .pair video").count() == 2
    page.locator("#shot-door .ab-play").click()
    wait_js(
        page,
        "Array.from(document.querySelectorAll('#shot-door .ab video')).every(v => v.currentTime > 0.3)",
        20,
    )
    a, b = page.evaluate(
        "Array.from(document.querySelectorAll('#shot-door .ab video')).map(v => v.currentTime)"
    )
    assert abs(a - b) < 0.25
    page.close()


def test_picking_a_take_rewrites_the_lock_and_reloads_the_player(
    browser: Any, served: Served, project: tuple[Path, FakeModels]
) -> None:
    root, _ = project
    before = read_lock(root).entries["door"]
    page, other_tab = browser.new_page(), browser.new_page()  # a second tab on the same page follows too
    for tab in (page, other_tab):
        tab.goto(served.url)
        tab.evaluate("window.notReloaded = true")
    other = page.locator("#shot-door .take:not(.pinned)")
    clip = other.get_attribute("data-clip")
    other.locator("button.pick").click()
    wait_for(lambda: read_lock(root).entries["door"].clip == clip)
    assert read_lock(root).entries["door"].take != before.take
    # the lock changed and the cut re-rendered: the page (and its player) reloaded
    wait_js(page, "window.notReloaded === undefined")
    page.wait_for_selector(f'#shot-door .take.pinned[data-clip="{clip}"]', timeout=20000)
    assert plays(page) > 0.5
    wait_js(other_tab, "window.notReloaded === undefined")
    other_tab.wait_for_selector(f'#shot-door .take.pinned[data-clip="{clip}"]', timeout=20000)
    page.close()
    other_tab.close()


def test_new_takes_show_their_cost_and_are_made_once_confirmed(
    browser: Any, served: Served, project: tuple[Path, FakeModels]
) -> None:
    root, models = project
    made = len(submits(models))
    page = browser.new_page()
    page.goto(served.url)
    form = page.locator('form.more[data-shot="bench"]')
    form.locator("input[name=takes]").fill("1")
    form.locator("button[type=submit]").click()
    cost = form.locator(".cost-text")
    cost.wait_for(state="visible")
    assert cost.inner_text() == "1 new take of bench with animatic: $0.10"
    assert len(submits(models)) == made  # nothing is spent before the confirm
    page.evaluate("window.notReloaded = true")
    form.locator("button.go").click()
    wait_js(page, "window.notReloaded === undefined")
    wait_for(lambda: len(submits(models)) == made + 1)
    page.wait_for_selector("#shot-bench .take >> nth=2", timeout=20000)
    assert page.locator("#shot-bench .take").count() == 3
    page.close()


def test_the_static_copy_opens_from_disk_and_plays(
    browser: Any, project: tuple[Path, FakeModels], tmp_path: Path
) -> None:
    root, models = project
    index = write_static(load_project(root), tmp_path / "copy", models)
    shutil.move(str(tmp_path / "copy"), str(tmp_path / "moved"))  # relative paths: it works anywhere
    page = browser.new_page()
    page.goto((tmp_path / "moved" / index.name).as_uri())
    assert page.locator("section.shot").count() == 3
    assert page.locator("button.pick").count() == 0  # read-only
    assert plays(page) > 0.5
    page.close()


def test_a_page_of_100_shots_with_3_takes_each_loads_quickly(browser: Any, tmp_path: Path) -> None:
    """Every shot and take is on the page; `bench/review_page.py` measures the 1 s target on a quiet machine."""
    from bench.review_page import scale_project  # the benchmark's project, measured here too

    served = serve(scale_project(tmp_path / "scale", 100, 3))
    served.start()
    try:
        page = browser.new_page()
        page.goto(served.url)  # the first visit builds the page; the next ones are what a reviewer waits for
        times = []
        for _ in range(3):
            page.goto(served.url, wait_until="load")
            times.append(
                page.evaluate(
                    "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()"
                )
                / 1000
            )
        assert page.locator("section.shot").count() == 100
        assert page.locator("section.shot .take").count() == 300
        assert sorted(times)[1] < 2.0, times  # generous: the suite runs beside other work
        page.close()
    finally:
        served.stop()


def test_a_page_whose_server_restarted_says_to_open_the_new_url(
    browser: Any, project: tuple[Path, FakeModels]
) -> None:
    """A tab left open across a restart holds the old token: it says so instead of 'Forbidden'."""
    root, models = project
    first = serve(root, models=models)
    first.start()
    page = browser.new_page()
    page.goto(first.url)
    first.stop()
    second = serve(root, port=first.port, models=models)  # the same address, a new token
    second.start()
    try:
        page.locator("#shot-door .take button.reject").first.click()
        status = page.locator("#status")
        wait_for(lambda: "token" in status.inner_text(), 20)
        said = status.inner_text()  # the refused action's message, or the event stream's: both say it
        assert "token" in said and "valid" in said and "shotlist review" in said, said
    finally:
        page.close()
        second.stop()


def test_a_strip_tile_opened_from_the_keyboard_shows_its_shot_below_the_header(
    browser: Any, served: Served
) -> None:
    page = browser.new_page()
    page.goto(served.url)
    page.locator('.strip a[data-shot="door"]').focus()
    page.keyboard.press("Enter")
    wait_js(page, "location.hash === '#shot-door'", 10)
    page.wait_for_timeout(300)  # the jump
    heading, header = page.evaluate(
        "[document.querySelector('#shot-door h2').getBoundingClientRect().top,"
        " document.querySelector('header.top').getBoundingClientRect().bottom]"
    )
    assert heading >= header, (heading, header)  # the sticky header does not cover the shot's id
    page.close()
