"""A shared clip store, so a teammate's clone builds the same cut without paying again.

The remote mirrors the local store by content, through fsspec (a folder or ``file://`` URL, ``s3://``
with s3fs, ``gs://`` with gcsfs):

- ``objects/<sha[:2]>/<sha>``: clips by the sha256 of their bytes. Two people pushing the same take
  write the same name with the same bytes, so pushes never conflict.
- ``objects/<sha[:2]>/<sha>.<tag>.verified``: written after each upload; ``<tag>`` digests what the
  store itself says about the object (S3's ETag, GCS's md5, a folder's mtime and inode). A later push
  trusts an object without downloading it only while its tag is unchanged: an object overwritten
  since (a corrupt copy of the same size) has a new tag, so the push hashes it and re-uploads a bad one.
- ``takes/<key>/<clip sha>.json``: one immutable file per take (what made it, what it cost), so two
  pushes of different takes of one recipe never race on a shared index file.

One listing of ``objects/`` tells a push or a status what is there; transfers run several at once
(latency, not bandwidth, is what many small objects cost across a network). Object stores write an
object whole or not at all, so uploads go straight to their names; a folder gets a ``tmp/`` part
moved into place when complete (the next push from the same clone removes its own stale parts,
``shotlist remote gc`` everyone's older than a day). A download goes to a ``.part`` file that is
verified by its hash before it enters the local store; one left by an interrupted pull is resumed.

Every call to the remote goes through one error mapping: an endpoint that is down, a frozen server
(each request has a timeout, and a caller can be told what is being waited for), missing
credentials, a bucket or folder that does not exist (never created implicitly) — each is one
RemoteError line. Credentials come from the environment and never appear in the project.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shotlist import durable, salvage
from shotlist.errors import ShotlistError, masked
from shotlist.store import Store, Take

if TYPE_CHECKING:
    from shotlist.load import Project

T = TypeVar("T")

CHUNK = 8 << 20  # one ranged GET per typical clip
WORKERS = 8  # transfers at once
NOTICE_S = 5.0  # a call silent this long is reported to on_wait
TIMEOUT_S = 20.0  # per request; SHOTLIST_REMOTE_TIMEOUT overrides
ATTEMPTS = 2  # per request, the retry included
_SHA = re.compile(r"^[0-9a-f]{64}$")
# Error class names (anywhere in an exception's MRO) by what they mean to a user; fsspec's back ends
# raise their own (botocore, aiohttp, urllib3, OSError), so names, not imports.
_TIMEOUT = {"ReadTimeoutError", "ConnectTimeoutError", "TimeoutError", "FSTimeoutError", "timeout"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ClientConnectorError",
    "NewConnectionError",
    "ProxyConnectionError",
    "ConnectionRefusedError",
    "gaierror",
}
_BROKEN = {  # the server went away in the middle of an answer (checked after _UNREACHABLE)
    "ConnectionError",  # Python's: reset, aborted, broken pipe
    "ClientPayloadError",
    "ServerDisconnectedError",
    "ClientConnectionError",
    "ConnectionClosedError",
    "ResponseStreamingError",
    "IncompleteReadError",
    "IncompleteRead",
    "ProtocolError",
}


class RemoteError(ShotlistError):
    """The remote store is unreachable, misconfigured or holds a corrupt object."""


class CorruptObject(RemoteError):
    def __init__(self, sha: str) -> None:
        super().__init__(
            f"the remote copy of clip {sha[:12]} is corrupt (its bytes do not match its hash); "
            "it was not used. Whoever has the clip can repair it with `shotlist push`"
        )
        self.sha = sha


@dataclass
class Transfer:
    """What a push or pull did."""

    sent: list[str] = field(default_factory=list)  # object hashes moved
    skipped: list[str] = field(default_factory=list)  # already on the other side
    missing: list[str] = field(default_factory=list)  # in neither store
    corrupt: list[str] = field(default_factory=list)  # the remote copy does not match its hash
    repaired: list[str] = field(default_factory=list)  # a corrupt remote copy replaced by a good one
    damaged: list[str] = field(default_factory=list)  # this clone's copy did not match its hash: set aside
    bytes: int = 0
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, kind: str, sha: str, size: int = 0) -> None:
        """Note one object's outcome (called from the transfer threads)."""
        with self._guard:
            getattr(self, kind).append(sha)
            self.bytes += size


