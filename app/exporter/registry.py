"""The registry source: run, incident and backup figures, read without ever writing.

The exporter does not use :class:`app.registry.Registry` (opening one migrates the schema
and switches SQLite to WAL: both writes). It opens its own engine:

* SQLite: ``mode=ro`` through a URI, ``PRAGMA query_only``, a short busy timeout
  (:data:`BUSY_TIMEOUT_S`). A WAL reader never waits for writers; the timeout only
  bounds the rare wait for a checkpoint or recovery. A missing file is an error (the
  source shows down) instead of a new empty database.
* PostgreSQL: ``default_transaction_read_only``, ``statement_timeout`` and
  ``lock_timeout`` for the session, a connect timeout.

Only columns present since the first migration are read, so an exporter works with a
registry of any revision. Every figure comes from four aggregate queries. On SQLite they
run again only when the database changed since the last scrape (``PRAGMA data_version``
on the exporter's one connection): a registry of 10,000 runs costs a full scan per
change, not per scrape, and the answer is never stale.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, Select, create_engine, func, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from app.errors import ConfigError
from app.exporter.catalog import Batch
from app.exporter.collector import SourceError
from app.registry.engine import parse_url, safe_url, sqlite_file
from app.registry.models import RUN_KINDS, RUN_STATUSES, SEVERITIES, Incident, Metric, Run
from app.risk.gates import DRAWDOWN_METRIC

BUSY_TIMEOUT_S = 0.25
PG_STATEMENT_TIMEOUT_MS = 2000
PG_CONNECT_TIMEOUT_S = 3


def readonly_engine(url_text: str) -> Engine:
    """A read-only engine for the registry at ``url_text`` (SQLite file or PostgreSQL)."""
    url = parse_url(url_text)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = sqlite_file(url)
        if path is None:
            raise ConfigError(
                f"registry {safe_url(url)} is in memory; point RISK_DB_PATH at the registry file"
            )
        return _sqlite_engine(path)
    if backend == "postgresql":
        options = (
            f"-c default_transaction_read_only=on -c statement_timeout={PG_STATEMENT_TIMEOUT_MS}"
            f" -c lock_timeout={PG_STATEMENT_TIMEOUT_MS // 2}"
        )
        return create_engine(
            url,
            connect_args={"options": options, "connect_timeout": PG_CONNECT_TIMEOUT_S},
            pool_pre_ping=True,
            pool_size=1,
        )
    raise ConfigError(
        f"registry {safe_url(url)} uses {backend!r}; the exporter reads SQLite (RISK_DB_PATH) "
        "or PostgreSQL (RISK_DB_URL=postgresql+psycopg://...)"
    )


def _sqlite_engine(path: Path) -> Engine:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    # One connection (data_version is per connection), used under RegistrySource's lock.
    return create_engine("sqlite://", creator=connect, poolclass=StaticPool)


def _timestamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


@dataclass(frozen=True, slots=True)
class _Figures:
    runs: list[Any]  # (kind, status, count, newest start, newest end)
    incidents: dict[str, int]
    drawdowns: list[Any]  # (strategy, max_drawdown_account)
    backup: datetime | None


def _query(conn: Connection) -> _Figures:
    runs = conn.execute(
        select(
            Run.kind,
            Run.status,
            func.count(),
            func.max(Run.started_utc),
            func.max(Run.finished_utc),
        ).group_by(Run.kind, Run.status)
    ).all()
    incidents = conn.execute(select(Incident.severity, func.count()).group_by(Incident.severity))
    drawdowns = conn.execute(_latest_drawdowns()).all()
    backup = conn.execute(
        select(func.max(Run.finished_utc)).where(
            Run.kind == "other",
            Run.status == "succeeded",
            Run.params["operation"].as_string() == "backup",
        )
    ).scalar()
    return _Figures(
        list(runs), {str(k): int(v) for k, v in incidents.all()}, list(drawdowns), backup
    )


class RegistrySource:
    """Runs by kind and status, incidents by severity, drawdowns, the last backup."""

    name = "registry"

    def __init__(self, url_text: str) -> None:
        self.url: URL = parse_url(url_text)
        self.engine = readonly_engine(url_text)
        self._sqlite = self.url.get_backend_name() == "sqlite"
        self._lock = threading.Lock()
        self._cache: tuple[int, _Figures] | None = None

    def close(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def collect(self, batch: Batch, now: float) -> None:
        """The registry's figures (queried again only when it changed, on SQLite)."""
        if not self._lock.acquire(timeout=BUSY_TIMEOUT_S * 4):
            raise SourceError("the registry is being read by another scrape")
        try:
            figures = self._figures()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise SourceError(
                f"reading the registry at {safe_url(self.url)} failed: {reason}"
            ) from None
        finally:
            self._lock.release()
        self._emit(batch, figures)

    def _figures(self) -> _Figures:
        with self.engine.connect() as conn:
            if not self._sqlite:
                return _query(conn)
            version = int(conn.exec_driver_sql("PRAGMA data_version").scalar_one())
            if self._cache is not None and self._cache[0] == version:
                return self._cache[1]
            figures = _query(conn)
            self._cache = (version, figures)
            return figures

    @staticmethod
    def _emit(batch: Batch, figures: _Figures) -> None:
        counts = {(kind, status): int(n) for kind, status, n, _, _ in figures.runs}
        for kind in RUN_KINDS:
            for status in RUN_STATUSES:
                batch.add(
                    "tradingbot_runs_total",
                    float(counts.get((kind, status), 0)),
                    kind=kind,
                    status=status,
                )
        for kind, status, _, started, finished in figures.runs:
            last = _timestamp(started if status == "running" else (finished or started))
            if last is not None:
                batch.add("tradingbot_last_run_timestamp_seconds", last, kind=kind, status=status)
        for severity in SEVERITIES:
            batch.add(
                "tradingbot_incidents_total",
                float(figures.incidents.get(severity, 0)),
                severity=severity,
            )
        for strategy, value in figures.drawdowns:
            batch.add("tradingbot_strategy_max_drawdown_ratio", float(value), strategy=strategy)
        batch.add("tradingbot_last_backup_timestamp_seconds", _timestamp(figures.backup) or 0.0)


def _latest_drawdowns() -> Select[str, float]:
    """(strategy, max_drawdown_account) of each strategy's newest succeeded backtest."""
    ranked = (
        select(
            Run.strategy.label("strategy"),
            Metric.value.label("value"),
            func.row_number()
            .over(partition_by=Run.strategy, order_by=(Run.started_utc.desc(), Run.run_id.desc()))
            .label("rank"),
        )
        .join(Metric, Metric.run_id == Run.run_id)
        .where(
            Run.kind == "backtest",
            Run.status == "succeeded",
            Run.strategy.is_not(None),
            Metric.key == DRAWDOWN_METRIC,
        )
        .subquery()
    )
    return select(ranked.c.strategy, ranked.c.value).where(ranked.c.rank == 1)
