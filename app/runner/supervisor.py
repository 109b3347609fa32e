"""The supervisor: no process of a run outlives its runner.

The Freqtrade child interpreter forks at once (see ``freqtrade_child.py``): the parent
becomes this supervisor, the forked process runs Freqtrade. Before forking, the
supervisor makes itself a *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``): every
process below it whose parent dies is re-parented to it instead of to init, also after
``setsid``. So the whole tree of the run -- Freqtrade, hyperopt's loky workers, the
multiprocessing forkserver and resource trackers -- stays the supervisor's descendants.

The supervisor waits for three things:

* **SIGINT/SIGTERM** (the runner forwards a Ctrl-C or ``docker stop``): passed on to
  Freqtrade's process only, which stops the way it always does;
* **Freqtrade's process exits**: descendants still alive get :data:`LINGER_S` to end
  by themselves (joblib's workers and trackers shut down when their pipes close), then
  SIGTERM, then SIGKILL; the supervisor exits with Freqtrade's code;
* **the runner is gone** (the *lifeline* pipe, whose write end only the runner holds,
  reads end-of-file -- also after ``kill -9``): SIGTERM to Freqtrade, up to
  :data:`TERM_GRACE_S` for it to stop cleanly, then SIGTERM to every descendant, then
  SIGKILL to every one left, until none remains.

The supervisor imports nothing heavy and sleeps in ``select`` (woken by signals through
a wake-up pipe); it never runs Freqtrade code. If the supervisor itself is killed with
SIGKILL, Freqtrade's process gets SIGTERM from the kernel (``PR_SET_PDEATHSIG``), and
slots still see any survivor through its process tag (``app/processes.py``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
TERM_GRACE_S = 10.0  # Freqtrade's own clean stop after the runner died
LINGER_S = 3.0  # descendants left after Freqtrade exited, before SIGTERM
KILL_GRACE_S = 3.0  # between SIGTERM and SIGKILL of descendants
FORWARDED = (signal.SIGINT, signal.SIGTERM)


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(option, value, 0, 0, 0)) == 0


def become_subreaper() -> bool:
    """Make this process the subreaper of its future descendants; False where unsupported."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies (even by SIGKILL)."""
    if not _prctl(PR_SET_PDEATHSIG, signum):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signum)


def exit_code(status: int) -> int:
    """Shell convention for a wait status: the exit code, or 128 + N when killed by N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


class Supervisor:
    """Watches one Freqtrade process and everything it starts (see the module docstring)."""

    def __init__(self, main_pid: int, lifeline_fd: int) -> None:
        self.main_pid = main_pid
        self.lifeline_fd = lifeline_fd
        self.main_status: int | None = None
        self._wake_r, wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, _ignore)
        for sig in FORWARDED:
            signal.signal(sig, self._forward)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if self.main_status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.main_pid, signum)

    # -- WAITING --------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until Freqtrade and all its descendants are gone; return its exit code."""
        runner_gone = False
        while self.main_status is None and not runner_gone:
            readable, _, _ = select.select([self.lifeline_fd, self._wake_r], [], [])
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 512)
            self._reap()
            if self.lifeline_fd in readable and not os.read(self.lifeline_fd, 1):
                runner_gone = True
        if runner_gone and self.main_status is None:
            self._signal([self.main_pid], signal.SIGTERM)
            self._wait_main(TERM_GRACE_S)
            self._stop_descendants(linger=0.0)
        else:
            self._stop_descendants(linger=LINGER_S)
        if self.main_status is None:  # only when SIGKILL could not end it (never seen)
            return 137
        return exit_code(self.main_status)

    def _reap(self) -> None:
        """Collect every exited child (re-parented orphans too), noting Freqtrade's status."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.main_pid:
                self.main_status = status

    def _wait_main(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.main_status is None and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)

    # -- STOPPING -------------------------------------------------------------------------

    def descendants(self) -> list[int]:
        """Live processes below the supervisor (as subreaper, orphans included)."""
        import psutil

        found: list[int] = []
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if child.status() != psutil.STATUS_ZOMBIE:
                        found.append(child.pid)
        return found

    def _wait_descendants(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            self._reap()
            if not self.descendants():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _stop_descendants(self, *, linger: float) -> None:
        if self._wait_descendants(linger):
            return
        self._signal(self.descendants(), signal.SIGTERM)
        if self._wait_descendants(KILL_GRACE_S):
            return
        # SIGKILL until none is left: a process may fork while the others are being killed.
        for _ in range(100):
            self._signal(self.descendants(), signal.SIGKILL)
            if self._wait_descendants(0.1):
                return

    @staticmethod
    def _signal(pids: list[int], signum: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """SIGCHLD needs a handler (not SIG_IGN, which would auto-reap and hide exit codes)."""
