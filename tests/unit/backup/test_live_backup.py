"""Backups taken while other processes keep writing restore to sound databases."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from app.backup.create import create_backup
from app.backup.restore import restore_backup
from app.backup.sqlite_copy import integrity_check
from tests.unit.backup.builders import make_trade_db, paths_for

# Inserts into the registry (WAL, through the Registry API) and into a trade database
# (rollback journal, as Freqtrade uses it) until the stop file appears.
WRITER = """
import sqlite3, sys, time
from pathlib import Path
from app.registry import Registry

registry = Registry(sys.argv[1])
trades = sqlite3.connect(sys.argv[2], timeout=60)
stop = Path(sys.argv[3])
n = 0
while n < 20 or not stop.exists():
    run_id = registry.start_run(kind="backtest", correlation_id="live", strategy="Live")
    registry.add_metrics(run_id, {"n": n})
    registry.finish_run(run_id, status="succeeded", exit_code=0)
    with trades:
        trades.execute("INSERT INTO trades (pair, profit) VALUES (?, ?)", ("LIVE/BTC", n))
    n += 1
    if n == 20:
        print("writing", flush=True)
print(n, flush=True)
"""


def test_backup_when_other_process_inserting_then_restores_pass_integrity_check(
    tmp_path: Path,
) -> None:
    """Three backups taken mid-insert each restore to databases that pass integrity_check."""
    user_data = tmp_path / "user_data"
    paths = paths_for(user_data)
    make_trade_db(user_data / "tradesv3.dryrun.sqlite")
    registry_file = paths.registry_file
    assert registry_file is not None
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            paths.registry_url,
            str(user_data / "tradesv3.dryrun.sqlite"),
            str(stop),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "writing"
        backups = [create_backup(paths, out_dir=tmp_path / "backups") for _ in range(3)]
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    written = int(out.strip())

    counts = []
    for n, backup in enumerate(backups):
        target = paths_for(tmp_path / f"restored{n}" / "user_data")
        target.user_data.mkdir(parents=True)
        restore_backup(backup.path, target, only=["registry", "trades"])
        restored_registry = target.registry_file
        assert restored_registry is not None
        assert integrity_check(restored_registry) == "ok"
        assert integrity_check(target.user_data / "tradesv3.dryrun.sqlite") == "ok"
        with sqlite3.connect(restored_registry) as conn:
            runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            orphans = conn.execute(
                "SELECT COUNT(*) FROM metrics WHERE run_id NOT IN (SELECT run_id FROM runs)"
            ).fetchone()[0]
        conn.close()
        counts.append(runs)
        assert orphans == 0
    assert counts == sorted(counts)  # later backups hold at least as much
    assert 20 <= counts[0] <= written
    assert counts[-1] <= written
