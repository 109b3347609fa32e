"""Reading a backup folder that may have been crafted: regular files only, each opened once.

Every file is looked at with ``lstat`` first (a FIFO, device or socket is never opened,
so nothing can block or have side effects), then opened with ``O_NOFOLLOW`` and checked
again with ``fstat``; folders on the way are opened with ``O_DIRECTORY | O_NOFOLLOW``.
The open descriptors are kept: what was verified (size, sha256, archive members) is what
the restore later reads, even if somebody swaps a file in the folder meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import zipfile
from pathlib import Path
from types import TracebackType

from app.backup.archive import ZIP_ERRORS
from app.backup.manifest import MANIFEST_NAME, Entry, Manifest, parse_manifest
from app.backup.names import show
from app.errors import BackupError

MAX_MANIFEST_BYTES = 32 << 20
_CHUNK = 1 << 20
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file (FIFO, device or socket)"


class BackupFolder:
    """An open backup folder; use as a context manager (closes every descriptor)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BackupError(f"backup folder {str(path)!r} does not exist") from None
        except OSError as exc:
            raise BackupError(
                f"backup folder {str(path)!r} cannot be opened: {exc.strerror}"
            ) from None
        self._files: dict[str, int] = {}
        self._zips: dict[str, zipfile.ZipFile] = {}

    def __enter__(self) -> BackupFolder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every archive and descriptor."""
        for archive in self._zips.values():
            archive.close()
        for fd in [*self._files.values(), self._fd]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._files.clear()
        self._zips.clear()

    # -- OPENING ---------------------------------------------------------------------------

    def _open(self, relative: str) -> int:
        """A descriptor of the regular file ``relative``; BackupError saying what it is else."""
        parts = relative.split("/")
        opened: list[int] = []
        folder = self._fd
        try:
            for part in parts[:-1]:
                try:
                    folder = os.open(part, DIR_FLAGS, dir_fd=folder)
                except OSError as exc:
                    raise BackupError(f"{relative}: cannot be opened ({exc.strerror})") from None
                opened.append(folder)
            try:
                before = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                raise BackupError(f"{relative}: missing") from None
            if not stat.S_ISREG(before.st_mode):
                raise BackupError(f"{relative}: not a regular file but {_kind(before.st_mode)}")
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=folder)
        except OSError as exc:
            raise BackupError(f"{relative}: cannot be opened ({exc.strerror})") from None
        finally:
            for extra in opened:
                os.close(extra)
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode) or after.st_ino != before.st_ino:
            os.close(fd)
            raise BackupError(f"{relative}: replaced while being opened; try again")
        return fd

    def manifest(self) -> Manifest:
        """Read and validate ``manifest.json`` (a regular file of bounded size)."""
        where = f"{str(self.path / MANIFEST_NAME)!r}"
        try:
            fd = self._open(MANIFEST_NAME)
        except BackupError as exc:
            if str(exc).endswith(": missing"):
                raise BackupError(
                    f"{str(self.path)!r} has no {MANIFEST_NAME}: not a backup, or an incomplete one"
                ) from None
            raise BackupError(f"{where} is unusable ({exc}); the backup is damaged") from None
        try:
            size = os.fstat(fd).st_size
            if size > MAX_MANIFEST_BYTES:
                raise BackupError(
                    f"{where} is {size} bytes; a manifest is at most {MAX_MANIFEST_BYTES} bytes"
                )
            data = os.pread(fd, MAX_MANIFEST_BYTES + 1, 0)
        finally:
            os.close(fd)
        if len(data) > MAX_MANIFEST_BYTES:
            raise BackupError(f"{where} grew beyond {MAX_MANIFEST_BYTES} bytes while being read")
        return parse_manifest(data, where)

    # -- VERIFYING -------------------------------------------------------------------------

    def verify(self, manifest: Manifest) -> dict[str, str]:
        """Problem of each bad file (missing, not a regular file, wrong size or sha256)."""
        problems = {}
        for entry in manifest.entries:
            try:
                fd = self._open(entry.path)
            except BackupError as exc:
                problems[entry.path] = str(exc)
                continue
            self._files[entry.path] = fd
            size = os.fstat(fd).st_size
            if size != entry.size:
                problems[entry.path] = (
                    f"{entry.path}: {size} bytes, manifest says {entry.size} (truncated?)"
                )
            elif self.copy(entry, None) != entry.sha256:
                problems[entry.path] = f"{entry.path}: sha256 differs from the manifest (corrupted)"
        return problems

    def read(self, entry: Entry) -> bytes:
        """The whole verified file (for small ones: parameter files)."""
        return os.pread(self._files[entry.path], entry.size + 1, 0)[: entry.size]

    def proc_path(self, entry: Entry) -> str:
        """A path to the verified file's open descriptor (for SQLite, which wants a path)."""
        return f"/proc/self/fd/{self._files[entry.path]}"

    def copy(self, entry: Entry, sink: int | None) -> str:
        """sha256 of the verified file, writing its bytes to the descriptor ``sink`` if given."""
        fd = self._files[entry.path]
        digest = hashlib.sha256()
        offset = 0
        while chunk := os.pread(fd, _CHUNK, offset):
            digest.update(chunk)
            offset += len(chunk)
            if sink is not None:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(sink, view) :]
        return digest.hexdigest()

    def archive(self, entry: Entry) -> zipfile.ZipFile:
        """The verified archive of ``entry``, opened once and kept open."""
        if entry.path not in self._zips:
            handle = os.fdopen(os.dup(self._files[entry.path]), "rb")
            try:
                self._zips[entry.path] = zipfile.ZipFile(handle)
            except ZIP_ERRORS as exc:
                handle.close()
                raise BackupError(
                    f"{entry.path} is not a readable zip archive: {show(str(exc), 200)}"
                ) from None
        return self._zips[entry.path]
