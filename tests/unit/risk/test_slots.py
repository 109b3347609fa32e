"""Concurrency slots (app/risk/slots.py), in one process; races are in tests/integration."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from app.risk.slots import Heartbeat, SlotManager
from tests.unit.risk.conftest import LogReader


def _manager(tmp_path: Path, limit: int = 1, ttl: int = 900) -> SlotManager:
    return SlotManager(tmp_path / "state", limit=limit, ttl_sec=ttl)


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _fake_lock(manager: SlotManager, name: str, **content: object) -> Path:
    manager.folder.mkdir(parents=True, exist_ok=True)
    path = manager.folder / name
    path.write_text(json.dumps(content))
    return path


def test_acquire_when_free_then_lock_file_names_and_describes_the_run(tmp_path: Path) -> None:
    """The lock is running/<kind>_<epoch>_<pid>_<correlation>.lock with pid, host, run id."""
    manager = _manager(tmp_path)
    slot, count = manager.acquire(kind="backtest", run_id="run-1", correlation_id="abc123")
    assert slot is not None
    assert count == 1
    kind, epoch, pid, correlation = slot.path.stem.split("_")
    assert (kind, pid, correlation) == ("backtest", str(os.getpid()), "abc123")
    assert abs(int(epoch) - time.time()) < 3600
    content = json.loads(slot.path.read_text())
    assert content["pid"] == os.getpid()
    assert content["host"] == socket.gethostname()
    assert content["run_id"] == "run-1"
    assert content["started"].startswith(time.strftime("%Y", time.gmtime()))


def test_acquire_when_all_slots_taken_then_none_and_count(tmp_path: Path) -> None:
    """A full set of live slots refuses the next run; releasing frees the slot."""
    manager = _manager(tmp_path, limit=2)
    first, _ = manager.acquire(kind="backtest", run_id="r1", correlation_id="c1")
    second, _ = manager.acquire(kind="hyperopt", run_id="r2", correlation_id="c2")
    third, count = manager.acquire(kind="backtest", run_id="r3", correlation_id="c3")
    assert first and second and third is None
    assert count == 2
    manager.release(first)
    fourth, _ = manager.acquire(kind="backtest", run_id="r4", correlation_id="c4")
    assert fourth is not None


def test_acquire_when_unlimited_then_lock_files_still_written(tmp_path: Path) -> None:
    """0 = unlimited, but every run still shows up in running/."""
    manager = _manager(tmp_path, limit=0)
    for n in range(3):
        slot, count = manager.acquire(kind="backtest", run_id=f"r{n}", correlation_id=f"c{n}")
        assert slot is not None
        assert count == n + 1
    assert len(list(manager.folder.glob("*.lock"))) == 3


def test_acquire_when_holder_process_dead_then_reclaimed_and_logged(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A lock whose process no longer runs on this host is removed (slot_reclaimed)."""
    manager = _manager(tmp_path)
    pid = _dead_pid()
    stale = _fake_lock(
        manager, f"backtest_1_{pid}_old.lock", pid=pid, host=socket.gethostname(), run_id="old"
    )
    slot, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    assert slot is not None
    assert not stale.exists()
    reclaimed = [r for r in risk_log() if r["message"] == "slot_reclaimed"]
    assert reclaimed[0]["holder_run_id"] == "old"
    assert "not running" in reclaimed[0]["why"]


def test_acquire_when_lock_older_than_ttl_then_reclaimed_even_if_alive(tmp_path: Path) -> None:
    """No heartbeat for RISK_CONCURRENCY_TTL_SEC: the slot is orphaned."""
    manager = _manager(tmp_path, ttl=60)
    stale = _fake_lock(
        manager, "hyperopt_1_1_x.lock", pid=os.getpid(), host=socket.gethostname(), run_id="x"
    )
    old = time.time() - 120
    os.utime(stale, (old, old))
    slot, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    assert slot is not None
    assert not stale.exists()


def test_acquire_when_pid_reused_by_younger_process_then_reclaimed(tmp_path: Path) -> None:
    """A pid that now belongs to a process started after the slot is not the holder."""
    manager = _manager(tmp_path)
    _fake_lock(
        manager,
        "backtest_1_1_x.lock",
        pid=os.getpid(),
        host=socket.gethostname(),
        started_epoch=1.0,  # long before this test process started
    )
    slot, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    assert slot is not None


def test_acquire_when_lock_from_other_host_or_unparsable_then_counted(tmp_path: Path) -> None:
    """A lock this host cannot check stays until its TTL (fail closed)."""
    manager = _manager(tmp_path, limit=2)
    _fake_lock(manager, "backtest_1_1_a.lock", pid=1, host="another-machine")
    (manager.folder / "backtest_1_2_b.lock").write_text("{not json")
    slot, count = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    assert slot is None
    assert count == 2


def test_heartbeat_when_running_then_lock_mtime_refreshed(tmp_path: Path) -> None:
    """The holder keeps its slot alive by touching the file."""
    manager = _manager(tmp_path)
    slot, _ = manager.acquire(kind="backtest", run_id="r", correlation_id="c")
    assert slot is not None
    os.utime(slot.path, (1.0, 1.0))
    with Heartbeat(slot.path, interval=0.05):
        for _ in range(200):
            if slot.path.stat().st_mtime > 1.0:
                break
            time.sleep(0.05)
    assert slot.path.stat().st_mtime > 1.0
