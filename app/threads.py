"""Start the project's helper threads so that signals always reach the main thread.

The kernel delivers a process-directed signal (Ctrl-C, ``kill PID``, a child's
SIGCHLD) to any thread that does not block it. Python runs every handler in the main
thread, but only the thread that *received* the signal has its blocking call
interrupted: a SIGINT that lands in a heartbeat thread leaves the main thread asleep in
``time.sleep`` or ``waitpid`` until that call returns on its own. Linux prefers the main
thread, but not when it already has a signal pending and is not running, so this is rare
and load-dependent: a runner that would ignore Ctrl-C for its whole hold time.

:func:`start_thread` starts a thread with those signals blocked, so the main thread is
the only one that can receive them. Threads the helper thread starts (an HTTP server's
request threads) inherit the blocked set. Every ``threading.Thread`` of ``app/`` is
started through it.
"""

from __future__ import annotations

import signal
import threading

# The signals the project handles or forwards (runner, supervisor, drills, sweeps).
# Synchronous faults (SIGSEGV, SIGFPE ...) go to the faulting thread whatever the mask,
# and SIGKILL/SIGSTOP cannot be blocked.
HANDLED_SIGNALS = frozenset(
    {
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGCHLD,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGALRM,
    }
)


def start_thread(thread: threading.Thread) -> None:
    """Start ``thread`` with :data:`HANDLED_SIGNALS` blocked in it.

    A new thread inherits the mask of the thread that creates it: the caller's mask is
    widened for the ``start()`` call only and restored afterwards, even if starting
    fails (``RuntimeError`` from ``start()`` propagates).
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
