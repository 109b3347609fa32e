"""The registry API: record runs, metrics and incidents; answer the guard's questions.

Every method opens and closes its own short transaction, so a :class:`Registry` can be
shared by a long-running process. Writes on SQLite start with ``BEGIN IMMEDIATE`` (see
``engine.py``). Database errors surface as :class:`app.errors.RegistryError` naming the
database (password hidden) and the fix.

Nothing secret is stored: the command line, an end reason, an incident's description
and its log excerpt pass through :attr:`Registry.redactor` (secret environment values,
secrets recognised by context, and whatever values a caller adds, e.g. a config's
credentials) on their way in, whoever the caller is. Open runs are kept alive by a
heartbeat and dead ones are found by :meth:`Registry.mark_interrupted_runs`
(``lifecycle.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.errors import RegistryError
from app.redaction import Redactor
from app.registry.engine import WRITE_OPTION, create_registry_engine, parse_url, safe_url
from app.registry.lifecycle import (
    DEFAULT_STALE_AFTER_S,
    LiveRuns,
    RunHeartbeat,
    db_now,
    heartbeat_interval,
)
from app.registry.migrate import ensure_schema, upgrade_database
from app.registry.models import RUN_KINDS, RUN_STATUSES, SEVERITIES, Incident, Metric, Run
from app.registry.records import IncidentRecord, RunRecord

if TYPE_CHECKING:
    from app.settings import RiskSettings

FINAL_STATUSES: tuple[str, ...] = tuple(s for s in RUN_STATUSES if s != "running")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_incident_seq = itertools.count(1)
_incident_seq_lock = threading.Lock()

# "Latest value of key for strategy": walks ix_runs_latest newest first and probes the
# (run_id, key) primary key of metrics; stops at the first succeeded run having the key.
_LATEST_METRIC = (
    select(Metric.value)
    .join(Run, Run.run_id == Metric.run_id)
    .where(
        Run.strategy == bindparam("strategy"),
        Run.kind == bindparam("kind"),
        Run.status == "succeeded",
        Metric.key == bindparam("key"),
    )
    .order_by(Run.started_utc.desc(), Run.run_id.desc())
    .limit(1)
)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_run_id(now: datetime) -> str:
    """``run_20261121T101500Z_1a2b3c4d``: sortable by time, unique by 32 random bits."""
    return f"run_{now.astimezone(UTC):%Y%m%dT%H%M%SZ}_{secrets.token_hex(4)}"


def _check(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise RegistryError(f"{name} {value!r} is not valid; use one of {', '.join(allowed)}")
    return value


def _metric_value(run_id: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RegistryError(
            f"metric {key!r} of run {run_id} is {value!r} ({type(value).__name__}); "
            "metrics are numbers"
        )
    number = float(value)
    if not math.isfinite(number):
        raise RegistryError(
            f"metric {key!r} of run {run_id} is {number}; store only finite numbers "
            "(leave an undefined metric out)"
        )
    return number


def _json_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy of ``params``, refused when it holds something JSON cannot carry (NaN, inf)."""
    if params is None:
        return None
    copy = dict(params)
    try:
        json.dumps(copy, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"params {copy!r} cannot be stored as JSON ({exc}); pass plain numbers, text, "
            "lists and objects (no NaN or infinity)"
        ) from None
    return copy


