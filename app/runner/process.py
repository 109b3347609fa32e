"""The Freqtrade child process: started early, run on the runner's word, signals forwarded.

:class:`FreqtradeChild` starts ``app.runner.freqtrade_child`` at once, so Freqtrade's
slow imports overlap with the runner's own work (configuration, registry, gates,
offline exchange). :meth:`FreqtradeChild.run` then hands it the final arguments and
waits; :meth:`FreqtradeChild.abort` (or leaving the ``with`` block) ends it without
running anything.

The child is a supervisor (``app/runner/supervisor.py``) in its own process group,
with Freqtrade below it. A Ctrl-C in the terminal reaches only the runner, which
forwards it once: Freqtrade shuts down cleanly, and the runner then records the
outcome and releases its slot. The runner holds the write end of a *lifeline* pipe:
when the runner dies, even by SIGKILL, the supervisor reads end-of-file and ends every
process of the run. Every process of the run carries the run's process tag in its
environment (``app/processes.py``), so a slot is never reclaimed while one lives.

The child's stdout and stderr reach the runner's own through a redacting pump
(``app/runner/pump.py``); Freqtrade's log records are redacted inside the child, which
also reports errors it saw in a status file (``app/runner/childlog.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

from app.processes import PROCESS_TAG_ENV, RunProcesses
from app.redaction import Redactor
from app.runner.childlog import ChildReport
from app.runner.pump import OutputPump

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
    report: ChildReport = field(default_factory=ChildReport)

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
    """A supervised Freqtrade interpreter that imports now and runs only when told to."""

    def __init__(
        self,
        command: str,
        env: Mapping[str, str],
        *,
        stdout_to_stderr: bool = False,
        redactor: Redactor | None = None,
    ) -> None:
        self.tag = uuid.uuid4().hex
        self.pump = OutputPump.for_runner(
            stdout_to_stderr=stdout_to_stderr,
            redactor=redactor or Redactor.from_sources(env),
        )
        orders_r, self._orders = os.pipe()
        lifeline_r, self._lifeline = os.pipe()
        child_out, child_err = self.pump.child_fds
        try:
            self._proc: subprocess.Popen[bytes] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.runner.freqtrade_child",
                    command,
                    str(orders_r),
                    str(lifeline_r),
                ],
                env={**env, PROCESS_TAG_ENV: self.tag},
                pass_fds=(orders_r, lifeline_r),
                process_group=0,
                stdout=child_out,
                stderr=child_err,
            )
        finally:
            os.close(orders_r)
            os.close(lifeline_r)
            self.pump.start()
        self._ordered = False
        self._ended = False

    @property
    def processes(self) -> RunProcesses:
        """The supervisor, its process group and the tag every process of the run carries."""
        return RunProcesses(self._proc.pid, self._proc.pid, self.tag)

    def set_redactor(self, redactor: Redactor) -> None:
        """Redact the child's output with ``redactor`` from now on (it knows the config)."""
        self.pump.redactor = redactor

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
        secrets: Sequence[str] = (),
    ) -> ChildOutcome:
        """Run Freqtrade with ``argv`` and wait for it (and every process it started),
        forwarding SIGINT/SIGTERM; ``secrets`` are redacted from its log besides the
        environment's."""
        received: list[int] = []
        fd, name = tempfile.mkstemp(prefix="tradingbot-child-", suffix=".json")
        os.close(fd)
        status = Path(name)
        try:
            with _forwarding(self._proc, received):
                self._order(
                    {
                        "run": True,
                        "argv": list(argv),
                        "env": dict(env or {}),
                        "unset": list(unset),
                        "secrets": list(secrets),
                        "status_file": str(status),
                    }
                )
                code = self._proc.wait()
            self._end()
            report = ChildReport.read(status)
        finally:
            status.unlink(missing_ok=True)
            status.with_name(status.name + ".tmp").unlink(missing_ok=True)
        returncode = 128 - code if code < 0 else code
        return ChildOutcome(returncode, received[0] if received else None, report)

    def abort(self) -> None:
        """End the child without running Freqtrade.

        It has only been importing modules, so it is stopped at once instead of being
        left to finish imports it will never use.
        """
        self._ordered = True
        with contextlib.suppress(OSError):
            os.close(self._orders)
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait()
        self._end()

    def _end(self) -> None:
        """The child is gone: let go of the lifeline and finish copying its output."""
        if self._ended:
            return
        self._ended = True
        with contextlib.suppress(OSError):
            os.close(self._lifeline)
        self.pump.close()

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
        elif not self._ended:
            # An exception between the order and the end of the wait: closing the
            # lifeline makes the supervisor stop Freqtrade and everything it started.
            with contextlib.suppress(OSError):
                os.close(self._lifeline)
            self._proc.wait()
            self._end()
