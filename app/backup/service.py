"""Backups and restores as recorded operations.

Each operation becomes a registry run of kind ``other`` whose ``params`` say what was
done (``{"operation": "backup", "backup_dir": ..., "components": [...], ...}``), with
status ``succeeded``, ``blocked`` (refused: nothing changed) or ``failed``; a refusal or
failure also logs an incident. The record is written *after* the operation: a backup
does not contain its own record, and a restored registry receives the record of the
restore that brought it back.

Recording is best effort: a registry that cannot be opened (the reason one may be
restoring it) never turns a good backup into a failure; the caller gets a warning.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.backup.create import BackupResult, create_backup
from app.backup.layout import BackupPaths
from app.backup.restore import RestoreResult, restore_backup
from app.errors import BackupError, RegistryError
from app.logs import Event, get_logger, log_event
from app.registry.store import Registry

_log = get_logger("backup")
_OUTCOME_EVENTS = {
    ("backup", "succeeded"): Event.BACKUP_SUCCEEDED,
    ("backup", "failed"): Event.BACKUP_FAILED,
    ("restore", "succeeded"): Event.RESTORE_SUCCEEDED,
    ("restore", "blocked"): Event.RESTORE_REFUSED,
}


@dataclass(frozen=True, slots=True)
class Recorded:
    """Where an operation was recorded, or why it was not."""

    run_id: str | None
    warnings: list[str] = field(default_factory=list)


def new_correlation_id() -> str:
    """A fresh id tying this operation's record, incident and output together."""
    return f"backup-{uuid.uuid4().hex[:12]}"


def record(
    paths: BackupPaths,
    *,
    operation: str,
    status: str,
    details: Mapping[str, Any],
    correlation_id: str,
    command: Sequence[str] | None = None,
    result_path: str | None = None,
    problem: str | None = None,
) -> Recorded:
    """Record one operation (see :func:`_record`), then log its outcome (Telegram sends it)."""
    recorded = _record(
        paths,
        operation=operation,
        status=status,
        details=details,
        correlation_id=correlation_id,
        command=command,
        result_path=result_path,
        problem=problem,
    )
    event = _OUTCOME_EVENTS.get((operation, status))
    if event is not None:
        level = {"succeeded": logging.INFO, "blocked": logging.WARNING}.get(status, logging.ERROR)
        log_event(
            _log, level, event, correlation_id=correlation_id, run_id=recorded.run_id,
            problem=problem, warnings=recorded.warnings, **details,
        )  # fmt: skip
    return recorded


def _record(
    paths: BackupPaths,
    *,
    operation: str,
    status: str,
    details: Mapping[str, Any],
    correlation_id: str,
    command: Sequence[str] | None = None,
    result_path: str | None = None,
    problem: str | None = None,
) -> Recorded:
    """Record one operation (and an incident when ``problem`` is given).

    A refused or failed operation is not recorded into an SQLite registry that does not
    exist yet: creating one would change something the operation promised to leave alone.
    """
    registry_file = paths.registry_file
    if problem is not None and registry_file is not None and not registry_file.is_file():
        return Recorded(None, [f"the {operation} was not recorded: no registry at {registry_file}"])
    try:
        with Registry(
            paths.registry_url, incident_log_dir=paths.user_data / "logs" / "incidents"
        ) as registry:
            run_id = registry.start_run(
                kind="other",
                correlation_id=correlation_id,
                params={"operation": operation, **details},
                command=command,
            )
            registry.finish_run(
                run_id,
                status=status,
                exit_code=0 if status == "succeeded" else BackupError.exit_code,
                result_path=result_path,
            )
            if problem is not None:
                registry.log_incident(
                    severity="warning" if status == "blocked" else "error",
                    description=f"{operation} {status}: {problem}",
                    correlation_id=correlation_id,
                    run_id=run_id,
                )
    except RegistryError as exc:
        return Recorded(None, [f"the {operation} was not recorded in the registry: {exc}"])
    return Recorded(run_id)


def backup(
    paths: BackupPaths,
    *,
    out_dir: Path | None = None,
    include_logs: bool = False,
    correlation_id: str,
    command: Sequence[str] | None = None,
) -> tuple[BackupResult, Recorded]:
    """Make a backup and record it; a failure is recorded as failed plus an incident."""
    try:
        result = create_backup(paths, out_dir=out_dir, include_logs=include_logs)
    except BackupError as exc:
        record(
            paths,
            operation="backup",
            status="failed",
            details={"out_dir": str(out_dir or paths.backups_dir)},
            correlation_id=correlation_id,
            command=command,
            problem=str(exc),
        )
        raise
    details = {
        "backup_dir": str(result.path),
        "components": result.manifest.components,
        "files": len(result.manifest.entries),
        "bytes": result.total_bytes,
        "notes": result.manifest.notes,
    }
    recorded = record(
        paths,
        operation="backup",
        status="succeeded",
        details=details,
        correlation_id=correlation_id,
        command=command,
        result_path=str(result.path),
    )
    return result, recorded


def restore(
    backup_dir: Path,
    paths: BackupPaths,
    *,
    only: list[str] | None = None,
    overwrite: bool = False,
    correlation_id: str,
    command: Sequence[str] | None = None,
) -> tuple[RestoreResult, Recorded]:
    """Restore and record it; a refusal is recorded as blocked plus an incident."""
    details: dict[str, Any] = {
        "backup_dir": str(backup_dir),
        "only": only or [],
        "overwrite": overwrite,
    }
    try:
        result = restore_backup(backup_dir, paths, only=only, overwrite=overwrite)
    except BackupError as exc:
        record(
            paths,
            operation="restore",
            status="blocked",
            details=details,
            correlation_id=correlation_id,
            command=command,
            problem=str(exc),
        )
        raise
    details |= {"components": result.components, "files": len(result.files)}
    recorded = record(
        paths,
        operation="restore",
        status="succeeded",
        details=details,
        correlation_id=correlation_id,
        command=command,
        result_path=str(backup_dir),
    )
    return result, Recorded(recorded.run_id, result.warnings + recorded.warnings)
