"""Reading small operator files that may have been replaced by something hostile.

The circuit breaker file and ``.env`` are read by long-running processes and by every
command. Whoever can write next to them can put a FIFO there (a plain ``open`` then
waits forever for a writer), a symlink to ``/dev/zero`` (a plain ``read`` fills the
memory), a folder or a file of gigabytes. :func:`read_bounded` reads regular files of
bounded size only and never blocks:

* it ``lstat``/``stat``s first and refuses anything that is not a regular file before
  opening it (opening some devices has side effects);
* it opens with ``O_NONBLOCK`` (a FIFO swapped in between the two calls cannot make
  ``open`` or ``read`` wait), ``O_NOFOLLOW`` unless symlinks are allowed, and checks the
  opened descriptor again with ``fstat``;
* it reads at most ``max_bytes + 1`` bytes, so an over-long file is refused without
  being read whole.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from app.text import shown

StatKey = tuple[int, int, int]


class UnsafeFileError(ValueError):
    """The path exists but is not a regular file of bounded size that can be read now.

    ``problem`` says why, in words that fit after "the file ...".
    """

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class FileBytes:
    """The content of a file and the identity of what was read."""

    data: bytes
    key: StatKey


def stat_key(st: os.stat_result) -> StatKey:
    """(mtime_ns, size, inode): changes whenever a file is rewritten or replaced."""
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words ("a named pipe (FIFO)", "a folder" ...)."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def _link_target(path: Path) -> str:
    try:
        return shown(str(path.readlink()))
    except (OSError, ValueError):
        return "an unreadable target"


def _checked_regular(path: Path, st: os.stat_result, max_bytes: int | None) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeFileError(path, f"is a symbolic link (to {_link_target(path)})")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(path, f"is {kind_of(st.st_mode)}, not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise UnsafeFileError(path, f"is {st.st_size} bytes, more than the {max_bytes} allowed")


def _open_regular(
    path: Path, *, follow_symlinks: bool, max_bytes: int | None
) -> tuple[int, os.stat_result] | None:
    """An open descriptor of the regular file ``path`` and its ``fstat``; None when absent."""
    try:
        st = path.stat(follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        if follow_symlinks and path.is_symlink():
            raise UnsafeFileError(
                path, f"is a symbolic link to {_link_target(path)}, which does not exist"
            ) from None
        return None
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in the path
        raise UnsafeFileError(path, f"cannot be inspected ({_reason(exc)})") from None
    _checked_regular(path, st, max_bytes)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None  # removed between stat and open
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise UnsafeFileError(path, f"is a symbolic link (to {_link_target(path)})") from None
        raise UnsafeFileError(path, f"cannot be opened ({_reason(exc)})") from None
    try:
        st = os.fstat(fd)
        _checked_regular(path, st, max_bytes)
    except OSError as exc:
        os.close(fd)
        raise UnsafeFileError(path, f"cannot be inspected ({_reason(exc)})") from None
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _read(path: Path, fd: int, limit: int) -> bytes:
    try:
        return _read_at_most(fd, limit)
    except OSError as exc:
        raise UnsafeFileError(path, f"cannot be read ({_reason(exc)})") from None
    finally:
        os.close(fd)


def read_bounded(path: Path, *, max_bytes: int, follow_symlinks: bool = False) -> FileBytes | None:
    """The bytes of the regular file ``path``; ``None`` when nothing is at the path.

    Never blocks. Raises :class:`UnsafeFileError` for a symlink (unless
    ``follow_symlinks``; a symlink to nothing is refused either way), a folder, FIFO,
    socket or device, a file over ``max_bytes`` and any error of ``stat``/``open``/``read``.
    Symlinks in the *folders* above the file are followed: only the last component is
    checked.
    """
    opened = _open_regular(path, follow_symlinks=follow_symlinks, max_bytes=max_bytes)
    if opened is None:
        return None
    fd, st = opened
    data = _read(path, fd, max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFileError(path, f"is more than the {max_bytes} bytes allowed")
    return FileBytes(data, stat_key(st))


def read_head(path: Path, size: int, *, follow_symlinks: bool = True) -> bytes | None:
    """The first ``size`` bytes of the regular file ``path`` (of any length); None when absent.

    The same checks as :func:`read_bounded`, without the size limit; for recognising a
    file by its magic bytes (e.g. SQLite's header) before a library opens it.
    """
    opened = _open_regular(path, follow_symlinks=follow_symlinks, max_bytes=None)
    if opened is None:
        return None
    fd, _ = opened
    return _read(path, fd, size)


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
