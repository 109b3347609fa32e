"""The registry source (app/exporter/registry.py): right figures, read-only, never waits.

Runs on SQLite and on a throwaway PostgreSQL (the ``db_url`` fixture of the registry's
own tests), filled through the real :class:`app.registry.Registry` API.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.exporter.collector import SourceError
from app.exporter.registry import RegistrySource
from app.registry import Registry
from tests.unit.exporter.helpers import collect

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def _fill(url: str) -> None:
    """Two backtests of S (old 0.3, new 0.1), one of T (0.2), a failed hyperopt, backups."""
    with Registry(url) as registry:
        for strategy, drawdown, hours in (("S", 0.3, 0), ("S", 0.1, 2), ("T", 0.2, 1)):
            started = T0 + timedelta(hours=hours)
            run = registry.start_run(
                kind="backtest", correlation_id="c", strategy=strategy, started_utc=started
            )
            registry.add_metrics(run, {"max_drawdown_account": drawdown})
            registry.finish_run(
                run, status="succeeded", exit_code=0, finished_utc=started + timedelta(minutes=5)
            )
        failed = registry.start_run(kind="backtest", correlation_id="c", strategy="S",
                                    started_utc=T0 + timedelta(hours=5))  # fmt: skip
        registry.add_metrics(failed, {"max_drawdown_account": 0.9})  # failed: never counts
        registry.finish_run(failed, status="failed", exit_code=2,
                            finished_utc=T0 + timedelta(hours=5, minutes=1))  # fmt: skip
        registry.start_run(kind="hyperopt", correlation_id="c", started_utc=T0)
        for op, status, hours in (("backup", "succeeded", 3), ("backup", "failed", 4),
                                  ("restore", "succeeded", 6)):  # fmt: skip
            run = registry.start_run(kind="other", correlation_id="c",
                                     params={"operation": op}, started_utc=T0)  # fmt: skip
            registry.finish_run(run, status=status, exit_code=0,
                                finished_utc=T0 + timedelta(hours=hours))  # fmt: skip
        registry.log_incident(severity="critical", description="tripped", correlation_id="c")
        registry.log_incident(severity="warning", description="refused", correlation_id="c")
        registry.log_incident(severity="warning", description="refused", correlation_id="c")


def test_registry_when_filled_then_counts_latest_drawdowns_and_last_backup(db_url: str) -> None:
    """Counts per kind/status and severity (zeros too), newest succeeded drawdown per
    strategy, last run times, and the end of the last *successful* backup."""
    _fill(db_url)
    source = RegistrySource(db_url)

    got = collect(source)
    source.close()

    assert got["tradingbot_runs_total{kind=backtest,status=succeeded}"] == 3.0
    assert got["tradingbot_runs_total{kind=backtest,status=failed}"] == 1.0
    assert got["tradingbot_runs_total{kind=hyperopt,status=running}"] == 1.0
    assert got["tradingbot_runs_total{kind=other,status=succeeded}"] == 2.0
    assert got["tradingbot_runs_total{kind=live,status=blocked}"] == 0.0
    assert len([k for k in got if k.startswith("tradingbot_runs_total")]) == 7 * 5
    assert got["tradingbot_incidents_total{severity=critical}"] == 1.0
    assert got["tradingbot_incidents_total{severity=warning}"] == 2.0
    assert got["tradingbot_incidents_total{severity=error}"] == 0.0
    assert got["tradingbot_strategy_max_drawdown_ratio{strategy=S}"] == 0.1
    assert got["tradingbot_strategy_max_drawdown_ratio{strategy=T}"] == 0.2
    backup_end = (T0 + timedelta(hours=3)).timestamp()
    assert got["tradingbot_last_backup_timestamp_seconds"] == backup_end
    last_backtest = (T0 + timedelta(hours=2, minutes=5)).timestamp()
    assert got["tradingbot_last_run_timestamp_seconds{kind=backtest,status=succeeded}"] == (
        last_backtest
    )
    assert got["tradingbot_last_run_timestamp_seconds{kind=hyperopt,status=running}"] == (
        T0.timestamp()
    )
    assert "tradingbot_last_run_timestamp_seconds{kind=live,status=failed}" not in got


def test_registry_when_empty_then_zeros_and_backup_never(db_url: str) -> None:
    """A registry without runs: every count 0, last backup 0 (never), no drawdowns."""
    Registry(db_url).upgrade()
    got = collect(RegistrySource(db_url))

    assert got["tradingbot_last_backup_timestamp_seconds"] == 0.0
    assert sum(v for k, v in got.items() if k.startswith("tradingbot_runs_total")) == 0  # type: ignore[misc]
    assert not [k for k in got if "max_drawdown" in k]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_registry_when_scraped_then_sqlite_file_and_journal_mode_untouched(tmp_path: Path) -> None:
    """No write at all: a registry in rollback-journal mode stays so (no WAL switch, no
    migration) and its folder is byte for byte the same after scrapes."""
    db = tmp_path / "registry.sqlite"
    url = f"sqlite:///{db}"
    _fill(url)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    before = _digest(tmp_path)
    source = RegistrySource(url)

    for _ in range(3):
        collect(source)
    source.close()

    assert _digest(tmp_path) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_registry_when_file_missing_then_source_error_and_no_file_created(tmp_path: Path) -> None:
    """A wrong RISK_DB_PATH shows as a failing source; no empty database appears."""
    db = tmp_path / "nope" / "registry.sqlite"
    source = RegistrySource(f"sqlite:///{db}")

    with pytest.raises(SourceError, match="reading the registry"):
        collect(source)

    assert not db.parent.exists()


def test_registry_when_writer_holds_exclusive_lock_then_fails_fast(tmp_path: Path) -> None:
    """A scrape never waits long on a lock: an exclusive writer makes it fail in < 1 s."""
    db = tmp_path / "registry.sqlite"
    url = f"sqlite:///{db}"
    _fill(url)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    source = RegistrySource(url)
    try:
        started = time.monotonic()
        with pytest.raises(SourceError, match="locked"):
            collect(source)
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        source.close()

    assert elapsed < 1.0


def test_registry_when_scraped_from_threads_then_consistent(tmp_path: Path) -> None:
    """Concurrent scrapes (two Prometheus servers) share the source safely."""
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    _fill(url)
    source = RegistrySource(url)
    results: list[float] = []

    def scrape() -> None:
        for _ in range(10):
            got = collect(source)
            results.append(got["tradingbot_incidents_total{severity=warning}"])  # type: ignore[arg-type]

    threads = [threading.Thread(target=scrape) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    source.close()

    assert results == [2.0] * 40


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "is in memory"),
        ("mysql+pymysql://u:hidden@db/x", "uses 'mysql'"),
    ],
)
def test_registry_when_url_unsupported_then_config_error(url: str, message: str) -> None:
    """Only a SQLite file or PostgreSQL; the message hides the password."""
    with pytest.raises(ConfigError, match=message) as excinfo:
        RegistrySource(url)

    assert "hidden" not in str(excinfo.value)


def test_registry_when_changed_between_scrapes_then_next_scrape_sees_it(tmp_path: Path) -> None:
    """The SQLite answer is reused only while the database is unchanged: a new incident
    and a new run show at the very next scrape."""
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    _fill(url)
    source = RegistrySource(url)
    before = collect(source)
    same = collect(source)

    with Registry(url) as registry:
        registry.log_incident(severity="critical", description="again", correlation_id="c")
        registry.start_run(kind="live", correlation_id="c")
    after = collect(source)
    source.close()

    assert same == before
    assert after["tradingbot_incidents_total{severity=critical}"] == 2.0
    assert after["tradingbot_runs_total{kind=live,status=running}"] == 1.0
