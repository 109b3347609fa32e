"""Apply a planned restore: refuse conflicts, stage every file, then swap them all in.

Staged files are hidden temp files (``.<name>.restore-<token>``) created exclusively in
the destination folder through its descriptor, so the final rename is atomic and cannot
be redirected by a link swapped in meanwhile. The swap moves each existing file (and a
database's ``-wal``/``-shm``) aside, renames the staged file into place, and undoes every
step if one fails; the set-aside files are deleted only when every file is in place.
"""

from __future__ import annotations

import os
from collections import defaultdict

from app.backup.archive import extract
from app.backup.dirs import Folders, fsync_folder, new_file, rename_at, unlink_at
from app.backup.inuse import database_holders
from app.backup.layout import Place
from app.backup.plan import Write
from app.backup.source import BackupFolder
from app.errors import BackupError

FREE_SPACE_RESERVE = 16 << 20


def refuse_conflicts(writes: list[Write], existing: dict[int, list[str]]) -> None:
    """BackupError listing the files that already exist (without ``--overwrite``)."""
    conflicts = [str(w.place.path / name) for n, w in enumerate(writes) for name in existing[n]]
    if conflicts:
        shown = ", ".join(conflicts[:10]) + (
            f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
        )
        raise BackupError(
            f"{len(conflicts)} file(s) already exist: {shown}; nothing was restored. Pass "
            "--overwrite to replace them (take a backup first), or restore fewer parts with --only"
        )


def _deepest_existing(place: Place, folders: Folders) -> int:
    for depth in range(len(place.parts), -1, -1):
        fd = folders.open(Place(place.anchor, place.parts[:depth]), create=False)
        if fd is not None:
            return fd
    raise AssertionError("the anchor always opens")  # pragma: no cover


def refuse_no_space(writes: list[Write], folders: Folders) -> None:
    """BackupError when a filesystem lacks room for what the restore writes there."""
    need: dict[int, int] = defaultdict(int)
    where: dict[int, int] = {}
    for write in writes:
        fd = _deepest_existing(write.place, folders)
        device = os.fstat(fd).st_dev
        need[device] += write.size
        where.setdefault(device, fd)
    for device, size in need.items():
        status = os.fstatvfs(where[device])
        free = status.f_bavail * status.f_frsize
        if size + FREE_SPACE_RESERVE > free:
            raise BackupError(
                f"restoring needs {size / 1e6:.1f} MB but only {free / 1e6:.1f} MB are free on "
                "the destination's filesystem; free space or restore fewer parts with --only"
            )


def refuse_in_use(writes: list[Write], existing: dict[int, list[str]]) -> list[str]:
    """BackupError while a process holds a database being replaced; warnings otherwise."""
    warnings = []
    for n, write in enumerate(writes):
        if not write.is_database or not existing[n]:
            continue
        holders, hidden = database_holders(write.destination)
        if holders:
            who = "; ".join(h.describe() for h in holders)
            raise BackupError(
                f"{write.destination} is in use ({who}); stop the bot or runner first "
                "(docker compose stop freqtrade), then restore again"
            )
        if hidden:
            warnings.append(
                f"{hidden} process(es) could not be inspected for open files; make sure no bot "
                f"uses {write.destination} (run as the bot's user or root to check them too)"
            )
    return warnings


def stage(source: BackupFolder, writes: list[Write], folders: Folders, token: str) -> None:
    """Write every file as a hidden temp file in its folder (creating missing folders)."""
    for write in writes:
        fd = folders.open(write.place, create=True)
        assert fd is not None
        staged = f".{write.name}.restore-{token}"
        sink = new_file(fd, staged)
        write.staged = staged
        try:
            if write.member is not None:
                extract(source.archive(write.entry), write.member, sink, write.entry.path)
            elif source.copy(write.entry, sink) != write.entry.sha256:
                raise BackupError(f"{write.entry.path} changed while being restored; try again")
            os.fsync(sink)
        finally:
            os.close(sink)


def swap(writes: list[Write], folders: Folders, existing: dict[int, list[str]], token: str) -> None:
    """Put every staged file in place; undo all of it if any step fails."""
    folders.reverify()
    done: list[tuple[Write, int, list[tuple[str, str]]]] = []
    try:
        for n, write in enumerate(writes):
            fd = folders.open(write.place, create=False)
            assert fd is not None and write.staged is not None
            aside: list[tuple[str, str]] = []
            done.append((write, fd, aside))
            for name in existing[n]:
                parked = f".{name}.pre-restore-{token}"
                rename_at(fd, name, parked)
                aside.append((parked, name))
            rename_at(fd, write.staged, write.name)
            write.staged = None
    except BaseException:
        for write, fd, aside in reversed(done):
            if write.staged is None:
                unlink_at(fd, write.name)
            for parked, original in aside:
                rename_at(fd, parked, original)
        raise
    for _write, fd, aside in done:
        for parked, _original in aside:
            unlink_at(fd, parked)
    for fd in {fd for _w, fd, _a in done}:
        fsync_folder(fd)


def discard(writes: list[Write], folders: Folders) -> None:
    """Remove staged files and the folders this restore created."""
    for write in writes:
        if write.staged is not None:
            fd = folders.open(write.place, create=False)
            if fd is not None:
                unlink_at(fd, write.staged)
            write.staged = None
    folders.remove_created()
