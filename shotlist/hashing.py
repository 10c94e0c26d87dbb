"""Content hashes of input files, remembered by (path, size, mtime, inode) so a no-op build rereads nothing.

A key must follow the bytes of an input, not its name; hashing a 2 MB image on every build would make
a no-op build of a hundred shots slow, so the digest is cached in ``.shotlist/hashes.json`` and
recomputed only when the file's size, modification time or inode changed (any rewrite changes one).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from shotlist import durable, salvage

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class HashCache:
    """Digests of files, cached by their stat signature in one JSON file."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.entries: dict[str, list[object]] = (
            salvage.read_cache(file, salvage.json_object, "the input-file hash cache") or {}
        )
        self.dirty = False

    def digest(self, path: Path) -> str:
        """sha256 of ``path``; read from the cache when the file's stat signature is unchanged."""
        st = os.stat(path)
        signature = [st.st_size, st.st_mtime_ns, st.st_ino]
        name = str(path)
        hit = self.entries.get(name)
        if isinstance(hit, list) and len(hit) == 4 and hit[:3] == signature and isinstance(hit[3], str):
            return hit[3]
        digest = sha256_file(path)
        self.entries[name] = [*signature, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        """Write the cache if it learnt anything (forgetting entries for files that are gone)."""
        if not self.dirty:
            return
        self.entries = {k: v for k, v in self.entries.items() if os.path.exists(k)}
        try:
            durable.write_json(self.file, self.entries, sync=False)  # a lost cache only costs a rehash
        except OSError:
            pass  # a read-only project still builds; it only rehashes next time
        self.dirty = False
