"""Helper threads (app/threads.py) block the handled signals, so they reach the main thread.

Read from the kernel's own view of each thread (``/proc/self/task/TID/status``), and
shown end to end with real signals: a process whose main thread sleeps beside a slot
heartbeat ends at once on SIGINT and on SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from app.risk.slots import Heartbeat
from app.threads import HANDLED_SIGNALS, start_thread
from tests.helpers import REPO_ROOT, clean_env


def _blocked(native_id: int) -> set[int]:
    """The signal numbers a thread of this process blocks, as the kernel reports them."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    mask = int(
        next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16
    )
    return {number for number in range(1, 65) if mask & (1 << (number - 1))}


def test_start_thread_when_started_then_thread_blocks_handled_signals_and_caller_unchanged() -> (
    None
):
    """The new thread blocks every handled signal; the caller's own mask is as before."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)

    start_thread(thread)
    try:
        assert thread.native_id is not None
        blocked = _blocked(thread.native_id)
        caller = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        release.set()
        thread.join(timeout=5)

    assert {int(s) for s in HANDLED_SIGNALS} <= blocked
    assert caller == before
    assert signal.SIGINT not in caller


def test_heartbeat_when_running_then_its_thread_blocks_sigint_and_sigterm(tmp_path: Path) -> None:
    """The slot heartbeat (a thread of every backtest/hyperopt runner) cannot take a signal."""
    lock = tmp_path / "slot.lock"
    lock.touch()
    with Heartbeat(lock, 0.05) as beat:
        native_id = beat._thread.native_id
        assert native_id is not None
        blocked = _blocked(native_id)
    assert {int(signal.SIGINT), int(signal.SIGTERM), int(signal.SIGCHLD)} <= blocked


def test_start_thread_when_start_fails_then_caller_mask_restored() -> None:
    """A thread that cannot start (started twice) leaves the caller's mask untouched."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    thread = threading.Thread(target=lambda: None, daemon=True)
    start_thread(thread)
    thread.join(timeout=5)

    with pytest.raises(RuntimeError):
        start_thread(thread)

    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before


_SLEEPER = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from app.risk.slots import Heartbeat
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignored
    lock = Path(sys.argv[1])
    lock.touch()
    with Heartbeat(lock, 0.001):  # a thread that is awake almost all the time
        print("ready", flush=True)
        time.sleep(120)
    """
)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 143)]
)
def test_process_when_signalled_beside_heartbeat_then_main_thread_wakes_at_once(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    """The sleeping main thread gets the signal (not the heartbeat): exit within seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLEEPER, str(tmp_path / "slot.lock")],
        cwd=REPO_ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        began = time.monotonic()
        proc.send_signal(signum)
        proc.wait(timeout=60)
        took = time.monotonic() - began
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == code
    assert took < 30  # the sleep is 120 s: only a woken main thread ends this early