class Registry(LiveRuns):
    """Runs, metrics and incidents in one SQL database (SQLite file or any SQLAlchemy URL)."""

    def __init__(
        self,
        url: str,
        *,
        incident_log_dir: Path = Path("user_data/logs/incidents"),
        stale_after_sec: float = DEFAULT_STALE_AFTER_S,
        redactor: Redactor | None = None,
    ) -> None:
        self.url = parse_url(url)
        self.incident_log_dir = incident_log_dir
        self.stale_after_sec = stale_after_sec
        self.host = socket.gethostname()
        # Add a config's secrets with ``registry.redactor = registry.redactor.with_values()``.
        self.redactor = redactor or Redactor.from_sources(os.environ)
        self._engine = create_registry_engine(self.url)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._ready = False
        self._ready_lock = threading.Lock()
        self._heartbeat = RunHeartbeat(self._beat, heartbeat_interval(stale_after_sec))

    @classmethod
    def from_settings(cls, settings: RiskSettings | None = None) -> Registry:
        """The registry configured by ``RISK_DB_URL`` / ``RISK_DB_PATH``; a run without
        heartbeat for ``RISK_CONCURRENCY_TTL_SEC`` counts as dead."""
        if settings is None:
            from app.settings import get_settings

            settings = get_settings()
        return cls(settings.database_url, stale_after_sec=settings.concurrency_ttl_sec)

    def __repr__(self) -> str:
        return f"Registry({safe_url(self.url)!r})"

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (the registry reopens them when used again)."""
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """The underlying engine, schema guaranteed current."""
        self._ensure_ready()
        return self._engine

    # -- SESSIONS --------------------------------------------------------------------------

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        with self._ready_lock, self._errors("opening"):
            if not self._ready:
                ensure_schema(self._engine)
                self._ready = True

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise RegistryError(
                f"{action} the registry at {safe_url(self.url)} failed: {reason}; check "
                "RISK_DB_PATH / RISK_DB_URL, disk space and permissions, then retry"
            ) from exc

    @contextlib.contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed on success (``write=True`` for writers)."""
        self._ensure_ready()
        with self._errors("writing to" if write else "reading"):
            bind = self._writer if write else self._engine
            with Session(bind, expire_on_commit=False) as session, session.begin():
                yield session

    def upgrade(self) -> str:
        """Apply pending migrations now; return the head revision."""
        with self._errors("upgrading"):
            revision = upgrade_database(self._engine)
        self._ready = True
        return revision

    # -- RUNS ------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        kind: str,
        correlation_id: str,
        strategy: str | None = None,
        timeframe: str | None = None,
        timerange: str | None = None,
        pairs: Sequence[str] | None = None,
        config_hash: str | None = None,
        strategy_hash: str | None = None,
        data_fingerprint: str | None = None,
        params: Mapping[str, Any] | None = None,
        freqtrade_version: str | None = None,
        command: Sequence[str] | None = None,
        config_path: str | None = None,
        run_id: str | None = None,
        started_utc: datetime | None = None,
    ) -> str:
        """Insert a run with status ``running`` and return its id.

        ``started_utc`` (timezone-aware) dates a run that happened earlier, e.g. an import;
        the default is now. The run is kept alive by this process's heartbeat until
        :meth:`finish_run`; ``command`` is stored redacted.
        """
        _check("run kind", kind, RUN_KINDS)
        if not correlation_id:
            raise RegistryError("correlation_id is empty; pass the id that ties logs together")
        if started_utc is not None and started_utc.tzinfo is None:
            raise RegistryError("started_utc must be timezone-aware (UTC)")
        now = started_utc.astimezone(UTC) if started_utc is not None else utc_now()
        run = Run(
            run_id=run_id or new_run_id(now),
            kind=kind,
            strategy=strategy,
            timeframe=timeframe,
            timerange=timerange,
            pairs=None if pairs is None else [str(p) for p in pairs],
            status="running",
            started_utc=now,
            config_hash=config_hash,
            strategy_hash=strategy_hash,
            data_fingerprint=data_fingerprint,
            params=_json_params(params),
            freqtrade_version=freqtrade_version,
            host=self.host,
            pid=os.getpid(),
            correlation_id=correlation_id,
            command=None if command is None else [self.redactor.redact(str(a)) for a in command],
            config_path=config_path,
        )
        with self.session(write=True) as session:
            if run_id is not None and session.get(Run, run_id) is not None:
                raise RegistryError(f"run_id {run_id!r} already exists; omit run_id for a new one")
            run.heartbeat_utc = db_now(session)
            session.add(run)
        self._heartbeat.add(run.run_id)
        return run.run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        exit_code: int | None,
        result_path: str | None = None,
        equity_hash: str | None = None,
        params: Mapping[str, Any] | None = None,
        finished_utc: datetime | None = None,
        reason: str | None = None,
    ) -> None:
        """Mark a running run finished (``succeeded``, ``failed``, ``blocked``, ``interrupted``).

        ``finished_utc`` dates a run that ended earlier (imports); the default is now.
        ``reason`` says why a run did not succeed (stored redacted as ``end_reason``). A run
        that another process presumed dead (``interrupted``) may still be finished by the
        process that started it: it knows better.
        """
        _check("final status", status, FINAL_STATUSES)
        if finished_utc is not None and finished_utc.tzinfo is None:
            raise RegistryError("finished_utc must be timezone-aware (UTC)")
        with self.session(write=True) as session:
            run = self._require_run(session, run_id)
            if run.status != "running" and not self._owns_interrupted(run):
                raise RegistryError(
                    f"run {run_id} is already finished with status {run.status!r}; a run is "
                    "finished once (start a new run to record another attempt)"
                )
            run.status = status
            run.exit_code = exit_code
            ended = finished_utc.astimezone(UTC) if finished_utc is not None else utc_now()
            run.finished_utc = max(ended, run.started_utc)
            if result_path is not None:
                run.result_path = result_path
            if equity_hash is not None:
                run.equity_hash = equity_hash
            if params is not None:
                run.params = _json_params(params)
            run.end_reason = None if reason is None else self.redactor.redact(reason)
        self._heartbeat.discard(run_id)

    @staticmethod
    def _require_run(session: Session, run_id: str) -> Run:
        # FOR UPDATE: on PostgreSQL two finishers of one run must not both see "running".
        run = session.get(Run, run_id, with_for_update=True)
        if run is None:
            raise RegistryError(
                f"run {run_id!r} is not in the registry; list runs with `tradingbot registry runs`"
            )
        return run

    def add_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Insert or replace metrics of a run (one transaction)."""
        rows = [
            {"run_id": run_id, "key": str(key), "value": _metric_value(run_id, key, value)}
            for key, value in metrics.items()
        ]
        if not rows:
            return
        with self.session(write=True) as session:
            self._require_run(session, run_id)
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(Metric).values(rows)
            stmt = stmt.on_conflict_do_update(
                index_elements=[Metric.run_id, Metric.key], set_={"value": stmt.excluded.value}
            )
            session.execute(stmt)

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or ``None`` when unknown."""
        with self.session() as session:
            run = session.get(Run, run_id)
            return None if run is None else RunRecord.from_row(run)

    def require_run(self, run_id: str) -> RunRecord:
        """The run; :class:`RegistryError` naming the id when it is unknown."""
        run = self.get_run(run_id)
        if run is None:
            raise RegistryError(
                f"run {run_id!r} is not in the registry; list runs with `tradingbot registry runs`"
            )
        return run

    def list_runs(
        self, *, strategy: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Runs newest first, optionally of one strategy and/or kind."""
        if kind is not None:
            _check("run kind", kind, RUN_KINDS)
        if limit < 1:
            raise RegistryError(f"limit {limit} is not valid; use a whole number >= 1")
        stmt = select(Run).order_by(Run.started_utc.desc(), Run.run_id.desc()).limit(limit)
        if strategy is not None:
            stmt = stmt.where(Run.strategy == strategy)
        if kind is not None:
            stmt = stmt.where(Run.kind == kind)
        with self.session() as session:
            return [RunRecord.from_row(run) for run in session.scalars(stmt)]

    def find_run_by_result_path(self, result_path: str) -> RunRecord | None:
        """The newest run that recorded ``result_path`` (for idempotent imports)."""
        stmt = (
            select(Run)
            .where(Run.result_path == result_path)
            .order_by(Run.started_utc.desc(), Run.run_id.desc())
            .limit(1)
        )
        with self.session() as session:
            run = session.scalars(stmt).first()
            return None if run is None else RunRecord.from_row(run)

    # -- METRICS ---------------------------------------------------------------------------

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """All metrics of a run, by key (empty for an unknown run)."""
        stmt = select(Metric.key, Metric.value).where(Metric.run_id == run_id)
        with self.session() as session:
            return dict(session.execute(stmt).all())

    def latest_metric(self, strategy: str, key: str, *, kind: str = "backtest") -> float | None:
        """``key`` of the newest *succeeded* run of ``strategy`` and ``kind`` that has it."""
        _check("run kind", kind, RUN_KINDS)
        self._ensure_ready()
        with self._errors("reading"), self._engine.connect() as conn:
            value = conn.execute(
                _LATEST_METRIC, {"strategy": strategy, "kind": kind, "key": key}
            ).scalar()
        return None if value is None else float(value)

    # -- INCIDENTS -------------------------------------------------------------------------

    def log_incident(
        self,
        *,
        severity: str,
        description: str,
        correlation_id: str,
        run_id: str | None = None,
        log_excerpt: str | None = None,
    ) -> str:
        """Record an incident; write ``log_excerpt`` to ``<incident_log_dir>/<id>.log``.

        The description and the excerpt are redacted first (every caller is covered).
        """
        _check("severity", severity, SEVERITIES)
        description = self.redactor.redact(description)
        if log_excerpt is not None:
            log_excerpt = self.redactor.redact(log_excerpt)
        if not correlation_id:
            raise RegistryError("correlation_id is empty; pass the id that ties logs together")
        now = utc_now()
        with _incident_seq_lock:
            seq = next(_incident_seq)
        safe_correlation = _UNSAFE_ID_CHARS.sub("-", correlation_id)[:80]
        incident_id = f"incident_{int(now.timestamp())}_{os.getpid()}_{safe_correlation}"
        if seq > 1:
            incident_id = f"{incident_id}_{seq}"
        excerpt_path, excerpt_problem = self._write_excerpt(incident_id, log_excerpt)
        if excerpt_problem:
            # The incident matters more than its excerpt: record it and say what was lost.
            description = f"{description} [{excerpt_problem}]"
        row = Incident(
            incident_id=incident_id,
            run_id=run_id,
            severity=severity,
            description=description,
            log_excerpt_path=None if excerpt_path is None else str(excerpt_path),
            correlation_id=correlation_id,
            created_utc=now,
        )
        try:
            with self.session(write=True) as session:
                if run_id is not None:
                    self._require_run(session, run_id)
                session.add(row)
        except RegistryError:
            if excerpt_path is not None:
                excerpt_path.unlink(missing_ok=True)
            raise
        return incident_id

    def _write_excerpt(
        self, incident_id: str, log_excerpt: str | None
    ) -> tuple[Path | None, str | None]:
        if log_excerpt is None:
            return None, None
        path = self.incident_log_dir / f"{incident_id}.log"
        try:
            self.incident_log_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(log_excerpt, encoding="utf-8")
        except OSError as exc:
            return None, f"log excerpt not written to {str(path)!r}: {exc}"
        return path, None

    def list_incidents(self, *, limit: int = 50, run_id: str | None = None) -> list[IncidentRecord]:
        """Incidents newest first, optionally of one run."""
        if limit < 1:
            raise RegistryError(f"limit {limit} is not valid; use a whole number >= 1")
        stmt = (
            select(Incident)
            .order_by(Incident.created_utc.desc(), Incident.incident_id.desc())
            .limit(limit)
        )
        if run_id is not None:
            stmt = stmt.where(Incident.run_id == run_id)
        with self.session() as session:
            return [IncidentRecord.from_row(row) for row in session.scalars(stmt)]
