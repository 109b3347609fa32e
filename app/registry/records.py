"""Plain, frozen values returned by the registry, detached from any database session."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.registry.models import Incident, ParamSet, Run

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def iso_utc(value: datetime | None) -> str | None:
    """``2026-11-21T10:15:00.123456Z`` (UTC, ``Z`` suffix) or ``None``."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def _jsonable(record: DataclassInstance) -> dict[str, Any]:
    data = asdict(record)
    return {k: iso_utc(v) if isinstance(v, datetime) else v for k, v in data.items()}


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of ``runs``."""

    run_id: str
    kind: str
    strategy: str | None
    timeframe: str | None
    timerange: str | None
    pairs: tuple[str, ...] | None
    status: str
    started_utc: datetime
    finished_utc: datetime | None
    exit_code: int | None
    config_hash: str | None
    strategy_hash: str | None
    data_fingerprint: str | None
    params: dict[str, Any] | None
    freqtrade_version: str | None
    host: str | None
    correlation_id: str
    result_path: str | None
    command: tuple[str, ...] | None
    config_path: str | None
    equity_hash: str | None
    pid: int | None = None
    heartbeat_utc: datetime | None = None
    end_reason: str | None = None

    @classmethod
    def from_row(cls, row: Run) -> RunRecord:
        """Copy an ORM row into a detached record."""
        return cls(
            run_id=row.run_id,
            kind=row.kind,
            strategy=row.strategy,
            timeframe=row.timeframe,
            timerange=row.timerange,
            pairs=None if row.pairs is None else tuple(row.pairs),
            status=row.status,
            started_utc=row.started_utc,
            finished_utc=row.finished_utc,
            exit_code=row.exit_code,
            config_hash=row.config_hash,
            strategy_hash=row.strategy_hash,
            data_fingerprint=row.data_fingerprint,
            params=row.params,
            freqtrade_version=row.freqtrade_version,
            host=row.host,
            correlation_id=row.correlation_id,
            result_path=row.result_path,
            command=None if row.command is None else tuple(row.command),
            config_path=row.config_path,
            equity_hash=row.equity_hash,
            pid=row.pid,
            heartbeat_utc=row.heartbeat_utc,
            end_reason=row.end_reason,
        )

    @property
    def duration_s(self) -> float | None:
        """Wall time in seconds, ``None`` while running."""
        if self.finished_utc is None:
            return None
        return (self.finished_utc - self.started_utc).total_seconds()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with stable keys (times as ISO-8601 UTC, lists as lists)."""
        data = _jsonable(self)
        data["pairs"] = None if self.pairs is None else list(self.pairs)
        data["command"] = None if self.command is None else list(self.command)
        data["duration_s"] = self.duration_s
        return data


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One row of ``incidents``."""

    incident_id: str
    run_id: str | None
    severity: str
    description: str
    log_excerpt_path: str | None
    correlation_id: str
    created_utc: datetime

    @classmethod
    def from_row(cls, row: Incident) -> IncidentRecord:
        """Copy an ORM row into a detached record."""
        return cls(
            incident_id=row.incident_id,
            run_id=row.run_id,
            severity=row.severity,
            description=row.description,
            log_excerpt_path=row.log_excerpt_path,
            correlation_id=row.correlation_id,
            created_utc=row.created_utc,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with stable keys."""
        return _jsonable(self)


@dataclass(frozen=True, slots=True)
class ParamSetRecord:
    """One row of ``param_sets``."""

    id: int
    strategy: str
    source_run_id: str
    params: dict[str, Any]
    promoted_utc: datetime
    active: bool
    previous_id: int | None
    retired_utc: datetime | None
    file_path: str
    replaced_file: str | None

    @classmethod
    def from_row(cls, row: ParamSet) -> ParamSetRecord:
        """Copy an ORM row into a detached record."""
        return cls(
            id=row.id,
            strategy=row.strategy,
            source_run_id=row.source_run_id,
            params=row.params,
            promoted_utc=row.promoted_utc,
            active=row.active,
            previous_id=row.previous_id,
            retired_utc=row.retired_utc,
            file_path=row.file_path,
            replaced_file=row.replaced_file,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with stable keys (without the replaced file's text)."""
        data = _jsonable(self)
        data.pop("replaced_file")
        data["had_replaced_file"] = self.replaced_file is not None
        return data