@dataclass(frozen=True)
class RemoteObject:
    """One object as a listing of the remote shows it."""

    size: int
    tag: str  # digest of the store's own fingerprint of the object (ETag, md5, mtime+inode)
    verified: bool  # a sidecar written after a checked upload carries this very tag
    sidecars: tuple[str, ...] = ()


def _password(url: str) -> str:
    found = re.match(r"^[a-z][a-z0-9+.-]*://[^/@:]*:([^/@]*)@", url, flags=re.IGNORECASE)
    return found.group(1) if found else ""


def remote_url(project_remote: str | None, project_root: Path) -> str | None:
    """The remote to use: $SHOTLIST_REMOTE, else the storyboard's ``remote:``; relative paths from the project."""
    url = os.environ.get("SHOTLIST_REMOTE") or project_remote
    if not url:
        return None
    if "://" not in url:  # a folder: ~ is each teammate's own home, a relative path is from the project
        url = os.path.expanduser(url)
        if not os.path.isabs(url):
            url = str((project_root / url).resolve())
    return url


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        raise RemoteError(f"{name} must be a number of seconds, not '{os.environ.get(name)}'") from None
    return value if value > 0 else default


def project_remote(project: Project, *, on_wait: Callable[[str], None] | None = None) -> Remote | None:
    """The project's remote store ($SHOTLIST_REMOTE or the storyboard's ``remote:``), or None when it names none."""
    url = remote_url(project.board.remote, project.root)
    return Remote(url, on_wait=on_wait) if url else None


