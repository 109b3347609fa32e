"""Restore a backup: verify everything, plan everything, stage, then swap it in together.

Order, and why:

1. **Verify** the manifest field by field and the size + sha256 of every file it lists
   (regular files only, each opened once without following links: ``source.py``), every
   archive member (``archive.py``); parameter files must be JSON objects and databases
   must pass ``PRAGMA integrity_check``. ``verify`` stops here.
2. **Plan** each destination from the layout alone (``plan.py``): only the files a
   component holds, only into its own folder, never through a symbolic link.
3. **Refuse** existing files (unless ``overwrite``), a filesystem without room, and a
   database held by a running process (``inuse.py``).
4. **Stage** each file as a hidden temp file in its folder; **swap** them all in, or
   none (``apply.py``).

Everything refused is refused in steps 1-3, before a byte is written; after a failure in
step 4 the staged files and the folders the restore created are removed again.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from app.backup import apply
from app.backup.archive import safe_members
from app.backup.dirs import Folders
from app.backup.layout import NOT_FOR_TRADES, BackupPaths
from app.backup.manifest import Entry, Manifest
from app.backup.plan import existing_files, plan, select
from app.backup.source import BackupFolder
from app.backup.sqlite_copy import integrity_check_readonly
from app.errors import BackupError

MAX_PARAM_FILE = 16 << 20


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore put in place."""

    components: list[str]
    files: list[Path]
    warnings: list[str] = field(default_factory=list)


def _check_content(folder: BackupFolder, entry: Entry) -> None:
    """Members of archives are safe; parameter files are JSON objects; databases pass
    ``PRAGMA integrity_check`` (on the verified copy, read only: nothing is written)."""
    if entry.kind == "zip":
        safe_members(folder.archive(entry), entry.path, entry.component, NOT_FOR_TRADES)
    elif entry.component == "params":
        if entry.size > MAX_PARAM_FILE:
            raise BackupError(f"{entry.path} is {entry.size} bytes; too large for a parameter file")
        try:
            document = json.loads(folder.read(entry).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            raise BackupError(
                f"{entry.path} is not a JSON object, so not a Freqtrade parameter file"
            )
    elif entry.kind == "sqlite":
        verdict = integrity_check_readonly(folder.proc_path(entry))
        if verdict != "ok":
            raise BackupError(f"{entry.path} fails PRAGMA integrity_check ({verdict})")


def _verified(folder: BackupFolder) -> Manifest:
    manifest = folder.manifest()
    problems = folder.verify(manifest)
    for entry in manifest.entries:
        if entry.path not in problems:
            try:
                _check_content(folder, entry)
            except BackupError as exc:
                problems[entry.path] = str(exc)
    if problems:
        raise BackupError(
            f"backup {folder.path} failed verification, nothing was restored: "
            + "; ".join(list(problems.values())[:10])
        )
    return manifest


def verify_backup(backup_dir: Path) -> Manifest:
    """Check the manifest, every file and every archive member; BackupError naming problems."""
    with BackupFolder(backup_dir) as folder:
        return _verified(folder)


def restore_backup(
    backup_dir: Path, paths: BackupPaths, *, only: list[str] | None = None, overwrite: bool = False
) -> RestoreResult:
    """Restore ``backup_dir`` (all components, or ``only`` those) into ``paths``.

    Raises BackupError when anything is refused or fails; then nothing was changed.
    """
    with BackupFolder(backup_dir) as folder, Folders() as folders:
        manifest = _verified(folder)
        wanted = select(manifest, only, paths)
        writes = plan(folder, manifest, wanted, paths)
        existing = existing_files(writes, folders)
        if not overwrite:
            apply.refuse_conflicts(writes, existing)
        apply.refuse_no_space(writes, folders)
        warnings = apply.refuse_in_use(writes, existing)
        token = secrets.token_hex(4)
        try:
            apply.stage(folder, writes, folders, token)
            apply.refuse_in_use(writes, existing)  # again, right before the swap
            apply.swap(writes, folders, existing, token)
        except OSError as exc:
            apply.discard(writes, folders)
            raise BackupError(
                f"restore failed ({exc}); every file was put back as it was"
            ) from None
        except BaseException:
            apply.discard(writes, folders)
            raise
    return RestoreResult(wanted, [w.destination for w in writes], warnings)
