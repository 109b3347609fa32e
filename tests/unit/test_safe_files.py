"""Bounded, non-blocking reads of regular files (app/safe_files.py), on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.safe_files import UnsafeFileError, read_bounded, read_head, stat_key


def test_read_bounded_when_regular_file_then_bytes_and_identity(tmp_path: Path) -> None:
    """The content comes back with the (mtime, size, inode) of what was read."""
    file = tmp_path / "f"
    file.write_bytes(b"abc")
    read = read_bounded(file, max_bytes=3)
    assert read is not None
    assert (read.data, read.key) == (b"abc", stat_key(file.stat()))


def test_read_bounded_when_nothing_there_then_none(tmp_path: Path) -> None:
    """Absence is a value, not an error (also when the folder is missing)."""
    assert read_bounded(tmp_path / "none", max_bytes=10) is None
    assert read_bounded(tmp_path / "no" / "folder", max_bytes=10) is None


def test_read_bounded_when_one_byte_over_then_refused(tmp_path: Path) -> None:
    """max_bytes is inclusive; one more byte is refused, naming both sizes."""
    file = tmp_path / "f"
    file.write_bytes(b"x" * 11)
    assert read_bounded(file, max_bytes=11) is not None
    with pytest.raises(UnsafeFileError, match="is 11 bytes, more than the 10 allowed"):
        read_bounded(file, max_bytes=10)


def test_read_bounded_when_symlink_then_refused_unless_followed(tmp_path: Path) -> None:
    """Symlinks are refused by default; followed on request, but never to nothing."""
    target = tmp_path / "target"
    target.write_bytes(b"t")
    link, dangling = tmp_path / "link", tmp_path / "dangling"
    link.symlink_to(target)
    dangling.symlink_to(tmp_path / "gone")
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        read_bounded(link, max_bytes=10)
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        read_bounded(dangling, max_bytes=10)
    followed = read_bounded(link, max_bytes=10, follow_symlinks=True)
    assert followed is not None and followed.data == b"t"
    with pytest.raises(UnsafeFileError, match="which does not exist"):
        read_bounded(dangling, max_bytes=10, follow_symlinks=True)


@pytest.mark.timeout(60)
def test_read_when_fifo_then_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO with no writer is refused at once by both readers."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for read in (lambda: read_bounded(fifo, max_bytes=10), lambda: read_head(fifo, 16)):
        with pytest.raises(UnsafeFileError, match=r"is a named pipe \(FIFO\)"):
            read()


def test_read_when_nul_in_path_then_refused_not_value_error(tmp_path: Path) -> None:
    """A path the OS cannot even look up is an UnsafeFileError like any other."""
    with pytest.raises(UnsafeFileError, match="cannot be inspected"):
        read_bounded(tmp_path / "a\x00b", max_bytes=10)


def test_read_head_when_file_large_then_only_first_bytes(tmp_path: Path) -> None:
    """read_head has no size limit and reads only what it is asked for."""
    file = tmp_path / "big"
    with file.open("wb") as handle:
        handle.write(b"HEAD")
        handle.truncate(50 * 1024 * 1024)
    assert read_head(file, 4) == b"HEAD"
    assert read_head(tmp_path / "none", 4) is None
