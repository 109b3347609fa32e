"""Concurrency slots (app/risk/slots.py), in one process; races are in tests/integration."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.processes import PROCESS_TAG_ENV, RunProcesses
from app.risk.slots import Heartbeat, SlotError, SlotManager
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


def test_acquire_when_not_waiting_then_waited_time_within_the_call(tmp_path: Path) -> None:
    """waited_sec is the time spent in acquire (the gates re-check only after a real wait)."""
    manager = _manager(tmp_path)
    before = time.monotonic()
    slot, _ = manager.acquire(kind="backtest", run_id="r", correlation_id="c")
    spent = time.monotonic() - before

    assert slot is not None
    assert 0 <= slot.waited_sec <= spent


@pytest.mark.parametrize(
    ("correlation", "part"),
    [("x" * 100, "x" * 80), ("a/b c", "a-b-c"), ("///", "-"), ("", "none")],
)
def test_acquire_when_correlation_id_long_or_unsafe_then_file_name_bounded_and_safe(
    tmp_path: Path, correlation: str, part: str
) -> None:
    """The correlation part of the lock file name is cut to 80 characters of [A-Za-z0-9._-]."""
    manager = _manager(tmp_path)
    slot, _ = manager.acquire(kind="backtest", run_id="r", correlation_id=correlation)

    assert slot is not None
    assert slot.path.name.endswith(f"_{os.getpid()}_{part}.lock")
    assert json.loads(slot.path.read_text())["correlation_id"] == correlation


def test_acquire_when_other_hosts_lock_mtime_in_the_future_then_kept(tmp_path: Path) -> None:
    """Another host's clock running ahead (an mtime in the future) is not a stale lock."""
    manager = _manager(tmp_path, ttl=60)
    ahead = _fake_lock(manager, "hyperopt_1_1_x.lock", pid=1, host="another-machine")
    future = time.time() + 3600
    os.utime(ahead, (future, future))

    slot, count = manager.acquire(kind="backtest", run_id="new", correlation_id="c")

    assert slot is None
    assert count == 1
    assert ahead.exists()


def test_acquire_when_host_sorts_after_ours_and_lock_stale_then_reclaimed(tmp_path: Path) -> None:
    """Any other host name (not only those sorting before ours) is judged by the TTL alone."""
    manager = _manager(tmp_path, ttl=60)
    stale = _fake_lock(
        manager, "hyperopt_1_1_x.lock", pid=os.getpid(), host=socket.gethostname() + "-peer"
    )
    old = time.time() - 120
    os.utime(stale, (old, old))

    slot, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")

    assert slot is not None
    assert not stale.exists()


