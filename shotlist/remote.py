"""A shared clip store, so a teammate's clone builds the same cut without paying again.

The remote mirrors the local store by content, through fsspec (a folder or ``file://`` URL, ``s3://``
with s3fs, ``gs://`` with gcsfs):

- ``objects/<sha[:2]>/<sha>``: clips and frames by the sha256 of their bytes. Two people pushing the
  same take write the same name with the same bytes, so pushes never conflict, and an object that is
  already there is never overwritten.
- ``takes/<key>/<clip sha>.json``: one immutable file per take (what made it, what it cost), so two
  pushes of different takes of one recipe never race on a shared index file.

Every transfer is atomic: an upload goes to ``tmp/`` and is moved into place only when complete
(object stores: copied server-side), a download goes to a ``.part`` file that is verified by its
hash before it enters the local store; a ``.part`` left by an interrupted pull is resumed from
where it stopped. Credentials come from the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS)
and never appear in the project.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shotlist import durable, salvage
from shotlist.errors import ShotlistError
from shotlist.store import Store, Take

CHUNK = 4 << 20


class RemoteError(ShotlistError):
    """The remote store is unreachable, misconfigured or holds a corrupt object."""


@dataclass
class Transfer:
    """What a push or pull did."""

    sent: list[str] = field(default_factory=list)  # object hashes moved
    skipped: list[str] = field(default_factory=list)  # already on the other side
    missing: list[str] = field(default_factory=list)  # nowhere to be found
    corrupt: list[str] = field(default_factory=list)  # bytes that did not match their name: not used
    bytes: int = 0
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, kind: str, sha: str, size: int = 0) -> None:
        """Note one object's outcome (called from the transfer threads)."""
        with self._guard:
            getattr(self, kind).append(sha)
            self.bytes += size


def remote_url(project_remote: str | None, project_root: Path) -> str | None:
    """The remote to use: $SHOTLIST_REMOTE, else the storyboard's ``remote:``; relative paths from the project."""
    url = os.environ.get("SHOTLIST_REMOTE") or project_remote
    if not url:
        return None
    if "://" not in url and not os.path.isabs(url):
        url = str((project_root / url).resolve())
    return url


class Remote:
    """One remote clip store."""

    def __init__(self, url: str) -> None:
        import fsspec

        options: dict[str, Any] = {}
        if url.startswith("s3://"):
            endpoint = os.environ.get("SHOTLIST_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
            if endpoint:
                options["client_kwargs"] = {"endpoint_url": endpoint}
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError) as exc:
            extra = {"s3": "s3", "gs": "gcs"}.get(url.split("://", 1)[0], "")
            hint = f"; install it with pip install 'shotlist[{extra}]'" if extra else ""
            raise RemoteError(f"cannot open the remote store {url}: {exc}{hint}") from None
        self.url = url
        self.root = root.rstrip("/")

    # --- names ---------------------------------------------------------------------------------
    def _object(self, sha: str) -> str:
        return f"{self.root}/objects/{sha[:2]}/{sha}"

    def _take(self, key: str, sha: str) -> str:
        return f"{self.root}/takes/{key}/{sha}.json"

    # --- queries -------------------------------------------------------------------------------
    def has(self, sha: str) -> bool:
        try:
            return bool(self.fs.exists(self._object(sha)))
        except Exception as exc:  # fsspec back ends raise their own errors (botocore, OSError…)
            raise RemoteError(f"cannot reach the remote store {self.url}: {exc}") from None

    def takes(self, key: str) -> list[Take]:
        """The takes of a recipe that the remote knows, newest first."""
        base = f"{self.root}/takes/{key}"
        try:
            names = self.fs.ls(base, detail=False) if self.fs.exists(base) else []
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if str(name).endswith(".json"):
                with self.fs.open(name, "rb") as f:
                    out.append(Take.from_json(json.loads(f.read())))
        return sorted(out, key=lambda t: (t.time, t.take), reverse=True)

    # --- upload --------------------------------------------------------------------------------
    def put_object(self, sha: str, src: Path) -> bool:
        """Upload one object unless the remote has it; True if bytes were sent."""
        dest = self._object(sha)
        if self.fs.exists(dest):
            if self.fs.size(dest) == src.stat().st_size:
                return False
            # A short object is a leftover of a store that does not move atomically; replace it.
        self._put_atomic(src.read_bytes() if src.stat().st_size < CHUNK else src, dest)
        return True

    def put_take(self, key: str, recipe: dict[str, Any], take: Take) -> None:
        dest = self._take(key, take.sha256)
        if self.fs.exists(dest):
            return
        self._put_atomic(
            json.dumps({"recipe": recipe, **take.to_json()}, sort_keys=True, indent=1).encode(), dest
        )

    def _put_atomic(self, data: bytes | Path, dest: str) -> None:
        tmp = f"{self.root}/tmp/{uuid.uuid4().hex}.part"
        self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
        self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        if isinstance(data, Path):
            self.fs.put_file(str(data), tmp)
        else:
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
        self.fs.mv(tmp, dest)

    # --- download ------------------------------------------------------------------------------
    def get_object(self, sha: str, store: Store) -> int:
        """Download one object into the local store, resuming a partial download; verify its hash.

        Returns the bytes received. RemoteError if it is missing; a corrupt object is deleted from
        the local side and reported, never used.
        """
        src = self._object(sha)
        if not self.fs.exists(src):
            raise RemoteError(f"the remote store has no object {sha[:12]}")
        part = store.dir / "tmp" / f"{sha}.part"
        part.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        total = int(self.fs.size(src))
        if have > total:
            part.unlink()
            have = 0
        received = 0
        with self.fs.open(src, "rb") as r, open(part, "ab") as w:
            if have:
                r.seek(have)
            while chunk := r.read(CHUNK):
                w.write(chunk)
                received += len(chunk)
            w.flush()
            os.fsync(w.fileno())
        digest = hashlib.sha256()
        with open(part, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha:
            part.unlink(missing_ok=True)
            raise CorruptObject(sha)
        got = store.add_file(part)
        assert got == sha
        return received


class CorruptObject(RemoteError):
    def __init__(self, sha: str) -> None:
        super().__init__(f"object {sha[:12]} in the remote store does not match its hash; it was not used")
        self.sha = sha


def _parallel(items: Iterable[str], work: Callable[[str], None], workers: int = 8) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work, i) for i in items]:
            future.result()


