"""Make a backup: ``<out>/backup_YYYYmmdd_HHMMSS/`` (UTC), complete or not at all.

Everything is written into a hidden ``.backup_....partial`` folder beside the target,
fsynced, described in ``manifest.json`` and only then renamed into place, so a crash,
a full disk or Ctrl-C never leaves something that looks like a backup. Databases are
copied with SQLite's online backup API (consistent while bots and runners write).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from app.backup.archive import zip_folder
from app.backup.layout import ARCHIVES, STATE_EXCLUDED, BackupPaths
from app.backup.manifest import MANIFEST_NAME, Entry, Manifest, sha256_file, versions
from app.backup.sqlite_copy import copy_database, integrity_check
from app.errors import BackupError
from app.registry.records import iso_utc

_MAX_SAME_SECOND = 100


@dataclasses.dataclass(frozen=True, slots=True)
class BackupResult:
    """A finished backup."""

    path: Path
    manifest: Manifest

    @property
    def total_bytes(self) -> int:
        """Size of all files listed in the manifest."""
        return sum(e.size for e in self.manifest.entries)


def _entry(staging: Path, relative: str, component: str, kind: str, target: str) -> Entry:
    digest, size = sha256_file(staging / relative)
    return Entry(relative, component, kind, target, size, digest)


def _database(staging: Path, source: Path, relative: str, component: str, target: str) -> Entry:
    copy = staging / relative
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy_database(source, copy)
    entry = _entry(staging, relative, component, "sqlite", target)
    return dataclasses.replace(entry, integrity=integrity_check(copy, quick=True))


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _place(staging: Path, out_dir: Path, name: str) -> Path:
    """Rename the finished staging folder to ``name`` (or ``name_2``... when taken)."""
    for n in range(1, _MAX_SAME_SECOND + 1):
        final = out_dir / (name if n == 1 else f"{name}_{n}")
        if final.exists():
            continue
        try:
            staging.rename(final)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                continue  # another backup took the name in the meantime
            raise
        with contextlib.suppress(OSError):
            fd = os.open(out_dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return final
    raise BackupError(f"{_MAX_SAME_SECOND} backups named {name}* already exist in {out_dir}")


def _collect(
    paths: BackupPaths, staging: Path, include_logs: bool
) -> tuple[list[Entry], list[str]]:
    entries: list[Entry] = []
    notes: list[str] = []
    registry = paths.registry_file
    if registry is None:
        notes.append(
            f"registry {paths.registry_display} is not an SQLite file and is NOT in this "
            "backup (SQLite files only); back it up with the database's own tools (pg_dump)"
        )
    elif registry.is_file():
        entries.append(
            _database(staging, registry, f"registry/{registry.name}", "registry", registry.name)
        )
    else:
        notes.append(f"no registry database at {registry}")
    for database in paths.trade_databases():
        target = database.relative_to(paths.user_data).as_posix()
        entries.append(_database(staging, database, f"trades/{target}", "trades", target))
    folders = [
        ("backtests", paths.component_root("backtests"), ()),
        ("hyperopts", paths.component_root("hyperopts"), ()),
        ("state", paths.state_dir, STATE_EXCLUDED),
    ]
    if include_logs:
        folders.insert(2, ("logs", paths.component_root("logs"), ()))
    for component, folder, exclude in folders:
        if not folder.is_dir():
            notes.append(f"{component}: no folder {folder}")
            continue
        notes += zip_folder(folder, staging / ARCHIVES[component], exclude_top=exclude)
        entries.append(_entry(staging, ARCHIVES[component], component, "zip", ""))
    for param_file in paths.param_files():
        relative = f"params/{param_file.name}"
        (staging / "params").mkdir(exist_ok=True)
        shutil.copyfile(param_file, staging / relative)
        entries.append(_entry(staging, relative, "params", "file", param_file.name))
    notes += [
        f"{e.path}: quick_check says {e.integrity!r} (the live database is damaged)"
        for e in entries
        if e.integrity not in (None, "ok")
    ]
    return entries, notes


def create_backup(
    paths: BackupPaths,
    *,
    out_dir: Path | None = None,
    include_logs: bool = False,
    now: datetime | None = None,
) -> BackupResult:
    """Back up everything ``paths`` describes into a new folder under ``out_dir``."""
    if not paths.user_data.is_dir():
        raise BackupError(
            f"user_data folder {str(paths.user_data)!r} does not exist; pass --user-data DIR"
        )
    moment = now or datetime.now(UTC)
    target_dir = out_dir or paths.backups_dir
    name = f"backup_{moment.astimezone(UTC):%Y%m%d_%H%M%S}"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=target_dir))
    except OSError as exc:
        raise BackupError(
            f"cannot create the backup folder in {str(target_dir)!r}: {exc}"
        ) from None
    try:
        entries, notes = _collect(paths, staging, include_logs)
        manifest = Manifest(
            created_utc=str(iso_utc(moment)),
            versions=versions(),
            source={
                "user_data": str(paths.user_data.resolve()),
                "registry": paths.registry_display,
                "state_dir": str(paths.state_dir),
            },
            entries=entries,
            notes=notes,
        )
        (staging / MANIFEST_NAME).write_text(
            json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8"
        )
        _fsync_tree(staging)
        final = _place(staging, target_dir, name)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError(
            f"backup into {str(target_dir)!r} failed ({exc}); nothing was kept"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BackupResult(final, manifest)
