"""Plan a restore: where each file of a verified backup goes, decided by the layout alone.

A component's files go only into its own folder and only if they are files that
component holds (``names.py``); the manifest never chooses a place. Every existing
folder on the way, user_data itself included, must be a real folder (``dirs.py``); a
destination that is a link, a folder or a special file is refused. Nothing here writes.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from app.backup.archive import Member, safe_members
from app.backup.dirs import Folders, lstat_at
from app.backup.layout import COMPONENTS, BackupPaths, Place
from app.backup.manifest import Entry, Manifest
from app.backup.names import check
from app.backup.source import BackupFolder
from app.errors import BackupError

_SIDE_FILES = ("-wal", "-shm")


@dataclass(slots=True)
class Write:
    """One file to put in place: ``name`` in the folder ``place``."""

    component: str
    place: Place
    name: str
    entry: Entry
    member: Member | None = None
    is_database: bool = False
    staged: str | None = None

    @property
    def destination(self) -> Path:
        """The file's path."""
        return self.place.path / self.name

    @property
    def size(self) -> int:
        """Bytes this write adds."""
        return self.member.size if self.member is not None else self.entry.size

    def names(self) -> list[str]:
        """The destination and, for a database, its ``-wal``/``-shm`` files."""
        extra = [f"{self.name}{s}" for s in _SIDE_FILES] if self.is_database else []
        return [self.name, *extra]


def select(manifest: Manifest, only: list[str] | None, paths: BackupPaths) -> list[str]:
    present = manifest.components
    wanted = list(dict.fromkeys(only)) if only else present
    unknown = [c for c in wanted if c not in COMPONENTS]
    if unknown:
        raise BackupError(f"unknown component(s) {unknown}; use {', '.join(COMPONENTS)}")
    missing = [c for c in wanted if c not in present]
    if missing:
        raise BackupError(
            f"the backup has no {', '.join(missing)} (it holds {', '.join(present) or 'nothing'})"
        )
    if "registry" in wanted and paths.registry_file is None:
        raise BackupError(
            f"the registry is {paths.registry_display}, not an SQLite file; restore it with the "
            "database's own tools, and leave it out here with --only (e.g. --only trades)"
        )
    return wanted


def _writes_of(folder: BackupFolder, entry: Entry, paths: BackupPaths) -> list[Write]:
    reserved = paths.reserved_for_trades()
    if entry.kind == "zip":
        root = paths.place(entry.component)
        members = safe_members(folder.archive(entry), entry.path, entry.component, reserved)
        return [
            Write(entry.component, root.below(*m.parts[:-1]), m.parts[-1], entry, m)
            for m in members
        ]
    if entry.component == "registry":
        registry = paths.registry_file
        assert registry is not None  # checked by _select
        return [Write("registry", paths.place("registry"), registry.name, entry, is_database=True)]
    parts = check(entry.component, entry.target, f"{entry.path}: target", reserved)
    place = paths.place(entry.component).below(*parts[:-1])
    return [Write(entry.component, place, parts[-1], entry, is_database=entry.kind == "sqlite")]


def plan(
    folder: BackupFolder, manifest: Manifest, wanted: list[str], paths: BackupPaths
) -> list[Write]:
    writes = [
        write
        for entry in manifest.entries
        if entry.component in wanted
        for write in _writes_of(folder, entry, paths)
    ]
    seen: dict[str, Write] = {}
    for write in writes:
        key = str(write.destination).casefold()
        if key in seen:
            raise BackupError(
                f"the backup restores {seen[key].destination} twice ({write.entry.path} again; "
                "names differing only by case collide); refusing it"
            )
        seen[key] = write
    return writes


def existing_files(writes: list[Write], folders: Folders) -> dict[int, list[str]]:
    """Walk every destination folder (refusing links); the existing files, per write."""
    existing: dict[int, list[str]] = {}
    for n, write in enumerate(writes):
        fd = folders.open(write.place, create=False)
        existing[n] = []
        if fd is None:
            continue
        for name in write.names():
            status = lstat_at(fd, name)
            if status is None:
                continue
            where = write.place.path / name
            if stat.S_ISLNK(status.st_mode):
                raise BackupError(
                    f"{where} is a symbolic link; a restore never writes through or replaces "
                    "one. Remove it, then restore again"
                )
            if stat.S_ISDIR(status.st_mode):
                raise BackupError(f"refusing to restore over the folder {where}")
            if not stat.S_ISREG(status.st_mode):
                raise BackupError(f"refusing to restore over the special file {where}")
            existing[n].append(name)
    return existing
