"""The Freqtrade child process: started early, run on the runner's word, signals forwarded.

:class:`FreqtradeChild` starts ``app.runner.freqtrade_child`` at once, so Freqtrade's
slow imports overlap with the runner's own work (configuration, registry, gates,
offline exchange). :meth:`FreqtradeChild.run` then hands it the final arguments and
waits; :meth:`FreqtradeChild.abort` (or leaving the ``with`` block) ends it without
running anything.

The child gets its own process group, so a Ctrl-C in the terminal reaches only the
runner, which forwards it: Freqtrade sees one signal, shuts down cleanly, and the
runner then records the outcome and releases its slot. As PID 1 in a container the
runner also reaps the child.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType, TracebackType

FORWARDED = (signal.SIGINT, signal.SIGTERM)
# Variables of a test runner that would make Freqtrade skip its own logging set-up.
_STRIPPED_ENV = ("PYTEST_VERSION", "PYTEST_CURRENT_TEST")


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the Freqtrade child starts with."""
    return {k: v for k, v in environ.items() if k not in _STRIPPED_ENV}


class Interrupted(BaseException):
    """SIGINT/SIGTERM reached the runner while Freqtrade was not running (yet)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


def raise_on_signals() -> None:
    """Turn SIGINT/SIGTERM into :class:`Interrupted`, so that cleanup code runs.

    Without this, SIGTERM (``docker stop``) would kill the runner outright and leave its
    run "running" and its slot taken. While Freqtrade runs, the signals are forwarded to
    it instead (see :meth:`FreqtradeChild.run`).
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    for sig in FORWARDED:
        signal.signal(sig, interrupt)


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


class FreqtradeChild:
    """A Freqtrade interpreter that imports now and runs only when told to."""

    def __init__(
        self, command: str, env: Mapping[str, str], *, stdout_to_stderr: bool = False
    ) -> None:
        read_fd, self._orders = os.pipe()
        try:
            self._proc: subprocess.Popen[bytes] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.runner.freqtrade_child",
                    command,
                    str(read_fd),
                    str(os.getpid()),
                ],
                env=dict(env),
                pass_fds=(read_fd,),
                process_group=0,
                # Keeps stdout for a caller's machine-readable output (e.g. --json).
                stdout=sys.stderr.fileno() if stdout_to_stderr else None,
            )
        finally:
            os.close(read_fd)
        self._ordered = False

    def _order(self, order: Mapping[str, object]) -> None:
        if self._ordered:
            return
        self._ordered = True
        with contextlib.suppress(BrokenPipeError), os.fdopen(self._orders, "w") as pipe:
            pipe.write(json.dumps(order) + "\n")

    def run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
    ) -> ChildOutcome:
        """Run Freqtrade with ``argv`` and wait for it, forwarding SIGINT/SIGTERM."""
        received: list[int] = []
        with _forwarding(self._proc, received):
            self._order(
                {"run": True, "argv": list(argv), "env": dict(env or {}), "unset": list(unset)}
            )
            code = self._proc.wait()
        returncode = 128 - code if code < 0 else code
        return ChildOutcome(returncode, received[0] if received else None)

    def abort(self) -> None:
        """End the child without running Freqtrade.

        It has only been importing modules, so it is stopped at once instead of being
        left to finish imports it will never use.
        """
        self._ordered = True
        os.close(self._orders)
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait()

    def __enter__(self) -> FreqtradeChild:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._ordered:
            self.abort()
