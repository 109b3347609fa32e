"""Many processes writing one SQLite registry at once (real processes, real file)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.registry import Registry
from tests.unit.registry.pg_server import PostgresServer

WRITER = Path(__file__).resolve().with_name("writer_process.py")
PROCESSES = 8
RUNS_EACH = 200


def test_registry_when_8_processes_write_200_runs_each_then_no_row_lost(tmp_path: Path) -> None:
    """8 writers x 200 runs (3 write transactions each) on a fresh file: every row, no lock error.

    The database does not exist when the writers start, so they also race to create and
    migrate it.
    """
    db = tmp_path / "registry" / "strategies_registry.sqlite"
    start = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, str(WRITER), f"sqlite:///{db}", str(n), str(RUNS_EACH), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    time.sleep(1.0)  # let every interpreter reach the barrier before releasing them together
    start.touch()
    results = [child.communicate(timeout=600) for child in children]

    for child, (_out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert "locked" not in err
    with sqlite3.connect(db) as conn:
        runs = conn.execute(
            "SELECT strategy, COUNT(*), SUM(status = 'succeeded') FROM runs GROUP BY strategy"
        ).fetchall()
        metrics = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    assert sorted(runs) == [(f"Worker{n}", RUNS_EACH, RUNS_EACH) for n in range(PROCESSES)]
    assert metrics == PROCESSES * RUNS_EACH * 2
    assert check == "ok"


@pytest.mark.postgres
def test_registry_when_4_processes_open_fresh_postgres_then_one_migration_no_row_lost(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Writers racing on a fresh PostgreSQL database migrate it once and lose nothing."""
    url = postgres_server.new_database()
    start = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, str(WRITER), url, str(n), "25", str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    time.sleep(1.0)
    start.touch()
    results = [child.communicate(timeout=300) for child in children]

    for child, (_out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    with Registry(url) as registry:
        runs = registry.list_runs(limit=1000)
    assert len(runs) == 100
    assert {r.status for r in runs} == {"succeeded"}
