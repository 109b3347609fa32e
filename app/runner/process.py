"""Run Freqtrade as a child process and forward SIGINT/SIGTERM to it exactly once each.

The child gets its own process group, so a Ctrl-C in the terminal reaches only the
runner, which forwards it: Freqtrade sees one signal, shuts down cleanly, and the
runner then records the outcome and releases its slot. As PID 1 in a container the
runner also reaps the child.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

FORWARDED = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class ChildOutcome:
    """How the child ended."""

    returncode: int  # shell convention: 128 + N when killed by signal N
    signal_received: int | None  # a signal the runner received (and forwarded) meanwhile

    @property
    def interrupted(self) -> bool:
        return self.signal_received is not None


@contextlib.contextmanager
def _forwarding(proc: subprocess.Popen[bytes], received: list[int]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_child(argv: Sequence[str], env: Mapping[str, str]) -> ChildOutcome:
    """Start ``argv``, wait for it, and return its outcome; stdout/stderr are inherited."""
    received: list[int] = []
    proc = subprocess.Popen(list(argv), env=dict(env), process_group=0)
    with _forwarding(proc, received):
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:  # only if SIGINT arrived before our handler was set
                received.append(signal.SIGINT)
                proc.send_signal(signal.SIGINT)
    returncode = 128 - code if code < 0 else code
    return ChildOutcome(returncode, received[0] if received else None)
