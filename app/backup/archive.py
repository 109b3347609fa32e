"""Zip archives of result, log and state folders, and their safe reading.

Writing: regular files only, in sorted order, paths relative to the folder. Symbolic
links are *not* followed (they could pull in files from anywhere) and are reported.

Reading: every member is checked before anything is extracted. Refused: absolute paths,
``..``, backslashes and drive letters (zip slip), symbolic links, devices, FIFOs and
sockets (from the Unix mode in ``external_attr``), and duplicate names.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from app.backup.manifest import safe_relative
from app.errors import BackupError

# Already compressed: storing is as small and much faster than deflating again.
STORED_SUFFIXES = frozenset({".zip", ".gz", ".bz2", ".xz", ".zst", ".feather", ".parquet"})


def zip_folder(folder: Path, target: Path, *, exclude_top: tuple[str, ...] = ()) -> list[str]:
    """Write ``folder``'s regular files into the new zip ``target``; return notes on skips."""
    notes: list[str] = []
    with zipfile.ZipFile(target, "x", compression=zipfile.ZIP_DEFLATED) as archive:
        if not folder.is_dir():
            return notes
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if relative.parts[0] in exclude_top:
                continue
            if path.is_symlink():
                notes.append(f"skipped symbolic link {path}")
                continue
            if path.is_dir():
                continue
            if not path.is_file():
                notes.append(f"skipped special file {path}")
                continue
            method = (
                zipfile.ZIP_STORED
                if path.suffix.lower() in STORED_SUFFIXES
                else zipfile.ZIP_DEFLATED
            )
            archive.write(path, relative.as_posix(), compress_type=method)
    return notes


@dataclass(frozen=True, slots=True)
class Member:
    """A regular file inside an archive, with its validated relative path."""

    name: str
    path: PurePosixPath
    size: int


def safe_members(archive_path: Path) -> list[Member]:
    """The archive's regular files; BackupError naming the first unsafe member."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            infos = archive.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"{str(archive_path)!r} is not a readable zip archive: {exc}") from None
    members: list[Member] = []
    seen: set[PurePosixPath] = set()
    for info in infos:
        where = f"archive {archive_path.name} member"
        path = safe_relative(info.filename.rstrip("/") or info.filename, where)
        # Unix-made archives carry the file type in the high bits of external_attr; 0 means
        # "no type given" (Python's zipfile writes bare permissions), i.e. a regular file.
        kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
        if info.is_dir() or kind == stat.S_IFDIR:
            continue
        if kind not in (0, stat.S_IFREG):
            what = "symbolic link" if kind == stat.S_IFLNK else "special file (device, FIFO...)"
            raise BackupError(
                f"{where} {info.filename!r} is a {what}; refusing the archive (only regular "
                "files are restored)"
            )
        if path in seen:
            raise BackupError(f"{where} {info.filename!r} appears twice; refusing the archive")
        seen.add(path)
        members.append(Member(info.filename, path, info.file_size))
    return members


def extract_members(archive_path: Path, targets: list[tuple[Member, Path]]) -> None:
    """Write members to new files (the zip CRC is checked while reading; a bad one raises)."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for member, target in targets:
                with archive.open(member.name) as source, target.open("xb") as sink:
                    while chunk := source.read(1 << 20):
                        sink.write(chunk)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"extracting from {str(archive_path)!r} failed: {exc}") from None