def test_acquire_when_lock_file_is_a_dangling_symlink_then_reclaimed(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A ``*.lock`` that points nowhere is reclaimed as vanished, not a crash."""
    manager = _manager(tmp_path)
    manager.folder.mkdir(parents=True)
    link = manager.folder / "backtest_1_1_gone.lock"
    link.symlink_to(tmp_path / "nothing-here")

    slot, _ = manager.acquire(kind="backtest", run_id="new", correlation_id="c")

    assert slot is not None
    assert not link.is_symlink()
    assert [r["why"] for r in risk_log() if r["message"] == "slot_reclaimed"] == [
        "lock file vanished"
    ]


def test_acquire_when_lock_file_is_a_symlink_loop_then_held_until_its_ttl(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A ``*.lock`` that is a symlink to itself counts as an unparsable holder (a slot
    taken until the link is older than the TTL), not a SlotError for every run."""
    manager = _manager(tmp_path, limit=1, ttl=60)
    manager.folder.mkdir(parents=True)
    loop = manager.folder / "backtest_1_1_loop.lock"
    loop.symlink_to(loop.name)

    assert manager.acquire(kind="backtest", run_id="a", correlation_id="c") == (None, 1)
    old = 1.0  # long ago: the link's age is now - mtime
    os.utime(loop, (old, old), follow_symlinks=False)
    slot, _ = manager.acquire(kind="backtest", run_id="b", correlation_id="c")

    assert slot is not None
    assert not loop.is_symlink()
    (why,) = [r["why"] for r in risk_log() if r["message"] == "slot_reclaimed"]
    assert why.startswith("no heartbeat for 1")


@pytest.mark.parametrize("pid", [True, "4242", 1.5])
def test_holders_when_pid_not_an_integer_then_unknown(tmp_path: Path, pid: object) -> None:
    """A crafted pid (a boolean, text, a float) is not taken for a process id."""
    manager = _manager(tmp_path)
    _fake_lock(manager, "backtest_1_1_x.lock", pid=pid, host=socket.gethostname(), run_id="x")

    (holder,) = manager.holders()

    assert holder.pid is None
    assert (holder.host, holder.run_id) == (socket.gethostname(), "x")


def test_release_when_lock_file_already_reclaimed_then_no_error(tmp_path: Path) -> None:
    """Releasing a slot whose file another run reclaimed is fine (nothing to delete)."""
    manager = _manager(tmp_path)
    slot, _ = manager.acquire(kind="backtest", run_id="r", correlation_id="c")
    assert slot is not None
    slot.path.unlink()

    manager.release(slot)

    assert list(manager.folder.glob("*.lock")) == []


def test_acquire_when_state_dir_is_a_file_then_slot_error_naming_the_fix(tmp_path: Path) -> None:
    """A slot folder that cannot be created is a SlotError (exit 1) saying what to check."""
    (tmp_path / "state").write_text("a file where RISK_STATE_DIR should be")
    manager = _manager(tmp_path)

    with pytest.raises(SlotError, match="check RISK_STATE_DIR and its permissions") as error:
        manager.acquire(kind="backtest", run_id="r", correlation_id="c")

    assert error.value.exit_code == 1
    assert f"cannot use the slot folder {manager.folder}" in str(error.value)


def test_acquire_when_queue_folder_unusable_while_waiting_then_slot_error(tmp_path: Path) -> None:
    """A file system error inside the guard (here: the queue folder is a file) is a
    SlotError naming the slot folder, and the guard is released."""
    manager = _manager(tmp_path, limit=1)
    held, _ = manager.acquire(kind="backtest", run_id="held", correlation_id="c0")
    assert held is not None
    manager.queue.folder.write_text("not a folder")

    with pytest.raises(SlotError, match="cannot use the slot folder"):
        manager.acquire(kind="backtest", run_id="w", correlation_id="c1", wait_sec=5)

    manager.release(held)
    slot, _ = manager.acquire(kind="backtest", run_id="next", correlation_id="c2")
    assert slot is not None


def test_slot_and_holder_when_assigned_then_frozen(tmp_path: Path) -> None:
    """A held slot and a holder's record are values: nobody re-points them at another file."""
    manager = _manager(tmp_path)
    slot, _ = manager.acquire(kind="backtest", run_id="r", correlation_id="c")
    assert slot is not None
    (holder,) = manager.holders()

    with pytest.raises(dataclasses.FrozenInstanceError):
        slot.path = tmp_path / "other.lock"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        holder.pid = 1  # type: ignore[misc]


def test_manager_when_arguments_positional_then_type_error(tmp_path: Path) -> None:
    """Limit, TTL, kind, run id and correlation id are keyword-only: none takes another's
    place (a TTL given as the limit would change how many runs may run)."""
    with pytest.raises(TypeError):
        SlotManager(tmp_path, 1, 900)  # type: ignore[misc]
    manager = _manager(tmp_path)
    with pytest.raises(TypeError):
        manager.acquire("backtest", "r", "c")  # type: ignore[misc]
    assert not manager.folder.exists()


# -- HEARTBEAT --------------------------------------------------------------------------------


def _heartbeats() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "slot-heartbeat"]


