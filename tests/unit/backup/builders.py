"""Builders for backup tests: a realistic user_data tree and helpers to compare trees."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

from app.backup.layout import BackupPaths
from app.registry import Registry


def make_trade_db(path: Path, trades: int = 3) -> None:
    """A Freqtrade-like trade database (rollback journal, as Freqtrade leaves it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, pair TEXT, profit REAL)")
        conn.executemany(
            "INSERT INTO trades (pair, profit) VALUES (?, ?)",
            [(f"PAIR{n}/BTC", n / 100) for n in range(trades)],
        )
    conn.close()


def make_user_data(root: Path) -> Path:
    """user_data with every component the backup knows, plus things it must leave out."""
    user_data = root / "user_data"
    registry = Registry(f"sqlite:///{user_data / 'registry' / 'strategies_registry.sqlite'}")
    with registry:
        run_id = registry.start_run(kind="backtest", correlation_id="seed", strategy="S")
        registry.add_metrics(run_id, {"max_drawdown_account": 0.12})
        registry.finish_run(run_id, status="succeeded", exit_code=0)
    make_trade_db(user_data / "tradesv3.dryrun.sqlite")
    make_trade_db(user_data / "live" / "tradesv3.live.sqlite", trades=5)
    results = user_data / "backtest_results"
    results.mkdir(parents=True)
    with zipfile.ZipFile(results / "backtest-result-2026-01-01_00-00-00.zip", "w") as archive:
        archive.writestr("backtest-result-2026-01-01_00-00-00.json", '{"strategy": {}}')
    (results / "backtest-result-2026-01-01_00-00-00.meta.json").write_text('{"S": {}}')
    (results / ".last_result.json").write_text('{"latest_backtest": "x.zip"}')
    hyperopts = user_data / "hyperopt_results"
    hyperopts.mkdir()
    (hyperopts / "strategy_S_2026-01-01_00-00-00.fthypt").write_text('{"loss": 1}\n' * 50)
    logs = user_data / "logs"
    (logs / "incidents").mkdir(parents=True)
    (logs / "freqtrade.log").write_text("line\n" * 100)
    (logs / "incidents" / "incident_1_2_x.log").write_text("Traceback\n")
    state = user_data / "state"
    (state / "running").mkdir(parents=True)
    (state / "circuit_breaker.json").write_text('{"active": false}')
    (state / "running" / "backtest-1.lock").write_text("pid 1")
    strategies = user_data / "strategies"
    strategies.mkdir()
    (strategies / "ma_crossover.py").write_text("class MaCrossoverStrategy: ...\n")
    (strategies / "ma_crossover.json").write_text('{"strategy_name": "MaCrossoverStrategy"}')
    return user_data


def tree(root: Path, *, skip: tuple[str, ...] = ("backups",)) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative path -> bytes), except ``skip`` folders."""
    if not root.exists():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] not in skip
    }


def rows(database: Path, table: str) -> list[tuple[object, ...]]:
    """All rows of a table, ordered by its first column."""
    with sqlite3.connect(database) as conn:
        result = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    conn.close()
    return result


def paths_for(user_data: Path) -> BackupPaths:
    """Paths with every component under ``user_data`` (no settings involved)."""
    return BackupPaths(
        user_data=user_data,
        registry_url=f"sqlite:///{user_data / 'registry' / 'strategies_registry.sqlite'}",
        state_dir=user_data / "state",
    )


def reseal(backup_dir: Path) -> None:
    """Recompute the manifest's sizes and checksums, as an attacker crafting a backup would."""
    import json

    from app.backup.manifest import sha256_file

    path = backup_dir / "manifest.json"
    document = json.loads(path.read_text())
    for entry in document["files"]:
        entry["sha256"], entry["size"] = sha256_file(backup_dir / entry["path"])
    path.write_text(json.dumps(document))
