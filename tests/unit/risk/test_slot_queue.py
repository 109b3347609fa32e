"""Waiting for a slot (app/risk/slot_queue.py and SlotManager.acquire with a wait): first
come, first served, through ticket files in running/queue/."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
from pathlib import Path

import pytest

from app.risk.slot_queue import SlotQueue
from app.risk.slots import SlotManager
from tests.unit.risk.conftest import LogReader
from tests.unit.risk.test_slots import _dead_pid, _manager


def _write_ticket(queue: SlotQueue, seq: int, **content: object) -> Path:
    queue.folder.mkdir(parents=True, exist_ok=True)
    path = queue.folder / f"{seq:012d}_1_w.ticket"
    path.write_text(json.dumps(content))
    return path


def _ticket(manager: SlotManager, seq: int, **content: object) -> Path:
    return _write_ticket(manager.queue, seq, **content)


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
    """Waiting is bounded: after wait_sec the run is refused and leaves the queue; while it
    waits it is told its place about twice a second (POLL_S = 0.5 s)."""
    manager = _manager(tmp_path, limit=1)
    held, _ = manager.acquire(kind="backtest", run_id="held", correlation_id="c0")
    seen: list[tuple[int, float]] = []
    started = time.monotonic()
    slot, count = manager.acquire(
        kind="backtest",
        run_id="waiter",
        correlation_id="c1",
        wait_sec=2.0,
        on_wait=lambda ahead, left: seen.append((ahead, left)),
    )
    assert held is not None
    assert slot is None and count == 1
    assert time.monotonic() - started >= 2.0
    assert seen and seen[0][0] == 0 and 0 < seen[0][1] <= 2.0
    # Four polls in 2 s; three leave a loaded machine a whole second of slack.
    assert len(seen) >= 3
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


def _live_ticket(manager: SlotManager, seq: int) -> Path:
    """A ticket of a live waiter on this host (this test process)."""
    return _ticket(manager, seq, pid=os.getpid(), host=socket.gethostname())


def test_acquire_when_a_waiter_arrives_behind_us_then_it_does_not_delay_us(
    tmp_path: Path,
) -> None:
    """Only tickets ahead of ours count: a later arrival never keeps us from a free slot."""
    manager = _manager(tmp_path, limit=1)
    held, _ = manager.acquire(kind="backtest", run_id="held", correlation_id="c0")
    assert held is not None
    seen: list[int] = []

    def newcomer_then_release(ahead: int, _left: float) -> None:
        seen.append(ahead)
        if len(seen) == 1:
            _live_ticket(manager, 99)  # arrives after us
            manager.release(held)

    slot, _ = manager.acquire(
        kind="backtest", run_id="w", correlation_id="c1", wait_sec=20, on_wait=newcomer_then_release
    )

    assert slot is not None
    assert seen == [0]
    assert [p.name[:12] for p in manager.queue.folder.glob("*.ticket")] == ["000000000099"]


def test_acquire_when_slots_full_and_someone_waits_then_newcomer_refused(tmp_path: Path) -> None:
    """Full slots and a waiter: a run that does not wait is refused, never over the limit."""
    manager = _manager(tmp_path, limit=1)
    held, _ = manager.acquire(kind="backtest", run_id="held", correlation_id="c0")
    _live_ticket(manager, 1)

    slot, count = manager.acquire(kind="backtest", run_id="new", correlation_id="c")

    assert held is not None
    assert (slot, count) == (None, 1)
    assert len(list(manager.folder.glob("*.lock"))) == 1


def test_acquire_when_more_free_slots_than_waiters_then_newcomer_takes_one(
    tmp_path: Path,
) -> None:
    """Two free slots and one waiter: one slot is left for the waiter, the other is taken."""
    manager = _manager(tmp_path, limit=2)
    _live_ticket(manager, 1)

    slot, count = manager.acquire(kind="backtest", run_id="new", correlation_id="c")

    assert slot is not None
    assert count == 1


# -- THE QUEUE ITSELF -------------------------------------------------------------------------


def _queue(tmp_path: Path, ttl: int = 60) -> SlotQueue:
    return SlotQueue(tmp_path / "queue", host=socket.gethostname(), ttl_sec=ttl)


def test_enqueue_when_tickets_present_then_numbered_after_the_highest(tmp_path: Path) -> None:
    """Tickets are numbered 1, 2, ... in arrival order, one above the highest present."""
    queue = _queue(tmp_path)

    first, second = queue.enqueue("r1", "c1"), queue.enqueue("r2", "c2")
    queue.leave(first)
    queue.leave(second)
    (tmp_path / "queue" / "000000000007_1_x.ticket").write_text("{}")
    after_seven = queue.enqueue("r3", "c3")

    assert (first.seq, second.seq, after_seven.seq) == (1, 2, 8)
    assert first.path.name == f"000000000001_{os.getpid()}_c1.ticket"
    assert json.loads(after_seven.path.read_text())["run_id"] == "r3"


@pytest.mark.parametrize(
    ("correlation", "part"),
    [("x" * 100, "x" * 80), ("a/b c", "a-b-c"), ("", "none")],
)
def test_enqueue_when_correlation_id_long_or_unsafe_then_name_bounded_and_safe(
    tmp_path: Path, correlation: str, part: str
) -> None:
    """The ticket's name carries at most 80 characters of [A-Za-z0-9._-] of the id."""
    ticket = _queue(tmp_path).enqueue("r", correlation)

    assert ticket.path.name == f"000000000001_{os.getpid()}_{part}.ticket"


