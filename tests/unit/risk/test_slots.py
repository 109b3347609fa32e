"""Concurrency slots (app/risk/slots.py), in one process; races are in tests/integration."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from app.processes import PROCESS_TAG_ENV, RunProcesses
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


def test_acquire_when_other_hosts_lock_older_than_ttl_then_reclaimed(tmp_path: Path) -> None:
    """Another host's lock without heartbeat for RISK_CONCURRENCY_TTL_SEC is orphaned."""
    manager = _manager(tmp_path, ttl=60)
    stale = _fake_lock(manager, "hyperopt_1_1_x.lock", pid=1, host="another-machine", run_id="x")
    old = time.time() - 120
    os.utime(stale, (old, old))
    slot, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    assert slot is not None
    assert not stale.exists()


def test_acquire_when_own_hosts_runner_alive_then_kept_past_ttl(tmp_path: Path) -> None:
    """On this host a live runner keeps its slot however old its heartbeat (never reclaimed
    while a process of the run lives)."""
    manager = _manager(tmp_path, ttl=60)
    kept = _fake_lock(
        manager, "hyperopt_1_1_x.lock", pid=os.getpid(), host=socket.gethostname(), run_id="x"
    )
    old = time.time() - 120
    os.utime(kept, (old, old))
    slot, count = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    assert slot is None
    assert count == 1
    assert kept.exists()


def test_acquire_when_runner_gone_but_tagged_process_lives_then_slot_kept_and_named(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A process carrying the run's tag (an orphaned worker) keeps the slot; once it is
    gone the slot is reclaimed."""
    manager = _manager(tmp_path)
    tag = "tag-" + os.urandom(8).hex()
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={**os.environ, PROCESS_TAG_ENV: tag},
        start_new_session=True,
    )
    try:
        lock = _fake_lock(
            manager,
            "hyperopt_1_1_x.lock",
            pid=_dead_pid(),
            host=socket.gethostname(),
            run_id="x",
            process_tag=tag,
        )
        refused, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
        described = manager.describe_orphans()
    finally:
        orphan.kill()
        orphan.wait()
    slot, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")

    assert refused is None
    assert f"pids {orphan.pid}" in described
    assert [r["pids"] for r in risk_log() if r["message"] == "slot_held_by_orphans"] == [
        [orphan.pid]
    ]
    assert slot is not None
    assert not lock.exists()


def test_acquire_when_processes_given_then_recorded_in_lock_file(tmp_path: Path) -> None:
    """The slot file names the supervisor, its process group and the run's process tag."""
    manager = _manager(tmp_path)
    slot, _ = manager.acquire(
        kind="hyperopt",
        run_id="r",
        correlation_id="c",
        processes=RunProcesses(supervisor_pid=4242, process_group=4242, tag="t1"),
    )
    assert slot is not None
    content = json.loads(slot.path.read_text())
    assert (content["supervisor_pid"], content["process_group"], content["process_tag"]) == (
        4242,
        4242,
        "t1",
    )


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


# -- WAITING FOR A SLOT (first come, first served) -------------------------------------------


def _ticket(manager: SlotManager, seq: int, **content: object) -> Path:
    manager.queue.folder.mkdir(parents=True, exist_ok=True)
    path = manager.queue.folder / f"{seq:012d}_1_w.ticket"
    path.write_text(json.dumps(content))
    return path


def test_acquire_when_someone_waits_then_a_run_that_does_not_wait_is_refused(
    tmp_path: Path,
) -> None:
    """A free slot goes to the oldest waiter, not to a newcomer."""
    manager = _manager(tmp_path, limit=1)
    _ticket(manager, 1, pid=os.getpid(), host=socket.gethostname(), started_epoch=time.time())
    slot, count = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    assert slot is None
    assert count == 0


def test_acquire_when_waiter_dead_then_its_ticket_skipped(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A ticket whose waiter is gone (dead pid, or another host's stale ticket) is deleted."""
    manager = _manager(tmp_path, limit=1, ttl=60)
    dead = _ticket(manager, 1, pid=_dead_pid(), host=socket.gethostname())
    stale = _ticket(manager, 2, pid=1, host="another-machine")
    old = time.time() - 120
    os.utime(stale, (old, old))
    slot, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    assert slot is not None
    assert not dead.exists() and not stale.exists()
    assert len([r for r in risk_log() if r["message"] == "slot_ticket_skipped"]) == 2


def test_acquire_when_wait_times_out_then_none_and_ticket_removed(tmp_path: Path) -> None:
    """Waiting is bounded: after wait_sec the run is refused and leaves the queue."""
    manager = _manager(tmp_path, limit=1)
    held, _ = manager.acquire(kind="backtest", run_id="held", correlation_id="c0")
    seen: list[tuple[int, float]] = []
    started = time.monotonic()
    slot, count = manager.acquire(
        kind="backtest",
        run_id="waiter",
        correlation_id="c1",
        wait_sec=0.6,
        on_wait=lambda ahead, left: seen.append((ahead, left)),
    )
    assert held is not None
    assert slot is None and count == 1
    assert time.monotonic() - started >= 0.6
    assert seen and seen[0][0] == 0 and 0 < seen[0][1] <= 0.6
    assert list(manager.queue.folder.glob("*.ticket")) == []


def test_acquire_when_slot_frees_while_waiting_then_taken_with_waited_time(
    tmp_path: Path,
) -> None:
    """A waiter gets the slot as soon as the holder releases it."""
    manager = _manager(tmp_path, limit=1)
    held, _ = manager.acquire(kind="backtest", run_id="held", correlation_id="c0")
    assert held is not None

    def release_later(_ahead: int, _left: float) -> None:
        manager.release(held)

    slot, _ = manager.acquire(
        kind="backtest", run_id="waiter", correlation_id="c1", wait_sec=30, on_wait=release_later
    )
    assert slot is not None
    assert 0 < slot.waited_sec < 30
    assert list(manager.queue.folder.glob("*.ticket")) == []