class Remote:
    """One remote clip store. ``on_wait`` is told when a request goes unanswered for a while."""

    def __init__(self, url: str, *, on_wait: Callable[[str], None] | None = None) -> None:
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        self.url = masked(url)  # what messages and pushed.json say: never a password
        self.secret = _password(url)
        self.on_wait = on_wait
        self.timeout = _seconds("SHOTLIST_REMOTE_TIMEOUT", TIMEOUT_S)
        options: dict[str, Any] = {}
        if url.startswith("s3://"):
            endpoint = os.environ.get("SHOTLIST_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
            options = {
                "client_kwargs": {"endpoint_url": endpoint} if endpoint else {},
                "config_kwargs": {
                    "connect_timeout": self.timeout,
                    "read_timeout": self.timeout,
                    "retries": {"max_attempts": ATTEMPTS, "mode": "standard"},
                    "max_pool_connections": 4 * WORKERS,
                    # Every clip is verified by its sha256 on arrival: botocore's own CRC32 of every body
                    # would only cost CPU.
                    "request_checksum_calculation": "when_required",
                    "response_checksum_validation": "when_required",
                },
                "use_listings_cache": False,  # a listing must say what is there now
                # fsspec would hand back an instance made for an earlier server on the same address,
                # its pooled connections dead; and ours has its retries changed below
                "skip_instance_cache": True,
            }
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError) as exc:
            extra = {"s3": "s3", "gs": "gcs"}.get(url.split("://", 1)[0], "")
            hint = f"; install it with pip install 'shotlist[{extra}]'" if extra else ""
            raise RemoteError(f"cannot open the remote store {self.url}: {self._short(exc)}{hint}") from None
        except Exception as exc:  # some back ends (ftp, sftp) connect here: the same mapping as a request
            raise self._failure(exc, "connecting") from None
        if hasattr(self.fs, "retries"):
            self.fs.retries = 1  # botocore retries already; s3fs's own loop on top multiplies a frozen wait
        self.local = isinstance(self.fs, LocalFileSystem)
        # An object store's key is the path as written: "clips//team/" would name objects under
        # "/team/" that a listing of "team/" never shows, so every push would send them all again.
        self.root = root.rstrip("/") if self.local else re.sub("/+", "/", root).strip("/")
        self.part_prefix = ""  # set by ``push`` to this clone's id, so its next push can tell its own parts

    # --- one error mapping for every call ------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., T], *args: Any, give_up: float = 0.0, **kwargs: Any) -> T:
        """Run one request; FileNotFoundError passes through (callers decide), anything else is a RemoteError.

        ``give_up``: the seconds after which the request fails, when not its timeout and retry.
        """
        timer = None
        if self.on_wait is not None:
            after = min(NOTICE_S, self.timeout / 2)
            timer = threading.Timer(
                after,
                self.on_wait,
                (
                    f"waiting for the remote store {self.url} ({what}): no answer for {after:g} s; "
                    f"giving up after about {give_up or self.timeout * ATTEMPTS:g} s",
                ),
            )
            timer.daemon = True
            timer.start()
        try:
            return fn(*args, **kwargs)
        except (FileNotFoundError, ShotlistError):
            raise
        except Exception as exc:  # fsspec back ends raise their own errors (botocore, aiohttp, OSError…)
            raise self._failure(exc, what) from None
        finally:
            if timer is not None:
                timer.cancel()

    def _failure(self, exc: Exception, what: str) -> RemoteError:
        names = {c.__name__ for c in type(exc).__mro__}
        where, why = f"the remote store {self.url}", self._short(exc)
        if names & _TIMEOUT:
            return RemoteError(
                f"{where} did not answer within {self.timeout:g} s ({what}); "
                "check the network and the server (SHOTLIST_REMOTE_TIMEOUT sets the wait)"
            )
        if names & _UNREACHABLE:
            return RemoteError(
                f"cannot reach {where} ({what}): {why}; check that the server "
                "is up and its address (`remote:` in the storyboard, SHOTLIST_S3_ENDPOINT_URL)"
            )
        if names & _BROKEN:
            return RemoteError(
                f"the connection to {where} broke ({what}): {why}; run the command again: it goes on from "
                "what it already has"
            )
        if names & {"NoCredentialsError", "PartialCredentialsError"}:
            return RemoteError(
                f"no credentials for {where} ({what}): set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment"
            )
        if isinstance(exc, PermissionError):
            return RemoteError(
                f"{where} refused access ({what}): {why}; check the "
                "credentials in the environment and the bucket's or folder's permissions"
            )
        return RemoteError(
            f"{where} failed ({what}): {why}; run the command again, and if it fails the same way, "
            "the server's answer above says what to fix"
        )

    def _short(self, exc: BaseException) -> str:
        """The first line of an error, its URLs cut to scheme://host:port, any secret in it masked."""
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        text = re.sub(r"(https?://[^/\s\"']+)[^\s\"']*", r"\1", masked(text))
        secrets = [os.environ.get(n, "") for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
        for secret in [*secrets, self.secret]:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def _absent(self) -> RemoteError:
        where = "folder" if self.local else f"bucket {self.root.split('/', 1)[0]}"
        return RemoteError(
            f"the remote store {self.url} does not exist; create the {where}, or fix `remote:` in the "
            "storyboard (or SHOTLIST_REMOTE). shotlist never creates it, so a typo cannot scatter clips"
        )

    def check(self) -> None:
        """RemoteError unless the remote's root folder exists (an object store's bucket: see ``_find``)."""
        if self.local and not self._call("looking for the folder", self.fs.isdir, self.root):
            raise self._absent()

    # --- names ---------------------------------------------------------------------------------
    def _object(self, sha: str) -> str:
        return f"{self.root}/objects/{sha[:2]}/{sha}"

    def _take(self, key: str, sha: str) -> str:
        return f"{self.root}/takes/{key}/{sha}.json"

    def _find(self, sub: str, what: str) -> dict[str, dict[str, Any]]:
        """Every file under ``sub`` with its details: one listing request (per thousand names on S3)."""
        self.check()
        try:
            found = self._call(what, self.fs.find, f"{self.root}/{sub}", detail=True)
        except FileNotFoundError:
            if self.local:
                return {}
            raise self._absent() from None  # an object store lists a missing prefix as empty: no bucket
        prefix = f"{self.root}/{sub}/"
        return {
            str(name)[len(prefix) :]: info for name, info in found.items() if str(name).startswith(prefix)
        }

    # --- queries -------------------------------------------------------------------------------
    def inventory(self) -> dict[str, RemoteObject]:
        """The objects the remote holds (sha → size, tag, verified), from one listing."""
        objects: dict[str, dict[str, Any]] = {}
        sidecars: dict[str, list[str]] = {}
        for rel, info in self._find("objects", "listing objects/").items():
            name = rel.rsplit("/", 1)[-1]
            if _SHA.match(name):
                objects[name] = info
            elif name.endswith(".verified") and _SHA.match(name[:64]):
                sidecars.setdefault(name[:64], []).append(name)
        out = {}
        for sha, info in objects.items():
            tag = _tag(info)
            names = tuple(sidecars.get(sha, ()))
            out[sha] = RemoteObject(int(info.get("size", 0)), tag, f"{sha}.{tag}.verified" in names, names)
        return out

    def has(self, sha: str) -> bool:
        return bool(self._call(f"looking for clip {sha[:12]}", self.fs.exists, self._object(sha)))

    def take_index(self) -> dict[str, set[str]]:
        """Recipe key → the clip hashes of its takes on the remote, from one listing."""
        out: dict[str, set[str]] = {}
        for rel in self._find("takes", "listing takes/"):
            key, _, name = rel.partition("/")
            if name.endswith(".json"):
                out.setdefault(key, set()).add(name[: -len(".json")])
        return out

    def take_record(self, key: str, sha: str) -> tuple[Take, dict[str, Any]] | None:
        """The take record of clip ``sha`` of recipe ``key`` and its recipe, or None (absent or unreadable)."""
        try:
            # start=0: a ranged GET, so s3fs does not ask for the size first (one request, not two)
            raw = self._call(f"reading take {sha[:8]}", self.fs.cat_file, self._take(key, sha), start=0)
            data = json.loads(raw)
            recipe = data.get("recipe", {})
            return Take.from_json(data), recipe if isinstance(recipe, dict) else {}
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # a damaged record is one take a teammate cannot see, not a reason to stop

    def takes(self, key: str, *, known: Iterable[str] | None = None) -> list[Take]:
        """The takes of a recipe that the remote knows, newest first (``known``: their hashes, if listed)."""
        shas = self.take_index().get(key, set()) if known is None else set(known)
        records = [self.take_record(key, s) for s in sorted(shas)]
        return sorted((r[0] for r in records if r), key=lambda t: (t.time, t.take), reverse=True)

    # --- upload --------------------------------------------------------------------------------
    def put_object(self, sha: str, src: Path, stale: Iterable[str] = ()) -> None:
        """Upload one object, then record its tag in a sidecar (``stale``: sidecars it replaces)."""
        dest = self._object(sha)
        self._write(dest, src, f"uploading clip {sha[:12]}")
        tag = _tag(self._call(f"checking the upload of clip {sha[:12]}", self.fs.info, dest))
        self._write(f"{dest}.{tag}.verified", f"sha256 {sha}\n".encode(), f"recording clip {sha[:12]}")
        for name in stale:
            if name != f"{sha}.{tag}.verified":
                self._remove(f"{dest.rsplit('/', 1)[0]}/{name}", "removing an old record")

    def mark_verified(self, sha: str, obj: RemoteObject) -> None:
        """Record that the remote object ``sha`` (as listed) was hashed and is intact."""
        self._write(
            f"{self._object(sha)}.{obj.tag}.verified",
            f"sha256 {sha}\n".encode(),
            f"recording clip {sha[:12]}",
        )

    def put_take(self, key: str, recipe: dict[str, Any], take: Take) -> None:
        data = json.dumps({"recipe": recipe, **take.to_json()}, sort_keys=True, indent=1).encode()
        self._write(self._take(key, take.sha256), data, f"recording take {take.sha256[:8]}")

    def _write(self, dest: str, data: bytes | Path, what: str) -> None:
        if not self.local:  # an object store writes an object whole or not at all
            if isinstance(data, Path):
                self._upload(data, dest, what)
            else:
                self._call(what, self.fs.pipe_file, dest, data)
            return
        tmp = f"{self.root}/tmp/{self.part_prefix}{uuid.uuid4().hex[:12]}.part"
        try:
            self._call(what, self._folders, [f"{self.root}/tmp", dest.rsplit("/", 1)[0]])
            if isinstance(data, Path):
                self._call(what, self.fs.put_file, str(data), tmp)
            else:
                self._call(what, self.fs.pipe_file, tmp, data)
            self._call(what, self.fs.mv, tmp, dest)
        except FileNotFoundError:
            self.check()  # the folder went away (an unmounted share): say so
            raise RemoteError(
                f"a file that this push was writing in the remote store {self.url} vanished ({what}); "
                "run the command again (`shotlist remote gc` removes only parts older than a day)"
            ) from None

    def _folders(self, paths: Iterable[str]) -> None:
        """Make the folders below the root, never the root itself: a share that is not mounted stays absent."""
        for path in paths:
            parts = path[len(self.root) + 1 :].split("/")
            for depth in range(1, len(parts) + 1):
                try:
                    os.mkdir(f"{self.root}/{'/'.join(parts[:depth])}")
                except FileExistsError:
                    pass

    def _upload(self, src: Path, dest: str, what: str) -> None:
        """Put a file to an object store within a deadline: the request timeout, and as much again per MB.

        A server that stops reading a body it accepted is noticed by no read timeout (nothing is being
        read yet), so a whole upload has a limit, which a link slower than 1 MB per timeout would hit.
        """
        from fsspec.exceptions import FSTimeoutError

        size = src.stat().st_size
        limit = round(self.timeout * (ATTEMPTS + size / 1e6))

        def put() -> None:
            try:
                self.fs.put_file(str(src), dest, timeout=limit)
            except FSTimeoutError:
                raise RemoteError(
                    f"the remote store {self.url} did not finish taking clip {Path(dest).name[:12]} "
                    f"({size / 1e6:.1f} MB) within {limit:g} s; check the network and the server, and run "
                    "the command again (SHOTLIST_REMOTE_TIMEOUT sets the wait: per request, and per MB "
                    "of an upload)"
                ) from None

        self._call(what, put, give_up=limit)

    def parts(self) -> list[tuple[str, float, int]]:
        """The upload parts in ``tmp/``: (name, age in seconds, bytes)."""
        now = time.time()
        return [
            (rel, now - _mtime(info), int(info.get("size", 0)))
            for rel, info in self._find("tmp", "listing tmp/").items()
            if rel.endswith(".part")
        ]

    def uploads(self) -> list[tuple[str, str, float]]:
        """An object store's unfinished multipart uploads under this remote: (key, upload id, age in seconds).

        A clip of 100 MB or more goes up in parts; a push killed midway leaves them in the bucket,
        listed nowhere else and billed.
        """
        if self.local or not hasattr(self.fs, "call_s3"):
            return []
        bucket, _, prefix = self.root.partition("/")
        found: list[tuple[str, str, float]] = []
        marker: dict[str, Any] = {}
        while True:
            page = self._call(
                "listing unfinished uploads",
                self.fs.call_s3,
                "list_multipart_uploads",
                Bucket=bucket,
                Prefix=f"{prefix}/" if prefix else "",
                **marker,
            )
            now = time.time()
            found += [(u["Key"], u["UploadId"], now - _mtime(u)) for u in page.get("Uploads", [])]
            if not page.get("IsTruncated"):
                return found
            marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    def abort_upload(self, key: str, upload: str) -> None:
        bucket = self.root.partition("/")[0]
        what = "aborting an unfinished upload"
        self._call(what, self.fs.call_s3, "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload)

    def remove_part(self, name: str) -> None:
        self._remove(f"{self.root}/tmp/{name}", "removing an upload part")

    def _remove(self, path: str, what: str) -> None:
        try:
            self._call(what, self.fs.rm_file, path)
        except FileNotFoundError:
            pass  # someone else removed it first

    # --- download ------------------------------------------------------------------------------
    def hash_of(self, sha: str, size: int) -> str:
        """The sha256 of the remote object's bytes (read, not stored)."""
        digest = hashlib.sha256()
        for start in range(0, size, CHUNK):
            digest.update(self._range(sha, start, min(start + CHUNK, size), size))
        return digest.hexdigest()

    def _range(self, sha: str, start: int, end: int, size: int) -> bytes:
        what = f"downloading clip {sha[:12]}, {start / 1e6:.1f} to {end / 1e6:.1f} of {size / 1e6:.1f} MB"
        try:
            data = self._call(what, self.fs.cat_file, self._object(sha), start=start, end=end)
        except FileNotFoundError:
            self.check()  # the folder went away (an unmounted share): say so
            raise RemoteError(
                f"clip {sha[:12]} was removed from the remote store {self.url} after it was listed "
                f"({what}); run the command again"
            ) from None
        return bytes(data)

    def get_object(self, sha: str, store: Store, size: int) -> int:
        """Download one object into the local store, resuming a partial download; verify its hash.

        Returns the bytes received; CorruptObject when the remote's bytes do not hash to ``sha``.
        """
        part = store.dir / "tmp" / f"{sha}.part"
        part.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if self._fetch(sha, part, have, size) != sha:
            part.unlink(missing_ok=True)
            if not have:
                raise CorruptObject(sha)
            # The partial file from an earlier pull may be what is bad (a local fault): fetch it whole once.
            if self._fetch(sha, part, 0, size) != sha:
                part.unlink(missing_ok=True)
                raise CorruptObject(sha)
            have = 0
        got = store.add_file(part)
        if got != sha:  # changed on the local disk since it was checked: not the remote's fault
            raise RemoteError(f"clip {sha[:12]} changed on this disk while it was stored; pull again")
        return size - have

    def _fetch(self, sha: str, part: Path, have: int, size: int) -> str:
        """Append bytes ``have``… of the object to ``part``; the sha256 of the whole part (hashed as it grows)."""
        digest = hashlib.sha256()
        with open(part, "ab+") as w:
            w.seek(0)
            while chunk := w.read(1 << 20):
                digest.update(chunk)
            for start in range(have, size, CHUNK):
                data = self._range(sha, start, min(start + CHUNK, size), size)
                digest.update(data)
                w.write(data)
            w.flush()
            os.fsync(w.fileno())
        return digest.hexdigest()


def _tag(info: Mapping[str, Any]) -> str:
    """A short digest of the store's own fingerprint of an object: it changes when the object is rewritten."""
    mark = next(
        (str(info[k]).strip('"') for k in ("ETag", "etag", "md5Hash", "generation") if info.get(k)), ""
    )
    if not mark:  # a folder: a rewrite changes the mtime, a replacement the inode
        mark = f"{info.get('mtime')}:{info.get('ino')}"
    return hashlib.sha256(f"{info.get('size')}:{mark}".encode()).hexdigest()[:16]


def _mtime(info: Mapping[str, Any]) -> float:
    for k in ("LastModified", "Initiated", "updated", "mtime", "created"):
        value = info.get(k)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return time.time()  # unknown age: treated as new, so it is kept


def _parallel(items: Collection[T], work: Callable[[T], None], workers: int) -> None:
    """Run ``work`` on every item, ``workers`` at once; the first failure cancels what has not started."""
    if workers <= 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(work, i) for i in items]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def clone_id(store: Store) -> str:
    """This clone's id (made once): names its upload parts, so its next push can remove its own leftovers."""
    path = store.dir / "clone-id"
    try:
        text = path.read_text().strip()
        if re.fullmatch(r"[0-9a-f]{12}", text):
            return text
    except OSError:
        pass
    text = uuid.uuid4().hex[:12]
    durable.write_text(path, text + "\n")
    return text


def push(
    store: Store,
    remote: Remote,
    pins: dict[str, str],
    *,
    all_takes: bool = False,
    progress: Callable[[str, int], None] | None = None,
    workers: int = WORKERS,
) -> Transfer:
    """Upload the pinned takes (``pins``: recipe key → clip sha) or, with ``all_takes``, every take.

    An object already on the remote is skipped only when its sidecar vouches for it or its bytes hash
    right; a corrupt one is uploaded again (``repaired``). Hold the store lock: this clone's stale upload
    parts are removed first.
    """
    result = Transfer()
    wanted: dict[str, tuple[str, Take, dict[str, Any]]] = {}  # sha → (key, take, recipe)
    for entry in store.entries():
        for take in entry.takes:
            if all_takes or pins.get(entry.key) == take.sha256:
                wanted.setdefault(take.sha256, (entry.key, take, entry.recipe))
    # A chained shot is keyed by its upstream clip's hash and a frame selector, not by the frame's
    # bytes, so frames need not travel: the teammate's store extracts them again.
    bare = sorted({s for s in pins.values() if s not in wanted})  # pinned, but no take record here
    inventory = remote.inventory()
    records = remote.take_index()
    set_aside_damaged(store, [*wanted, *bare], result)  # a rotted copy must never replace a good one
    remote.part_prefix = f"{clone_id(store)}-"
    if remote.local:
        for name, _, _ in remote.parts():
            if name.startswith(remote.part_prefix):
                remote.remove_part(name)

    def one(sha: str) -> None:
        path = store.object_path(sha)
        if not path.is_file():
            result.record("skipped" if sha in inventory else "missing", sha)
            return
        size, there = path.stat().st_size, inventory.get(sha)
        if there is not None and there.size == size and (there.verified or remote.hash_of(sha, size) == sha):
            if not there.verified:
                remote.mark_verified(sha, there)
            result.record("skipped", sha)
        else:
            remote.put_object(sha, path, there.sidecars if there else ())
            # a copy under this name that is not these bytes (corrupt, or half-uploaded) is replaced
            result.record("sent" if there is None else "repaired", sha, size)
        if sha in wanted and sha not in records.get(wanted[sha][0], set()):
            key, take, recipe = wanted[sha]
            remote.put_take(key, recipe, take)
        if progress:
            progress(sha, size)

    _parallel(list(wanted) + bare, one, workers)
    write_marker(store, remote, result.sent + result.skipped + result.repaired)
    return result


def pull(
    store: Store,
    remote: Remote,
    wanted: Mapping[str, str] | Collection[tuple[str, str]],
    *,
    progress: Callable[[str, int], None] | None = None,
    workers: int = WORKERS,
) -> Transfer:
    """Download the clips ``wanted`` (recipe key → clip sha, or such pairs) that the local store lacks, with their takes."""
    result = Transfer()
    pairs = list(wanted.items()) if isinstance(wanted, Mapping) else list(wanted)
    set_aside_damaged(store, [sha for _, sha in pairs], result)  # fetched again below
    need = []
    for key, sha in pairs:
        recipe = store.entry(key)
        if store.has_object(sha) and recipe is not None and any(t.sha256 == sha for t in recipe.takes):
            result.record("skipped", sha)  # nothing to fetch, nothing to ask the remote
        else:
            need.append((key, sha))
    if not need:
        return result
    inventory = remote.inventory()
    index = threading.Lock()  # two takes of one recipe write the same index file

    def one(pair: tuple[str, str]) -> None:
        key, sha = pair
        if store.has_object(sha):
            result.record("skipped", sha)
        elif sha not in inventory:
            result.record("missing", sha)
            return
        else:
            try:
                result.record("sent", sha, remote.get_object(sha, store, inventory[sha].size))
            except CorruptObject:
                result.record("corrupt", sha)
                return
        record = remote.take_record(key, sha)
        if record is not None:
            with index:
                store.add_take(key, record[1], record[0])
        if progress:
            progress(sha, inventory[sha].size if sha in inventory else 0)

    _parallel(need, one, workers)
    write_marker(store, remote, [s for s in result.sent + result.skipped if s in inventory])
    return result


def set_aside_damaged(store: Store, shas: Iterable[str], result: Transfer) -> None:
    """Move this store's copies among ``shas`` that no longer hash to their names aside (``damaged``)."""
    for sha in sorted(store.damaged(s for s in set(shas) if store.has_object(s))):
        store.set_aside(sha)
        result.record("damaged", sha)


def write_marker(store: Store, remote: Remote, shas: Iterable[str]) -> None:
    """Remember which objects are known to be on this remote (for ``shotlist status`` without asking it)."""
    shas = set(shas)
    path = store.dir / "pushed.json"
    known = salvage.read_cache(path, salvage.json_object, "the list of pushed clips") or {}
    before = set(known.get(remote.url, []))
    if shas <= before:
        return
    known[remote.url] = sorted(before | shas)
    durable.write_json(path, known)


def pushed(store: Store, remote_url_: str) -> set[str]:
    """The objects last seen on the remote ``remote_url_`` (pushed or pulled by this clone)."""
    data = salvage.read_cache(store.dir / "pushed.json", salvage.json_object, "the list of pushed clips")
    return set(data.get(remote_url_, [])) if data else set()