def test_leave_when_ticket_already_skipped_then_no_error(tmp_path: Path) -> None:
    """A waiter whose ticket another run deleted (judged dead) can still leave cleanly."""
    queue = _queue(tmp_path)
    ticket = queue.enqueue("r", "c")
    ticket.path.unlink()

    queue.leave(ticket)
    queue.touch(ticket)

    assert list(queue.folder.iterdir()) == []


def test_live_tickets_when_several_waiters_live_then_all_in_arrival_order(tmp_path: Path) -> None:
    """Every live waiter is listed, oldest first (not only the first one found)."""
    queue = _queue(tmp_path)
    tickets = [queue.enqueue(f"r{n}", f"c{n}") for n in range(3)]

    assert queue.live_tickets("c") == tickets


def test_live_tickets_when_other_hosts_ticket_fresh_or_from_the_future_then_kept(
    tmp_path: Path,
) -> None:
    """Another host's waiter is judged by its ticket's age only: a fresh ticket, or one
    whose host's clock runs ahead, is a live waiter."""
    queue = _queue(tmp_path, ttl=60)
    fresh = _write_ticket(queue, 1, pid=1, host="another-machine")
    ahead = _write_ticket(queue, 2, pid=1, host="another-machine")
    future = time.time() + 3600
    os.utime(ahead, (future, future))

    assert [t.path for t in queue.live_tickets("c")] == [fresh, ahead]


def test_live_tickets_when_host_sorts_after_ours_and_ticket_stale_then_skipped(
    tmp_path: Path,
) -> None:
    """Any other host's stale ticket is skipped, even with a pid alive on this host."""
    queue = _queue(tmp_path, ttl=60)
    stale = _write_ticket(queue, 1, pid=os.getpid(), host=socket.gethostname() + "-peer")
    old = time.time() - 120
    os.utime(stale, (old, old))

    assert queue.live_tickets("c") == []
    assert not stale.exists()


def test_live_tickets_when_own_pid_reused_then_ticket_skipped(tmp_path: Path) -> None:
    """A pid that now belongs to a process younger than the ticket is not the waiter."""
    queue = _queue(tmp_path)
    reused = _write_ticket(queue, 1, pid=os.getpid(), host=socket.gethostname(), started_epoch=1.0)

    assert queue.live_tickets("c") == []
    assert not reused.exists()