def push(
    store: Store,
    remote: Remote,
    pins: dict[str, str],
    *,
    all_takes: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> Transfer:
    """Upload the pinned takes (``pins``: recipe key → clip sha) or, with ``all_takes``, every take."""
    result = Transfer()
    wanted: dict[str, tuple[str, Take, dict[str, Any]]] = {}  # sha → (key, take, recipe)
    for entry in store.entries():
        for take in entry.takes:
            if all_takes or pins.get(entry.key) == take.sha256:
                wanted.setdefault(take.sha256, (entry.key, take, entry.recipe))
    # A chained shot is keyed by its upstream clip's hash and a frame selector, not by the frame's
    # bytes, so frames need not travel: the teammate's store extracts them again.
    bare = [s for s in pins.values() if s not in wanted]  # pinned, but no take record here

    def one(sha: str) -> None:
        path = store.object_path(sha)
        if not path.is_file():
            result.record("missing", sha)
            return
        sent = remote.put_object(sha, path)
        result.record("sent" if sent else "skipped", sha, path.stat().st_size if sent else 0)
        if sha in wanted:
            key, take, recipe = wanted[sha]
            remote.put_take(key, recipe, take)
        if progress:
            progress(sha, path.stat().st_size)

    _parallel(list(wanted) + bare, one)
    return result


def pull(
    store: Store,
    remote: Remote,
    wanted: dict[str, str],
    *,
    progress: Callable[[str, int], None] | None = None,
) -> Transfer:
    """Download the clips ``wanted`` (recipe key → clip sha) that the local store lacks, with their takes."""
    result = Transfer()

    def one(key: str) -> None:
        sha = wanted[key]
        if store.has_object(sha) and any(t.sha256 == sha for t in store.takes(key)):
            result.record("skipped", sha)  # nothing to fetch, nothing to ask the remote
            return
        if not store.has_object(sha):
            try:
                if not remote.has(sha):
                    result.record("missing", sha)
                    return
                result.record("sent", sha, remote.get_object(sha, store))
            except CorruptObject:
                result.record("corrupt", sha)
                return
        else:
            result.record("skipped", sha)
        local = {t.sha256 for t in store.takes(key)}
        for take in remote.takes(key):
            if take.sha256 == sha and sha not in local:
                store.add_take(key, _recipe_of(remote, key, sha), take)
        if progress:
            progress(sha, store.object_path(sha).stat().st_size if store.has_object(sha) else 0)

    _parallel(list(wanted), one)
    return result


def _recipe_of(remote: Remote, key: str, sha: str) -> dict[str, Any]:
    with remote.fs.open(remote._take(key, sha), "rb") as f:
        data = json.loads(f.read())
    recipe = data.get("recipe", {})
    return recipe if isinstance(recipe, dict) else {}


def write_marker(store: Store, remote: Remote, shas: Iterable[str]) -> None:
    """Remember which objects are known to be pushed to this remote (for ``shotlist status``)."""
    path = store.dir / "pushed.json"
    known = salvage.read_cache(path, salvage.json_object, "the list of pushed clips") or {}
    urls = set(known.get(remote.url, []))
    urls.update(shas)
    known[remote.url] = sorted(urls)
    durable.write_json(path, known)


def pushed(store: Store, remote_url_: str) -> set[str]:
    data = salvage.read_cache(store.dir / "pushed.json", salvage.json_object, "the list of pushed clips")
    return set(data.get(remote_url_, [])) if data else set()
