"""Zip archives of result, log and state folders, and their safe reading.

Writing: regular files only (opened with ``O_NOFOLLOW``; symbolic links and special
files are skipped and noted), only the files the component may hold
(:mod:`app.backup.names`), in sorted order, each passed through the backup's
:class:`~app.backup.scrub.Scrubber` so that no secret is archived.

Reading: every member is checked before anything is extracted, and one bad member
refuses the whole archive: names that are not strict relative paths (absolute, ``..``,
``.``, empty parts, backslashes, NUL, drive letters), files the component may not hold,
symbolic links, devices, FIFOs and sockets (from the Unix mode in ``external_attr``),
duplicate names (also differing only by case), encrypted members, compression methods
other than stored/deflated, and zip bombs: a declared size beyond what deflate can
produce from the compressed size, overlapping members, or too many members.
"""

from __future__ import annotations

import os
import stat
import struct
import time
import zipfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.backup.names import check, parse_relative, refusal, show
from app.errors import BackupError

if TYPE_CHECKING:
    from app.backup.scrub import Scrubber

# Already compressed: storing is as small and much faster than deflating again.
STORED_SUFFIXES = frozenset({".zip", ".gz", ".bz2", ".xz", ".zst", ".feather", ".parquet"})
MAX_MEMBERS = 100_000
# Deflate cannot expand beyond ~1032:1; more declared is a lie (a bomb or a forged header).
MAX_RATIO = 1100
_RATIO_SLACK = 1 << 16
_LOCAL_HEADER = 30
_CHUNK = 1 << 20
# What crafted archives make zipfile raise, besides BadZipFile.
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    OSError, zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError,
    RuntimeError, struct.error, OverflowError, IndexError, KeyError,
)  # fmt: skip


def _open_regular(path: Path) -> int | None:
    """A descriptor of ``path`` if it is a regular file (never follows a link, never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _info(name: str, status: os.stat_result) -> zipfile.ZipInfo:
    """A member header from the open file's own status (not from a second look at the path)."""
    moment = max(time.localtime(status.st_mtime)[:6], (1980, 1, 1, 0, 0, 0))
    info = zipfile.ZipInfo(name, date_time=moment)
    info.external_attr = (stat.S_IFREG | stat.S_IMODE(status.st_mode)) << 16
    info.file_size = status.st_size
    return info


def zip_folder(
    folder: Path,
    target: Path,
    component: str,
    scrubber: Scrubber,
    *,
    exclude_top: Collection[str] = (),
) -> list[str]:
    """Write ``folder``'s files that ``component`` may hold into the new zip ``target``.

    Returns notes on everything left out (links, special files, other kinds of files).
    """
    notes: list[str] = []
    refused: dict[str, list[Path]] = {}
    with zipfile.ZipFile(target, "x", compression=zipfile.ZIP_DEFLATED) as archive:
        if not folder.is_dir():
            return notes
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if relative.parts[0] in exclude_top or (path.is_dir() and not path.is_symlink()):
                continue
            if path.is_symlink():
                notes.append(f"{component}: skipped symbolic link {path}")
                continue
            problem = refusal(component, relative.parts)
            if problem is not None:
                refused.setdefault(problem, []).append(path)
                continue
            fd = _open_regular(path)
            if fd is None:
                notes.append(f"{component}: skipped special or vanished file {path}")
                continue
            with os.fdopen(fd, "rb") as source:
                info = _info(relative.as_posix(), os.fstat(fd))
                stored = path.suffix.lower() in STORED_SUFFIXES
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                note = scrubber.archive_file(component, source, archive, info)
            if note:
                notes.append(note)
    for problem, paths in refused.items():
        more = f" and {len(paths) - 1} more like it" if len(paths) > 1 else ""
        notes.append(f"{component}: left out {paths[0]}{more}: it {problem}")
    return notes


