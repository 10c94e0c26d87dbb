"""Durable writes: a file is its old content or its new content, and a failed writer leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shotlist import durable


def test_a_file_filled_by_another_process_appears_whole_only_when_the_block_ends(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "clip.bin"
    with durable.replacing(dest) as tmp:
        assert tmp.parent == dest.parent and tmp != dest
        subprocess.run([sys.executable, "-c", f"open({str(tmp)!r}, 'wb').write(b'new' * 1000)"], check=True)
        assert not dest.exists()
    assert dest.read_bytes() == b"new" * 1000
    assert [p.name for p in dest.parent.iterdir()] == ["clip.bin"]


def test_a_failed_writer_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    dest = tmp_path / "spec.json"
    durable.write_text(dest, "old")
    with pytest.raises(KeyboardInterrupt), durable.replacing(dest, sync=False) as tmp:
        tmp.write_text("half of the new")
        raise KeyboardInterrupt
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]
