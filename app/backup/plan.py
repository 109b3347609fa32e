"""Restore a backup: verify everything, stage everything, then swap it in all together.

Order, and why:

1. **Verify** the manifest and the size + sha256 of every file it lists; a corrupt or
   truncated backup is refused before anything is read further.
2. **Plan** each destination; archive members are checked (no absolute paths, ``..``,
   links or devices), destinations must stay inside their folder without passing
   through a symbolic link, and existing files are refused unless ``overwrite``.
3. **Refuse** while a process holds a database being replaced (see ``inuse.py``).
4. **Stage** each file as a hidden temp file next to its destination (same filesystem,
   so the final rename is atomic); databases must pass ``PRAGMA integrity_check``.
5. **Swap**: move each existing file (and a database's ``-wal``/``-shm``) aside, rename
   the staged file into place; on any error every step is undone. The set-aside files
   are deleted only once all files are in place.

Until step 5 nothing outside hidden temp files has changed, and those are removed on
failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from app.backup.archive import Member, extract_members, safe_members
from app.backup.inuse import database_holders
from app.backup.layout import ARCHIVES, COMPONENTS, BackupPaths
from app.backup.manifest import Entry, Manifest, load_manifest, sha256_file, verify_files
from app.backup.sqlite_copy import integrity_check
from app.errors import BackupError

_SIDE_FILES = ("-wal", "-shm")


@dataclass(slots=True)
class Write:
    """One file to put in place."""

    component: str
    destination: Path
    entry: Entry
    member: Member | None = None  # for archive entries
    staged: Path | None = None
    is_database: bool = False


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore put in place."""

    components: list[str]
    files: list[Path]
    warnings: list[str] = field(default_factory=list)


def _select(manifest: Manifest, only: list[str] | None, paths: BackupPaths) -> list[str]:
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


def _inside(root: Path, relative: PurePosixPath) -> Path:
    """``root / relative``, refusing any existing symbolic link below ``root`` on the way."""
    destination = root.joinpath(*relative.parts)
    step = root
    for part in relative.parts[:-1]:
        step = step / part
        if step.is_symlink():
            raise BackupError(f"refusing to restore through the symbolic link {step}")
        if step.exists() and not step.is_dir():
            raise BackupError(f"refusing to restore into {step}: it is a file, not a folder")
    if destination.is_dir() and not destination.is_symlink():
        raise BackupError(f"refusing to restore over the folder {destination}")
    return destination


def _plan(
    backup_dir: Path, manifest: Manifest, wanted: list[str], paths: BackupPaths
) -> list[Write]:
    writes: list[Write] = []
    for entry in manifest.entries:
        if entry.component not in wanted:
            continue
        root = paths.component_root(entry.component)
        if entry.kind == "zip":
            if entry.path != ARCHIVES[entry.component]:
                raise BackupError(f"manifest entry {entry.path!r} is not a known archive")
            writes.extend(
                Write(entry.component, _inside(root, member.path), entry, member)
                for member in safe_members(backup_dir / entry.path)
            )
        elif entry.component == "registry":
            registry = paths.registry_file
            assert registry is not None  # checked by _select
            writes.append(Write("registry", registry, entry, is_database=True))
        else:
            target = _inside(root, PurePosixPath(entry.target))
            writes.append(Write(entry.component, target, entry, is_database=entry.kind == "sqlite"))
    seen: set[Path] = set()
    for write in writes:
        key = write.destination.absolute()
        if key in seen:
            raise BackupError(f"the backup restores {write.destination} twice; refusing it")
        seen.add(key)
    return writes


def _existing(write: Write) -> list[Path]:
    names = [write.destination]
    if write.is_database:
        names += [Path(f"{write.destination}{suffix}") for suffix in _SIDE_FILES]
    return [p for p in names if p.exists() or p.is_symlink()]


def _refuse_conflicts(writes: list[Write]) -> None:
    conflicts = [str(p) for w in writes for p in _existing(w)]
    if conflicts:
        shown = ", ".join(conflicts[:10]) + (
            f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
        )
        raise BackupError(
            f"{len(conflicts)} file(s) already exist: {shown}; nothing was restored. Pass "
            "--overwrite to replace them (take a backup first), or restore fewer parts with --only"
        )


def _refuse_in_use(writes: list[Write]) -> list[str]:
    warnings = []
    for write in writes:
        if not write.is_database or not _existing(write):
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


