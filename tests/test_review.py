"""The review app without a browser: who may ask it anything, what the page says, and the actions' API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shotlist.backends.fake import FakeModels
from shotlist.load import load_project
from shotlist.lock import read_lock
from shotlist.review.server import serve
from shotlist.review.static_copy import write_static
from shotlist.store import Store
from shotlist.takes import takes_by_shot
from tests.tiny_project import TinyProjects, fake, run

pytestmark = pytest.mark.slow  # real (tiny) encodes

XSS = "<script>alert(1)</script>"
BOARD = f"""\
version: 1
title: "Review <b>me</b>"
output: {{resolution: 160x90, fps: 12, file: out/review.mp4}}
defaults: {{model: animatic, duration: 1}}
shots:
  - id: kite
    subject: "{XSS}"
    action: "rises slowly over a green hill"
  - id: door
    subject: "A blue door"
    action: "swings slowly open"
    transition: {{type: dissolve, duration: 0.25}}
  - id: bench
    subject: "An empty bench"
    action: "sits under a slowly swaying tree"
"""


@dataclass
class Site:
    """A running review server: a client for it, its token and host, the project folder."""

    client: httpx.Client
    token: str
    host: str
    root: Path
    models: FakeModels


@pytest.fixture
def site(tiny_project: TinyProjects) -> Iterator[Site]:
    """A real review server on a free loopback port."""
    root = tiny_project(name="p", storyboard=BOARD)
    models = fake(root, looks={"door": ["moving", "black"]})
    run(root, models, takes=2)
    served = serve(root, models=models)
    served.start()
    host = f"127.0.0.1:{served.port}"
    try:
        with httpx.Client(base_url=f"http://{host}", timeout=30) as c:
            yield Site(c, served.token, host, root, models)
    finally:
        served.stop()


def test_every_request_needs_the_token_this_host_and_this_origin(site: Site) -> None:
    client, token = site.client, site.token
    assert client.get(f"/?token={token}").status_code == 200
    assert client.get("/").status_code == 403
    assert client.get("/?token=guess").status_code == 403
    assert client.get("/static/review.js").status_code == 403  # the page's own files too
    assert (
        client.get(f"/?token={token}", headers={"host": "evil.example"}).status_code == 403
    )  # DNS rebinding
    refused = client.post(
        "/api/reject",
        json={"shot": "door", "clip": "0" * 64, "rejected": True},
        headers={"x-shotlist-token": token, "origin": "http://evil.example"},
    )
    assert refused.status_code == 403 and "another site" in refused.text
    cross = client.get(f"/?token={token}", headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    page = client.get(f"/?token={token}")
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_user_strings_are_escaped_and_nothing_is_fetched_from_elsewhere(site: Site) -> None:
    client, token = site.client, site.token
    html = client.get(f"/?token={token}").text
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>me</b>" not in html and "Review &lt;b&gt;me&lt;/b&gt;" in html
    assert "http://" not in html and "https://" not in html  # no CDN: every URL is this server's
    assert "storyboard.yaml:6" in html and "storyboard.yaml:9" in html  # each shot's line


def test_pick_reject_and_estimate_through_the_api(site: Site) -> None:
    client, token = site.client, site.token
    root = site.root
    store = Store(root)
    takes = {t.take: t for _, t in takes_by_shot(store)["door"]}
    assert read_lock(root).entries["door"].take == 2
    headers = {"x-shotlist-token": token}
    bad = client.post("/api/pick", json={"shot": "nope", "clip": takes[1].sha256}, headers=headers)
    assert bad.status_code == 409 and "no shot 'nope'" in bad.json()["error"]
    r = client.post("/api/pick", json={"shot": "door", "clip": takes[1].sha256}, headers=headers)
    assert r.status_code == 200 and "pinned take 1" in r.json()["message"]
    assert read_lock(root).entries["door"].clip == takes[1].sha256
    r = client.post(
        "/api/reject", json={"shot": "door", "clip": takes[2].sha256, "rejected": True}, headers=headers
    )
    assert r.status_code == 200 and takes[2].sha256.encode() in (store.dir / "rejected.json").read_bytes()
    assert store.has_object(takes[2].sha256)  # rejected, never deleted
    quote = client.post("/api/estimate", json={"shot": "door", "takes": 3}, headers=headers).json()
    assert quote["cost"] == pytest.approx(0.3) and quote["text"] == "3 new takes of door with animatic: $0.30"
    busy = client.post("/api/pick", json={"shot": "door", "clip": takes[2].sha256}, headers=headers)
    assert busy.status_code in (200, 409)  # 409 while the cut still renders: one job at a time
    wrong = client.post("/api/generate", json={"shot": "door", "takes": 3, "cost": 0.1}, headers=headers)
    assert wrong.status_code == 409 and "the cost changed to $0.30" in wrong.json()["error"]
    assert client.post("/api/pick", content=b"shot=door", headers=headers).status_code == 415
    # a value of the wrong kind is refused, never read as its truthiness ("false" is not a yes)
    odd = client.post(
        "/api/reject", json={"shot": "door", "clip": takes[1].sha256, "rejected": "false"}, headers=headers
    )
    assert (
        odd.status_code == 400 and takes[1].sha256.encode() not in (store.dir / "rejected.json").read_bytes()
    )
    assert (
        client.post("/api/estimate", json={"shot": "door", "takes": 2.5}, headers=headers).status_code == 400
    )
    # a take of another shot, or no take at all, is not recorded against this one (a stale page, a typo)
    for clip in ("0" * 64, takes_by_shot(store)["kite"][0][1].sha256):
        stray = client.post(
            "/api/reject", json={"shot": "door", "clip": clip, "rejected": True}, headers=headers
        )
        assert stray.status_code == 409 and "door has no take" in stray.json()["error"]
        assert clip.encode() not in (store.dir / "rejected.json").read_bytes()


def test_media_is_served_by_hash_only(site: Site) -> None:
    client, token = site.client, site.token
    store = Store(site.root)
    sha = next(t.sha256 for _, t in takes_by_shot(store)["door"])
    clip = client.get(f"/clip/{sha}.mp4?token={token}")
    assert clip.status_code == 200 and clip.content == store.object_path(sha).read_bytes()
    poster = client.get(f"/poster/{sha}.jpg?token={token}")
    assert poster.status_code == 200 and poster.content[:2] == b"\xff\xd8"
    assert client.get(f"/clip/..%2Fstoryboard.yaml.mp4?token={token}").status_code == 404
    assert client.get(f"/clip/{'0' * 64}.mp4?token={token}").status_code == 404
    assert client.get(f"/static/app.py?token={token}").status_code == 404


def test_the_command_prints_a_tokened_loopback_url_and_ctrl_c_stops_it(tiny_project: TinyProjects) -> None:
    import signal
    import subprocess
    import sys
    import time

    root = tiny_project(name="p", storyboard=BOARD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shotlist", "review", str(root), "--no-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" at ")[1].strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never answered"
            time.sleep(0.2)
        # an open page always holds its event stream: Ctrl-C must end it, not wait for it and cancel it
        events = httpx.stream("GET", url.replace("/?", "/events?"), timeout=30)
        lines = events.__enter__().iter_lines()  # kept: dropping the iterator would close the stream
        assert next(lines) == ": connected"
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, _ = proc.communicate(timeout=30)
        stopping = time.monotonic() - start
        events.__exit__(None, None, None)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "review stopped" in out
    assert "Traceback" not in out and "ERROR" not in out, out
    assert stopping < 2.0  # uvicorn gives open requests 2 s, then cancels them with an error


def test_a_storyboard_that_does_not_load_is_shown_with_its_line(site: Site) -> None:
    path = site.root / "storyboard.yaml"
    path.write_text(
        path.read_text().replace(
            'action: "swings slowly open"', 'action: "swings <open>"\n    camera: pan-left, tilt-up'
        )
    )
    page = site.client.get(f"/?token={site.token}")
    assert page.status_code == 200
    assert "storyboard.yaml:" in page.text and "one camera move per shot" in page.text
    assert "&lt;open&gt;" in page.text or "<open>" not in page.text
    assert f"/static/review.js?token={site.token}" in page.text  # it listens, and reloads once fixed


def test_a_damaged_clip_has_no_poster_but_the_page_and_the_static_copy_still_work(
    site: Site, tmp_path: Path
) -> None:
    store = Store(site.root)
    first = next(t for _, t in takes_by_shot(store)["door"] if t.take == 1)  # not the pinned one
    path = store.object_path(first.sha256)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:3000])  # a clip cut short on disk: no frame can be decoded
    poster = site.client.get(f"/poster/{first.sha256}.jpg?token={site.token}")
    assert poster.status_code == 404 and f"no frame to show for clip {first.sha256[:12]}" in poster.text
    assert site.client.get(f"/?token={site.token}").status_code == 200
    notes: list[str] = []
    index = write_static(load_project(site.root), tmp_path / "copy", site.models, notes=notes)
    assert index.is_file() and notes == [f"door take 1: no frame to show for clip {first.sha256[:12]}"]
    assert not (tmp_path / "copy" / "poster" / f"{first.sha256}.jpg").exists()
    pinned = read_lock(site.root).entries["door"].clip
    assert (tmp_path / "copy" / "poster" / f"{pinned}.jpg").is_file()  # every other take keeps its poster
    # the contact sheet of the pinned takes, one of them no video at all: a reason, not a server error
    path = store.object_path(pinned)
    path.chmod(0o644)
    path.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(80))
    shutil.rmtree(store.dir / "sheets", ignore_errors=True)  # its strips are kept by clip hash
    sheet = site.client.get(f"/sheet/sheet.png?token={site.token}")
    assert sheet.status_code == 404 and pinned[:12] in sheet.text
