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
import sqlite3
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from app.backup.archive import zip_folder
from app.backup.layout import ARCHIVES, COMPONENTS, REGISTRY_FILE, BackupPaths
from app.backup.manifest import (
    MANIFEST_NAME,
    Entry,
    Manifest,
    canonical_path,
    sha256_file,
    versions,
)
from app.backup.names import STATE_EXCLUDED
from app.backup.scrub import Scrubber, config_files
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


def _database(
    staging: Path, source: Path, component: str, target: str, scrubber: Scrubber
) -> Entry:
    relative = canonical_path(component, target)
    copy = staging / relative
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy_database(source, copy)
    try:
        scrubber.database(copy, component, by_context=component == "registry")
    except sqlite3.Error as exc:
        raise BackupError(f"masking secrets in the copy of {str(source)!r} failed: {exc}") from None
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
    paths: BackupPaths, staging: Path, include_logs: bool, scrubber: Scrubber
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
        entries.append(_database(staging, registry, "registry", REGISTRY_FILE.name, scrubber))
    else:
        notes.append(f"no registry database at {registry}")
    databases, skipped = paths.trade_databases()
    notes += skipped
    for database in databases:
        target = database.relative_to(paths.user_data).as_posix()
        entries.append(_database(staging, database, "trades", target, scrubber))
    folders = [
        ("backtests", paths.component_root("backtests")),
        ("hyperopts", paths.component_root("hyperopts")),
        ("state", paths.state_dir),
    ]
    if include_logs:
        folders.insert(2, ("logs", paths.component_root("logs")))
    for component, folder in folders:
        if not folder.is_dir():
            notes.append(f"{component}: no folder {folder}")
            continue
        archive = ARCHIVES[component]
        notes += zip_folder(
            folder,
            staging / archive,
            component,
            scrubber,
            exclude_top=STATE_EXCLUDED if component == "state" else (),
        )
        entries.append(_entry(staging, archive, component, "zip", ""))
    param_files, skipped = paths.param_files()
    notes += skipped
    for param_file in param_files:
        relative = canonical_path("params", param_file.name)
        (staging / "params").mkdir(exist_ok=True)
        text = param_file.read_bytes().decode("utf-8", "surrogateescape")
        masked = scrubber.redact_text(text, param_file.name)
        scrubber.changed["params"] += masked != text
        (staging / relative).write_bytes(masked.encode("utf-8", "surrogateescape"))
        entries.append(_entry(staging, relative, "params", "file", param_file.name))
    notes += [
        f"{e.path}: quick_check says {e.integrity!r} (the live database is damaged)"
        for e in entries
        if e.integrity not in (None, "ok")
    ]
    return entries, notes


def _redaction_note(scrubber: Scrubber, components: list[str]) -> str:
    changed = ", ".join(f"{c} {n}" for c, n in sorted(scrubber.changed.items()) if n) or "nothing"
    return (
        f"secrets masked as [REDACTED] in {', '.join(components) or 'nothing'} (logs included "
        "only with --logs): values of the secret environment variables and .env entries of "
        f"the backing-up process, of the secret keys in configs, and secrets recognised by "
        f"context; files or database values changed: {changed}"
    )


def create_backup(
    paths: BackupPaths,
    *,
    out_dir: Path | None = None,
    include_logs: bool = False,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = Path(".env"),
) -> BackupResult:
    """Back up everything ``paths`` describes into a new folder under ``out_dir``.

    Secrets of ``environ`` (default: this process's environment), of ``dotenv`` and of
    the configs (see :func:`app.backup.scrub.config_files`) are masked in everything
    copied. Fails with BackupError and leaves nothing behind.
    """
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
        scrubber = Scrubber.from_sources(
            os.environ if environ is None else environ,
            dotenv,
            config_files(paths.user_data, paths.registry_file),
        )
        entries, notes = _collect(paths, staging, include_logs, scrubber)
        redacted = [c for c in COMPONENTS if c in {e.component for e in entries}]
        notes += [*scrubber.notes, _redaction_note(scrubber, redacted)]
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
            redacted=redacted,
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
