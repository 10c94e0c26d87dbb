"""Two teammates and the faults of a shared store: damaged copies, odd URLs, broken connections, merges."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.errors import LockError
from shotlist.lock import format_lock, read_lock
from shotlist.pipeline import BuildOptions, build
from shotlist.remote import Remote, RemoteError, pull, push
from shotlist.store import Store
from tests.test_lock import entry
from tests.test_remote import KEY, _dead_port, _remote, _take, fake_endpoint
from tests.test_team import built_and_pushed, generated, git_says, sha, shotlist
from tests.tiny_project import git

runner = CliRunner()


def spoil(s3: str, clip: str) -> None:
    """Write zeros over the remote store's copy of ``clip``: same size, wrong bytes, a new ETag."""
    remote = Remote(s3)
    path = f"{remote.root}/objects/{clip[:2]}/{clip}"
    remote.fs.pipe(path, b"\0" * remote.fs.size(path))


def pushed_and_spoiled(tmp_path: Path, s3: str) -> tuple[Path, Path, str]:
    """Alice's built and pushed project, Bob's clone, and shot 'one''s clip, spoiled on the remote."""
    a, b = built_and_pushed(tmp_path, s3)
    clip = read_lock(a).entries["one"].clip
    spoil(s3, clip)
    return a, b, clip


def pushed_take(tmp_path: Path) -> tuple[Store, Remote, bytes, str]:
    """Store ``a`` with one take of 50 kB pushed to a folder remote: the store, the remote, its bytes, its hash."""
    a = Store(tmp_path / "a")
    remote = _remote(tmp_path)
    good = os.urandom(50_000)
    clip = _take(a, KEY, good).sha256
    push(a, remote, {KEY: clip})
    return a, remote, good, clip


def _damage(store: Store, clip: str, data: bytes) -> None:
    """Write ``data`` over the store's copy of ``clip`` (bit rot, a bad disk, an editor saving over it)."""
    path = store.object_path(clip)
    path.chmod(0o644)
    path.write_bytes(data)


# --- a damaged local copy never reaches the remote, and a pull replaces it -------------------------


def test_push_never_uploads_a_damaged_local_copy_over_the_good_remote_one(tmp_path: Path) -> None:
    a, remote, good, clip = pushed_take(tmp_path)
    _damage(a, clip, good[:20_000])  # truncated on this disk
    again = push(a, remote, {KEY: clip})
    assert again.damaged == [clip] and again.skipped == [clip] and not again.sent + again.repaired
    assert (tmp_path / "remote" / "objects" / clip[:2] / clip).read_bytes() == good
    assert not a.has_object(clip) and (a.dir / "corrupt" / clip).is_file()  # set aside, not used
    assert pull(a, remote, {KEY: clip}).sent == [clip] and a.object_path(clip).read_bytes() == good
    never = _take(a, "cd" * 32, b"a take nobody pushed").sha256
    _damage(a, never, b"a take nobody pushes")  # same size, wrong bytes
    lost = push(a, remote, {"cd" * 32: never})
    assert lost.damaged == [never] and lost.missing == [never] and not remote.has(never)


def test_pull_replaces_a_damaged_local_copy_with_the_remotes(tmp_path: Path) -> None:
    _, remote, good, clip = pushed_take(tmp_path)
    b = Store(tmp_path / "b")
    assert pull(b, remote, {KEY: clip}).sent == [clip]
    _damage(b, clip, bytes(50_000))  # same size, so only its hash tells
    again = pull(b, remote, {KEY: clip})
    assert again.damaged == [clip] and again.sent == [clip]
    assert b.object_path(clip).read_bytes() == good


def test_a_remote_copy_of_another_size_is_reported_repaired(tmp_path: Path) -> None:
    a, remote, good, clip = pushed_take(tmp_path)
    obj = tmp_path / "remote" / "objects" / clip[:2] / clip
    obj.write_bytes(good[:1000])  # a half-uploaded copy
    assert push(a, remote, {KEY: clip}).repaired == [clip] and obj.read_bytes() == good