def _make_parents(destination: Path, created: list[Path]) -> None:
    missing = [p for p in reversed(destination.parents) if not p.exists()]
    for folder in missing:
        folder.mkdir()
        created.append(folder)


def _temp_name(destination: Path, token: str, tag: str) -> Path:
    return destination.with_name(f".{destination.name}.{tag}-{token}")


def _stage(backup_dir: Path, writes: list[Write], token: str, created: list[Path]) -> None:
    """Write every file as a hidden temp file next to its destination and check it."""
    by_archive: dict[str, list[Write]] = {}
    for write in writes:
        _make_parents(write.destination, created)
        write.staged = _temp_name(write.destination, token, "restore")
        if write.member is not None:
            by_archive.setdefault(write.entry.path, []).append(write)
            continue
        shutil.copyfile(backup_dir / write.entry.path, write.staged)
        digest, _ = sha256_file(write.staged)
        if digest != write.entry.sha256:
            raise BackupError(f"{write.entry.path} changed while being restored; try again")
    for archive, members in by_archive.items():
        pairs = [(w.member, w.staged) for w in members if w.member and w.staged]
        extract_members(backup_dir / archive, pairs)
    for write in writes:
        if write.is_database and write.staged is not None:
            verdict = integrity_check(write.staged)
            if verdict != "ok":
                raise BackupError(
                    f"{write.entry.path} fails PRAGMA integrity_check ({verdict}); nothing restored"
                )


def _swap(writes: list[Write], token: str) -> None:
    """Put every staged file in place; undo all of it if any step fails."""
    done: list[tuple[Write, list[tuple[Path, Path]]]] = []
    try:
        for write in writes:
            aside: list[tuple[Path, Path]] = []
            done.append((write, aside))
            for existing in _existing(write):
                parked = _temp_name(existing, token, "pre-restore")
                existing.replace(parked)
                aside.append((parked, existing))
            assert write.staged is not None
            write.staged.replace(write.destination)
            write.staged = None
    except BaseException:
        for write, aside in reversed(done):
            if write.staged is None:
                write.destination.unlink(missing_ok=True)
            for parked, original in aside:
                parked.replace(original)
        raise
    for _write, aside in done:
        for parked, _original in aside:
            parked.unlink(missing_ok=True)
    for folder in {w.destination.parent for w in writes}:
        with contextlib.suppress(OSError):
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _discard(writes: list[Write], created: list[Path]) -> None:
    for write in writes:
        if write.staged is not None:
            write.staged.unlink(missing_ok=True)
            for suffix in _SIDE_FILES:
                Path(f"{write.staged}{suffix}").unlink(missing_ok=True)
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def verify_backup(backup_dir: Path) -> Manifest:
    """Load the manifest and check every file; BackupError listing all problems."""
    if not backup_dir.is_dir():
        raise BackupError(f"backup folder {str(backup_dir)!r} does not exist")
    manifest = load_manifest(backup_dir)
    problems = verify_files(backup_dir, manifest)
    for entry in manifest.entries:
        if entry.kind == "zip" and not any(entry.path in p for p in problems):
            try:
                safe_members(backup_dir / entry.path)
            except BackupError as exc:
                problems.append(str(exc))
    if problems:
        raise BackupError(
            f"backup {backup_dir} failed verification, nothing was restored: "
            + "; ".join(problems[:10])
        )
    return manifest


def restore_backup(
    backup_dir: Path, paths: BackupPaths, *, only: list[str] | None = None, overwrite: bool = False
) -> RestoreResult:
    """Restore ``backup_dir`` (all components, or ``only`` those) into ``paths``."""
    manifest = verify_backup(backup_dir)
    wanted = _select(manifest, only, paths)
    writes = _plan(backup_dir, manifest, wanted, paths)
    if not overwrite:
        _refuse_conflicts(writes)
    warnings = _refuse_in_use(writes)
    token = secrets.token_hex(4)
    created: list[Path] = []
    try:
        _stage(backup_dir, writes, token, created)
        _refuse_in_use(writes)  # again, right before the swap, to narrow the window
        _swap(writes, token)
    except OSError as exc:
        _discard(writes, created)
        raise BackupError(f"restore failed ({exc}); every file was put back as it was") from None
    except BaseException:
        _discard(writes, created)
        raise
    return RestoreResult(wanted, [w.destination for w in writes], warnings)
