"""Destination folders of a restore, opened without ever following a symbolic link.

Each folder is a :class:`~app.backup.layout.Place`: an anchor opened as the operator
named it, then every part below it opened with ``O_DIRECTORY | O_NOFOLLOW`` relative to
its parent's descriptor (a link anywhere on the way, user_data itself included, is
refused). Files are then created, renamed and removed relative to the folder's
descriptor, so a folder swapped for a symbolic link after the check cannot redirect a
write: the descriptor still names the real folder. :meth:`Folders.reverify` checks right
before the swap that every path still leads to the folder that was opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from types import TracebackType

from app.backup.layout import Place
from app.errors import BackupError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_Key = tuple[str, ...]  # (anchor, *parts)


def lstat_at(folder: int, name: str) -> os.stat_result | None:
    """``lstat`` of ``name`` in the folder descriptor; None when absent."""
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None


class Folders:
    """Open destination folders; a context manager that closes them all."""

    def __init__(self) -> None:
        self._fds: dict[_Key, int] = {}
        self.created: list[_Key] = []

    def __enter__(self) -> Folders:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    @staticmethod
    def _display(key: _Key) -> Path:
        return Path(key[0]).joinpath(*key[1:])

    def _anchor(self, anchor: Path) -> int:
        key = (str(anchor),)
        if key not in self._fds:
            try:
                self._fds[key] = os.open(anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                raise BackupError(f"cannot open the folder {anchor}: {exc.strerror}") from None
        return self._fds[key]

    def _refuse(self, parent: int, key: _Key, exc: OSError) -> BackupError:
        status = lstat_at(parent, key[-1])
        where = self._display(key)
        if status is not None and stat.S_ISLNK(status.st_mode):
            return BackupError(
                f"refusing to restore through the symbolic link {where} (a restore writes only "
                "into real folders; point --user-data or RISK_STATE_DIR at the real folder)"
            )
        if status is not None and not stat.S_ISDIR(status.st_mode):
            return BackupError(f"refusing to restore into {where}: it is a file, not a folder")
        return BackupError(f"cannot open the folder {where}: {exc.strerror}")

    def open(self, place: Place, *, create: bool) -> int | None:
        """The folder's descriptor; None when it does not exist and ``create`` is False."""
        key: _Key = (str(place.anchor),)
        fd = self._anchor(place.anchor)
        for part in place.parts:
            child = (*key, part)
            if child not in self._fds:
                try:
                    self._fds[child] = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        return None
                    self._make(fd, child)
                except OSError as exc:
                    raise self._refuse(fd, child, exc) from None
            key, fd = child, self._fds[child]
        return fd

    def _make(self, parent: int, key: _Key) -> None:
        try:
            os.mkdir(key[-1], 0o755, dir_fd=parent)
            self.created.append(key)
        except FileExistsError:
            pass  # made by someone else meanwhile: opened (and checked) like any other
        try:
            self._fds[key] = os.open(key[-1], _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise self._refuse(parent, key, exc) from None

    def reverify(self) -> None:
        """Every opened folder is still what its path leads to, without links; else BackupError."""
        for key, fd in self._fds.items():
            held = os.fstat(fd)
            if len(key) == 1:
                try:
                    now = Path(key[0]).stat()
                except OSError:
                    now = None
            else:
                now = lstat_at(self._fds[key[:-1]], key[-1])
            if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
                raise BackupError(
                    f"the folder {self._display(key)} was moved or replaced during the restore; "
                    "nothing was changed. Find out who changes user_data, then restore again"
                )

    def remove_created(self) -> None:
        """Remove the folders this restore created (empty ones only), deepest first."""
        for key in reversed(self.created):
            parent = self._fds.get(key[:-1])
            if parent is not None:
                with contextlib.suppress(OSError):
                    os.rmdir(key[-1], dir_fd=parent)
        self.created.clear()


def new_file(folder: int, name: str) -> int:
    """Create ``name`` in the folder, exclusively and without following a link."""
    return os.open(name, _NEW_FILE, 0o666, dir_fd=folder)


def rename_at(folder: int, source: str, target: str) -> None:
    """Rename within one folder descriptor (atomic; replaces ``target``, never follows it)."""
    os.rename(source, target, src_dir_fd=folder, dst_dir_fd=folder)


def unlink_at(folder: int, name: str) -> None:
    """Remove ``name`` from the folder if it is there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder)


def fsync_folder(folder: int) -> None:
    """Make renames in the folder durable (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        os.fsync(folder)