def test_live_tickets_when_ticket_is_a_dangling_symlink_then_skipped(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A ticket that points nowhere is skipped as vanished, not a crash."""
    queue = _queue(tmp_path)
    queue.folder.mkdir()
    link = queue.folder / "000000000001_1_x.ticket"
    link.symlink_to(tmp_path / "nothing-here")

    assert queue.live_tickets("c") == []
    assert not link.is_symlink()
    assert [r["why"] for r in risk_log() if r["message"] == "slot_ticket_skipped"] == [
        "ticket vanished"
    ]


def test_live_tickets_when_ticket_is_a_symlink_loop_then_a_waiter_until_its_ttl(
    tmp_path: Path,
) -> None:
    """A ticket that is a symlink to itself is judged like an unreadable one (a waiter
    until the link is older than the TTL, then skipped), never a crash of every run."""
    queue = _queue(tmp_path, ttl=60)
    queue.folder.mkdir()
    loop = queue.folder / "000000000001_1_x.ticket"
    loop.symlink_to(loop.name)

    assert [t.seq for t in queue.live_tickets("c")] == [1]
    old = time.time() - 120
    os.utime(loop, (old, old), follow_symlinks=False)
    assert queue.live_tickets("c") == []
    assert not loop.is_symlink()


@pytest.mark.parametrize("kind", ["garbage", "folder"])
def test_live_tickets_when_ticket_unreadable_and_fresh_then_counted_until_ttl(
    tmp_path: Path, kind: str
) -> None:
    """A ticket that cannot be read or parsed is a waiter until its TTL (fail closed)."""
    queue = _queue(tmp_path)
    queue.folder.mkdir()
    path = queue.folder / "000000000003_1_x.ticket"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_text("{not json")

    assert [t.seq for t in queue.live_tickets("c")] == [3]


def test_ticket_when_assigned_then_frozen(tmp_path: Path) -> None:
    """A ticket's place in the line is fixed once taken."""
    ticket = _queue(tmp_path).enqueue("r", "c")

    with pytest.raises(dataclasses.FrozenInstanceError):
        ticket.seq = 0  # type: ignore[misc]


def test_queue_when_arguments_positional_then_type_error(tmp_path: Path) -> None:
    """Host and TTL are keyword-only: a TTL can never be taken for the host name."""
    with pytest.raises(TypeError):
        SlotQueue(tmp_path, "host", 60)  # type: ignore[misc]


def test_enqueue_when_queue_folder_missing_then_created_with_its_parents(tmp_path: Path) -> None:
    """The first waiter creates the queue folder (and any missing parent); later ones reuse it."""
    queue = SlotQueue(tmp_path / "state" / "running" / "queue", host="h", ttl_sec=60)

    first, second = queue.enqueue("r1", "c1"), queue.enqueue("r2", "c2")

    assert [first.seq, second.seq] == [1, 2]
    assert first.path.parent == tmp_path / "state" / "running" / "queue"


class _LeaveWhenSkipped(logging.Handler):
    """Another waiter leaves (deletes its ticket, outside the guard) at the moment a dead
    ticket ahead of it is being skipped: a real interleaving, made deterministic."""

    def __init__(self, leaving: Path) -> None:
        super().__init__()
        self.leaving = leaving

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "slot_ticket_skipped":
            self.leaving.unlink(missing_ok=True)


def test_live_tickets_when_a_waiter_leaves_while_listed_then_skipped_as_vanished(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A ticket deleted between the listing and its check is skipped, not an error."""
    queue = _queue(tmp_path)
    _write_ticket(queue, 1, pid=_dead_pid(), host=socket.gethostname())
    leaving = _write_ticket(queue, 2, pid=os.getpid(), host=socket.gethostname())
    handler = _LeaveWhenSkipped(leaving)
    logging.getLogger("tradingbot").addHandler(handler)
    try:
        live = queue.live_tickets("c")
    finally:
        logging.getLogger("tradingbot").removeHandler(handler)

    assert live == []
    assert [r["why"] for r in risk_log() if r["message"] == "slot_ticket_skipped"][1:] == [
        "ticket vanished"
    ]


def test_live_tickets_when_other_hosts_ticket_dates_from_1970_then_skipped(tmp_path: Path) -> None:
    """A ticket whose mtime is near the epoch is very old, not young: age = now - mtime."""
    queue = _queue(tmp_path, ttl=60)
    ancient = _write_ticket(queue, 1, pid=1, host="another-machine")
    os.utime(ancient, (1.0, 1.0))

    assert queue.live_tickets("c") == []
    assert not ancient.exists()