@pytest.mark.slow
def test_a_clone_whose_copy_rotted_tells_and_the_teammate_still_gets_the_good_clip(
    tmp_path: Path, s3: str
) -> None:
    a, b = built_and_pushed(tmp_path, s3)
    clip = read_lock(a).entries["one"].clip
    store = Store(a)
    good = store.object_path(clip).read_bytes()
    _damage(store, clip, good[: len(good) // 2])
    pushed = shotlist("push", str(a))
    assert pushed.returncode == 0 and "Traceback" not in pushed.stderr, pushed.stderr
    assert (
        f"damaged: one: this clone's copy of clip {clip[:12]} was damaged (its bytes no longer match its "
        "hash); it was not pushed and was moved to .shotlist/corrupt/" in pushed.stderr
    )
    assert "`shotlist pull` fetches the remote store's copy" in pushed.stderr
    assert shotlist("pull", str(b)).returncode == 0
    assert generated(build(b, BuildOptions(yes=True))) == 0
    pulled = shotlist("pull", str(a))
    assert pulled.returncode == 0 and "pulled 1 clip" in pulled.stdout, pulled.stdout + pulled.stderr
    assert sha(b / "out" / "cut.mp4") == sha(a / "out" / "cut.mp4")


# --- odd URLs --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_s3_prefix_with_doubled_or_trailing_slashes_is_the_same_place(tmp_path: Path, s3: str) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    clip = _take(a, KEY, os.urandom(10_000)).sha256
    odd = s3.replace("clips/", "clips//") + "//x/"  # s3://clips//team-project//x/
    assert push(a, Remote(odd), {KEY: clip}).sent == [clip]
    assert push(a, Remote(odd), {KEY: clip}).skipped == [clip]  # it sees what it wrote
    assert pull(b, Remote(f"{s3}/x"), {KEY: clip}).sent == [clip]


@pytest.mark.slow
def test_a_password_in_the_remote_url_never_appears_in_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "storyboard.yaml").write_text(
        "version: 1\noutput: {resolution: 64x36, fps: 8, file: out/cut.mp4}\n"
        "defaults: {model: animatic, duration: 1}\nshots:\n  - id: one\n    subject: a lantern\n"
    )
    (root / "shotlist.lock").write_text(format_lock([entry("one")]))
    url = f"ftp://alice:s3cretpass@127.0.0.1:{_dead_port()}/clips"
    for args in (["pull", str(root)], ["push", str(root)], ["status", str(root), "--remote"]):
        out = shotlist(*args, env={"SHOTLIST_REMOTE": url})
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert "s3cretpass" not in out.stdout + out.stderr
        assert out.stderr.startswith(
            f"cannot reach the remote store ftp://alice:***@127.0.0.1:{url.rsplit(':', 1)[1]}"
        ), out.stderr
    fake_endpoint(monkeypatch, f"http://127.0.0.1:{_dead_port()}")
    with pytest.raises(RemoteError) as caught:
        Remote("s3://alice:s3cretpass@clips/x").inventory()
    assert "s3cretpass" not in str(caught.value)
    fake_endpoint(monkeypatch, f"http://key:s3cretpass@127.0.0.1:{_dead_port()}")
    with pytest.raises(RemoteError) as caught:
        Remote("s3://clips/x").inventory()
    assert "s3cretpass" not in str(caught.value)


# --- a connection that breaks mid-transfer ---------------------------------------------------------


@pytest.fixture
def breaking(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 endpoint whose every answer promises 100 kB and breaks off after 1 kB (a server going away)."""
    server = fake_endpoint(monkeypatch, "listen")
    assert server is not None

    def answer(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                if not (got := conn.recv(4096)):
                    return
                data += got
            conn.sendall(
                b"HTTP/1.1 206 Partial Content\r\nContent-Length: 100000\r\n"
                b"Content-Range: bytes 0-99999/100000\r\n\r\n" + b"x" * 1000
            )

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield "s3://clips/breaking"
    finally:
        server.close()


@pytest.mark.slow
def test_a_download_cut_off_midway_says_the_connection_broke_and_to_run_it_again(breaking: str) -> None:
    with pytest.raises(RemoteError) as caught:
        Remote(breaking).hash_of("ab" * 32, 100_000)
    message = str(caught.value)
    assert message.startswith(
        f"the connection to the remote store {breaking} broke (downloading clip abababababab, "
        "0.0 to 0.1 of 0.1 MB)"
    ), message
    assert "run the command again: it goes on from what it already has" in message


# --- merges ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_lock_left_with_conflict_markers_fails_status_even_when_no_shot_differs(
    tmp_path: Path, s3: str
) -> None:
    """Alice removes shot 'one', Bob changes it; Alice keeps her storyboard. Only markers are left."""
    a, b = built_and_pushed(tmp_path, s3)
    board = (a / "storyboard.yaml").read_text()
    start, end = board.index("  - id: one"), board.index("  - id: two")
    (a / "storyboard.yaml").write_text(board[:start] + board[end:])
    assert build(a, BuildOptions(yes=True)).ok
    git(a, "commit", "-qam", "no lantern")
    (b / "storyboard.yaml").write_text(board.replace("sways gently in the wind", "sways to the left"))
    assert generated(build(b, BuildOptions(yes=True))) == 1
    git(b, "commit", "-qam", "left")
    git(a, "remote", "add", "bob", str(b))
    git(a, "fetch", "-q", "bob")
    assert "CONFLICT" in git_says(a, "merge", "--no-edit", "bob/main")
    git(a, "checkout", "--ours", "storyboard.yaml")
    line = (a / "shotlist.lock").read_text().splitlines().index("<<<<<<< HEAD") + 1
    status = runner.invoke(app, ["status", str(a), "--exit-code"])
    assert status.exit_code == 1, status.output
    assert f"shotlist.lock:{line}: git merge conflict markers (`shotlist lock resolve`)" in status.output
    assert status.output.rstrip().endswith("shotlist.lock holds git merge conflict markers")
    plan = shotlist("plan", str(a))
    assert plan.returncode == 1 and "both branches pin the same takes" not in plan.stderr
    assert f"shotlist.lock:{line}: git merge conflict markers; no shot is pinned differently" in plan.stderr
    assert runner.invoke(app, ["lock", "resolve", str(a)]).exit_code == 0
    assert runner.invoke(app, ["status", str(a), "--exit-code"]).exit_code == 0
    assert "<<<<<<<" not in (a / "shotlist.lock").read_text()


def test_a_lock_from_a_newer_shotlist_says_to_upgrade_and_is_never_rewritten(tmp_path: Path) -> None:
    from shotlist import __version__

    text = format_lock([entry("one")]).replace("version = 1", "version = 2")
    (tmp_path / "shotlist.lock").write_text(text)
    with pytest.raises(LockError) as caught:
        read_lock(tmp_path, lenient=True)
    assert str(caught.value) == (
        "shotlist.lock:3: lock version 2 was written by a newer shotlist than this one "
        f"({__version__}, which reads version 1).\n"
        "  fix: install the shotlist your teammates use on this machine; an older one never rewrites "
        "the lock, which would lose what it cannot read"
    )
    (tmp_path / "shotlist.lock").write_text(text.replace("version = 2", "version = one"))
    with pytest.raises(LockError, match=r"lock version one is not 1.*\n  fix: restore it with `git checkout"):
        read_lock(tmp_path)


@pytest.mark.slow
def test_build_names_each_missing_shot_and_a_corrupt_remote_copy_before_the_pay_hint(
    tmp_path: Path, s3: str
) -> None:
    _, b, _ = pushed_and_spoiled(tmp_path, s3)
    built = shotlist("build", str(b))
    assert built.returncode == 1 and "Traceback" not in built.stderr
    said = built.stdout + built.stderr
    line = next(line for line in said.splitlines() if line.startswith("missing  one: "))
    assert (
        "the remote store's copy is corrupt; whoever has the clip can repair it with `shotlist push`" in line
    )
    assert said.index(line) < said.index("--regenerate-missing")
    assert not any(line.startswith(("missing  two", "missing  three")) for line in said.splitlines())


@pytest.mark.slow
def test_remote_gc_aborts_the_unfinished_uploads_a_killed_push_left_in_the_bucket(
    tmp_path: Path, s3: str
) -> None:
    """A clip of 100 MB or more goes up in parts; a push killed midway leaves them, unlisted but billed."""
    import boto3

    from tests.test_team import new_project

    a = new_project(tmp_path, s3)
    client = boto3.client("s3", endpoint_url=os.environ["SHOTLIST_S3_ENDPOINT_URL"], region_name="us-east-1")
    ours = client.create_multipart_upload(Bucket="clips", Key=f"team-project/objects/ab/{'ab' * 32}")
    client.upload_part(
        Bucket="clips", Key=ours["Key"], UploadId=ours["UploadId"], PartNumber=1, Body=b"x" * 1000
    )
    theirs = client.create_multipart_upload(Bucket="clips", Key="another-project/objects/cd/x")
    out = runner.invoke(app, ["remote", "gc", str(a), "--older-than", "0"])
    assert out.exit_code == 0, out.output
    assert "aborted 1 unfinished upload (a push stopped midway)" in out.output
    left = [u["Key"] for u in client.list_multipart_uploads(Bucket="clips").get("Uploads", [])]
    assert left == [theirs["Key"]]  # another project's upload under the same bucket is not touched


@pytest.mark.slow
def test_lock_resolve_keeps_a_teammates_take_whose_remote_copy_is_corrupt_and_never_pays_for_it(
    tmp_path: Path, s3: str
) -> None:
    from tests.test_lock_resolve import diverge

    a, b = diverge(tmp_path, s3)
    git(a, "checkout", "--theirs", "storyboard.yaml")
    bobs = read_lock(b).entries["one"].clip
    spoil(s3, bobs)
    picked = runner.invoke(app, ["pick", "one", bobs[:8], str(a)])
    assert picked.exit_code == 1 and "the remote store has no intact copy of it" in str(picked.exception)
    assert "whoever has it can `shotlist push` it; then pick it again" in str(picked.exception)
    resolved = runner.invoke(app, ["lock", "resolve", str(a)])
    assert resolved.exit_code == 0, resolved.output
    assert (
        f"one: pinned take 1 ({bobs[:8]}), as on bob/main; its clip is not in .shotlist/ and the remote store "
        "has no intact copy: whoever has it can `shotlist push` it, then `shotlist pull`" in resolved.output
    )
    assert read_lock(a).entries["one"].clip == bobs
    refused = build(a, BuildOptions(yes=True))
    assert generated(refused) == 0 and refused.missing == ["one"]
    assert runner.invoke(app, ["push", str(b)]).exit_code == 0  # Bob repairs the remote copy
    assert generated(build(a, BuildOptions(yes=True))) == 0
    assert (a / "shotlist.lock").read_text() == (b / "shotlist.lock").read_text()


@pytest.mark.slow
def test_a_server_that_freezes_mid_upload_fails_the_push_in_bounded_time(
    tmp_path: Path, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No read timeout sees a body the server stopped reading: the upload's own deadline does."""
    import time

    from tests.fakes.proxy import CuttableProxy

    a = Store(tmp_path / "a")
    clip = _take(a, KEY, os.urandom(30_000_000)).sha256  # more than the sockets' buffers hold
    endpoint = os.environ["SHOTLIST_S3_ENDPOINT_URL"]
    with CuttableProxy(("127.0.0.1", int(endpoint.rsplit(":", 1)[1]))) as proxy:
        monkeypatch.setenv("SHOTLIST_S3_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("SHOTLIST_REMOTE_TIMEOUT", "0.5")
        listed = Remote.take_index

        def then_freeze(self: Remote) -> dict[str, set[str]]:
            found = listed(self)
            proxy.freeze()  # the listings were answered; the upload that follows is not
            return found

        monkeypatch.setattr(Remote, "take_index", then_freeze)
        heard: list[str] = []
        started = time.monotonic()
        with pytest.raises(RemoteError) as caught:
            push(a, Remote(s3, on_wait=heard.append), {KEY: clip})
        took = time.monotonic() - started
        proxy.restore()
    assert took < 0.5 * (2 + 30) + 10, took
    assert str(caught.value).startswith(
        f"the remote store {s3} did not finish taking clip {clip[:12]} (30.0 MB) within 16 s"
    ), caught.value
    notice = f"(uploading clip {clip[:12]}): no answer for 0.25 s; giving up after about 16 s"
    assert any(notice in line for line in heard), heard


@pytest.mark.slow
def test_status_remote_fails_on_a_remote_copy_changed_since_it_was_pushed_until_push_repairs_it(
    tmp_path: Path, s3: str
) -> None:
    a, _, _ = pushed_and_spoiled(tmp_path, s3)
    status = runner.invoke(app, ["status", str(a), "--remote", "--exit-code"])
    assert status.exit_code == 1, status.output
    rows = {line.split()[0]: line for line in status.output.splitlines() if line.startswith("  ")}
    assert "its remote copy changed since it was pushed (`shotlist push` checks it)" in rows["one"]
    assert "changed" not in rows["two"] + rows["three"]
    assert "1 corrupt remote copy replaced" in runner.invoke(app, ["push", str(a)]).output
    assert runner.invoke(app, ["status", str(a), "--remote", "--exit-code"]).exit_code == 0


def test_a_folder_remote_unmounted_mid_push_is_named_and_never_created_again(tmp_path: Path) -> None:
    import shutil

    a = Store(tmp_path / "a")
    remote = _remote(tmp_path)
    pins = {f"{n:02d}" * 32: _take(a, f"{n:02d}" * 32, f"clip {n}".encode()).sha256 for n in range(3)}

    def unmount(sha: str, size: int) -> None:
        shutil.rmtree(tmp_path / "remote", ignore_errors=True)  # the share goes away after the first clip

    with pytest.raises(RemoteError, match=r"/remote does not exist; create the folder, or fix `remote:`"):
        push(a, remote, pins, progress=unmount, workers=1)
    assert not (tmp_path / "remote").exists()


def test_a_folder_remote_unmounted_mid_pull_is_named(tmp_path: Path) -> None:
    import shutil

    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    remote = _remote(tmp_path)
    pins = {f"{n:02d}" * 32: _take(a, f"{n:02d}" * 32, f"clip {n}".encode()).sha256 for n in range(3)}
    push(a, remote, pins)

    def unmount(sha: str, size: int) -> None:
        shutil.rmtree(tmp_path / "remote", ignore_errors=True)

    with pytest.raises(RemoteError, match=r"/remote does not exist; create the folder, or fix `remote:`"):
        pull(b, remote, pins, progress=unmount, workers=1)
    assert not (tmp_path / "remote").exists()


def test_a_folder_remote_under_the_home_folder_is_each_teammates_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shotlist.remote import remote_url

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOTLIST_REMOTE", raising=False)
    assert remote_url("~/Dropbox/clips", tmp_path / "project") == str(tmp_path / "home" / "Dropbox" / "clips")
    assert remote_url("../clips", tmp_path / "project") == str(tmp_path / "clips")
