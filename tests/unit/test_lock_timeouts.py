"""Lock waits of the breaker writers and the slot manager: bounded, and named when they end.

Both locks are held by another real process. The waits are set to a second here (the
production default is 30 s, checked separately) so the suite stays fast.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.circuit_breaker import LOCK_TIMEOUT_S, disable_breaker, enable_breaker
from app.errors import CircuitBreakerError
from app.risk.slots import GUARD_TIMEOUT_S, SlotError, SlotManager

WAIT_S = 1.5

HOLD = """
import sys, time
from filelock import FileLock
locks = [FileLock(path) for path in sys.argv[1:]]
for lock in locks:
    lock.acquire()
print("held", flush=True)
time.sleep(300)
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The breaker's write lock and the slot guard, held by another process."""
    breaker_lock = tmp_path / "cb.json.lock"
    slot_guard = tmp_path / "state" / "running" / ".slots.guard"
    slot_guard.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(breaker_lock), str(slot_guard)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        yield breaker_lock, slot_guard
    finally:
        holder.kill()
        holder.wait()


def _timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:  # the test inspects what was raised
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


@pytest.mark.timeout(60)
def test_writers_when_lock_held_by_another_process_then_give_up_after_the_timeout_naming_it(
    tmp_path: Path, held: tuple[Path, Path]
) -> None:
    """Breaker writes and slot takers wait their lock timeout for a held lock, then fail
    naming the lock, the wait and how to find its holder (no hang, no silent success)."""
    breaker_lock, slot_guard = held
    manager = SlotManager(tmp_path / "state", limit=1, ttl_sec=900, guard_timeout_s=WAIT_S)
    now = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=3) as pool:
        enable = pool.submit(
            _timed,
            lambda: enable_breaker(
                tmp_path / "cb.json", reason="manual", now=now, lock_timeout_s=WAIT_S
            ),
        )
        disable = pool.submit(
            _timed,
            lambda: disable_breaker(
                tmp_path / "cb.json", reason="fixed", now=now, lock_timeout_s=WAIT_S
            ),
        )
        slot = pool.submit(
            _timed, lambda: manager.acquire(kind="backtest", run_id="r", correlation_id="c")
        )
        outcomes = [enable.result(), disable.result()]
        slot_error, slot_s = slot.result()

    for breaker_error, breaker_s in outcomes:
        assert isinstance(breaker_error, CircuitBreakerError)
        assert str(breaker_error) == (
            f"circuit breaker lock {breaker_lock} is held by another process for more than "
            f"1.5 s; find it (e.g. `lsof {breaker_lock}`) and retry"
        )
        assert breaker_error.exit_code == 7
        assert breaker_s >= WAIT_S
    assert isinstance(slot_error, SlotError)
    assert str(slot_error) == (
        f"slot guard {slot_guard} is held by another process for more than 1.5 s; "
        f"find it (e.g. `lsof {slot_guard}`)"
    )
    assert slot_s >= WAIT_S
    assert not (tmp_path / "cb.json").exists()
    assert list(manager.folder.glob("*.lock")) == []


def test_lock_timeouts_when_not_given_then_30_s() -> None:
    """Without a timeout given (the CLI, the guard, the runner) both locks are waited 30 s."""
    assert LOCK_TIMEOUT_S == GUARD_TIMEOUT_S == 30.0
    for writer in (enable_breaker, disable_breaker):
        assert inspect.signature(writer).parameters["lock_timeout_s"].default == 30.0
    assert SlotManager(Path("unused"), limit=1, ttl_sec=1).guard_timeout_s == 30.0