def test_heartbeat_when_lock_file_reclaimed_then_stops_by_itself(tmp_path: Path) -> None:
    """Once its file is gone the heartbeat ends: it never touches a path it no longer owns."""
    with Heartbeat(tmp_path / "reclaimed.lock", interval=0.01):
        for _ in range(1000):
            if not _heartbeats():
                break
            time.sleep(0.01)
        running_inside = _heartbeats()

    assert running_inside == []


def test_heartbeat_when_touch_fails_for_a_while_then_keeps_beating(tmp_path: Path) -> None:
    """A passing file system error does not stop the heartbeat (the slot would go stale)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("for a while the folder is a file: os.utime fails (not a folder)")
    real = tmp_path / "real"
    real.mkdir()
    lock = real / "x.lock"
    lock.write_text("{}")
    os.utime(lock, (1.0, 1.0))
    folder = tmp_path / "running"
    folder.symlink_to(blocker)
    with Heartbeat(folder / "x.lock", interval=0.02):
        time.sleep(0.3)  # about 15 failed beats
        switch = tmp_path / "switch"
        switch.symlink_to(real)
        switch.replace(folder)  # atomic: the path never vanishes (which would end the beats)
        for _ in range(500):
            if lock.stat().st_mtime > 1.0:
                break
            time.sleep(0.02)

    assert lock.stat().st_mtime > 1.0


HEARTBEAT_NOT_STOPPED = """
import sys
from pathlib import Path
from app.risk.slots import Heartbeat
Heartbeat(Path(sys.argv[1]), interval=0.05).__enter__()
print("exiting")
"""


def test_heartbeat_when_runner_exits_without_stopping_it_then_process_still_exits(
    tmp_path: Path,
) -> None:
    """The heartbeat thread is a daemon: it never keeps a finished runner alive."""
    lock = tmp_path / "x.lock"
    lock.write_text("{}")

    done = subprocess.run(
        [sys.executable, "-c", HEARTBEAT_NOT_STOPPED, str(lock)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert (done.returncode, done.stdout.strip()) == (0, "exiting")


def test_acquire_when_other_hosts_lock_dates_from_1970_then_reclaimed(tmp_path: Path) -> None:
    """A lock whose mtime is near the epoch (a host whose clock was reset) is very old,
    not young: its age is now minus its mtime."""
    manager = _manager(tmp_path, ttl=60)
    ancient = _fake_lock(manager, "hyperopt_1_1_x.lock", pid=1, host="another-machine")
    os.utime(ancient, (1.0, 1.0))

    slot, count = manager.acquire(kind="backtest", run_id="new", correlation_id="c")

    assert slot is not None and count == 1
    assert not ancient.exists()


class _ReleaseWhenReclaimed(logging.Handler):
    """Another run releases its slot (deletes its lock file, outside the guard) at the
    moment a dead run's slot is being reclaimed: a real interleaving, made deterministic."""

    def __init__(self, releasing: Path) -> None:
        super().__init__()
        self.releasing = releasing

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "slot_reclaimed":
            self.releasing.unlink(missing_ok=True)


def test_acquire_when_a_run_releases_while_slots_listed_then_reclaimed_as_vanished(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A lock file deleted between the listing and its check is no error: the slot is free."""
    manager = _manager(tmp_path, limit=1)
    _fake_lock(manager, "backtest_1_1_a.lock", pid=_dead_pid(), host=socket.gethostname())
    releasing = _fake_lock(
        manager, "backtest_2_1_b.lock", pid=os.getpid(), host=socket.gethostname()
    )
    handler = _ReleaseWhenReclaimed(releasing)
    logging.getLogger("tradingbot").addHandler(handler)
    try:
        slot, count = manager.acquire(kind="backtest", run_id="new", correlation_id="c")
    finally:
        logging.getLogger("tradingbot").removeHandler(handler)

    assert slot is not None and count == 1
    whys = [r["why"] for r in risk_log() if r["message"] == "slot_reclaimed"]
    assert whys[1:] == ["lock file vanished"]