@dataclass(frozen=True, slots=True)
class Member:
    """A regular file inside an archive, with its validated relative path."""

    info: zipfile.ZipInfo
    parts: tuple[str, ...]

    @property
    def size(self) -> int:
        """Declared (and, while extracting, enforced) uncompressed size."""
        return self.info.file_size


def _check_info(info: zipfile.ZipInfo, where: str) -> bool:
    """True for a file, False for a folder entry; BackupError for anything unsafe."""
    name = info.orig_filename
    if name != info.filename:  # zipfile cuts a name at NUL
        raise BackupError(f"{where} {show(name)} has a NUL in its name; refusing the archive")
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if name.endswith("/") or kind == stat.S_IFDIR:
        parse_relative(name.removesuffix("/"), where)
        return False
    if kind not in (0, stat.S_IFREG):  # 0: no type given (zipfile writes bare permissions)
        what = "symbolic link" if kind == stat.S_IFLNK else "special file (device, FIFO...)"
        raise BackupError(
            f"{where} {show(name)} is a {what}; refusing the archive (only regular files "
            "are restored)"
        )
    if info.flag_bits & 0x1:
        raise BackupError(f"{where} {show(name)} is encrypted; refusing the archive")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BackupError(
            f"{where} {show(name)} uses compression method {info.compress_type}; only stored "
            "and deflated members are restored"
        )
    stored = info.compress_type == zipfile.ZIP_STORED
    if (stored and info.file_size != info.compress_size) or (
        info.file_size > info.compress_size * MAX_RATIO + _RATIO_SLACK
    ):
        raise BackupError(
            f"{where} {show(name)} declares {info.file_size} bytes from {info.compress_size} "
            "compressed: a zip bomb or a forged header; refusing the archive"
        )
    return True


def _check_layout(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], where: str) -> None:
    """Members must not overlap (the trick of non-recursive zip bombs)."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    bounds = [i.header_offset for i in ordered[1:]] + [getattr(archive, "start_dir", 0)]
    for info, limit in zip(ordered, bounds, strict=False):  # no members: nothing to check
        end = (
            info.header_offset
            + _LOCAL_HEADER
            + len(info.orig_filename.encode())
            + info.compress_size
        )
        if end > limit:
            raise BackupError(
                f"{where} {show(info.orig_filename)} overlaps another; refusing the archive"
            )


def safe_members(
    archive: zipfile.ZipFile, label: str, component: str, reserved: Collection[str] = ()
) -> list[Member]:
    """The archive's regular files, each one the component may hold; else BackupError."""
    where = f"archive {label} member"
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise BackupError(f"archive {label} has {len(infos)} members; at most {MAX_MEMBERS}")
    _check_layout(archive, infos, where)
    members: list[Member] = []
    seen: dict[str, str] = {}
    for info in infos:
        if not _check_info(info, where):
            continue
        parts = check(component, info.orig_filename, where, reserved)
        key = info.orig_filename.casefold()
        if key in seen:
            raise BackupError(
                f"{where} {show(info.orig_filename)} appears twice (as {show(seen[key])}; "
                "names differing only by case collide); refusing the archive"
            )
        seen[key] = info.orig_filename
        members.append(Member(info, parts))
    return members


def extract(archive: zipfile.ZipFile, member: Member, sink: int, label: str) -> None:
    """Write one member to the descriptor ``sink``; the CRC and declared size are enforced.

    zipfile stops at the declared size and checks the CRC at the end, so a member can
    neither grow beyond what the plan counted nor pass with other bytes.
    """
    name = member.info.orig_filename
    written = 0
    try:
        with archive.open(member.info) as source:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(sink, view) :]
    except ZIP_ERRORS as exc:
        raise BackupError(
            f"extracting {name!r} from {label} failed: {show(str(exc), 200)}"
        ) from None
    if written != member.size:
        raise BackupError(f"archive {label} member {name!r} is shorter than declared")
