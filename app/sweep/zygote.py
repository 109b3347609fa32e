"""Warm starts: a pre-loaded Freqtrade process that forks one child per job.

Importing Freqtrade costs seconds. A Dask worker therefore keeps one *zygote*: a plain,
single-threaded interpreter (``python -m app.sweep.zygote``) started with ``subprocess``
(never a fork of the multi-threaded Dask worker itself) that imports Freqtrade, the
project's strategy base and the hyperopt machinery once, then waits for orders on its
stdin. For each order it forks: the child starts a new session (its own process group),
moves into the job's folder, sends its output to the job's file, takes the job's
environment and calls Freqtrade's own entry point; the zygote replies with the child's
pid, waits for it and replies with its exit code. The child starts from the zygote's
pristine state, so no job sees another's leftovers, and it is a process of its own: a job
that crashes (even a segfault or ``os._exit``) ends only itself.

The zygote is a child subreaper: whatever a job starts (hyperopt's worker processes)
stays below it, and after every job the zygote kills what is left of the job's process
tree. If the Dask worker dies, the zygote gets SIGTERM (Linux parent-death signal), kills
the running job's tree and exits; a job gets SIGKILL if the zygote dies.

Protocol (JSON lines): zygote -> ``{"ready": pid}``; worker -> ``{"argv", "env", "cwd",
"output"}``; zygote -> ``{"pid": N}`` then ``{"exit": code}`` (128 + N for signal N).
:class:`Zygote` is the worker's side.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import psutil

# Beyond the runner's per-command preloads: what a backtest or hyperopt of the project's
# strategies imports before its first candle (strategy base, TA-Lib, ccxt, optuna).
WARM_MODULES = (
    "freqtrade.main", "freqtrade.commands", "freqtrade.commands.optimize_commands",
    "freqtrade.optimize.backtesting", "freqtrade.optimize.hyperopt",
    "freqtrade.optimize.hyperopt_loss.hyperopt_loss_interface", "freqtrade.exchange",
    "freqtrade.resolvers", "freqtrade.data.history", "freqtrade.persistence", "ccxt",
    "ccxt.async_support", "optuna", "talib", "pandas", "app.strategies", "app.strategies.base",
    "app.strategies.toolkit", "app.risk.runtime",
)  # fmt: skip
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_REAP_WAIT_SEC = 5.0  # for killed job processes to end
_KILL_GRACE_SEC = 5.0


def _prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value)


def _kill_tree(root_pid: int) -> None:
    """SIGKILL the job's process group and every remaining descendant of this process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root_pid, signal.SIGKILL)
    killed = psutil.Process().children(recursive=True)
    for proc in killed:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    # SIGKILL takes effect asynchronously: wait for (and reap, as their subreaper) every
    # killed process, so no zombie of this job is left for the next one to find.
    psutil.wait_procs(killed, timeout=_REAP_WAIT_SEC)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


# -- THE ZYGOTE PROCESS ----------------------------------------------------------------------


def preload() -> None:
    """Import what every job needs; a module that is missing just loads later."""
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def _child(order: dict[str, Any]) -> None:
    """In the forked child: become the job and never return."""
    code = 70
    try:
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(order["cwd"])
        out = os.open(order["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, 65536)  # the control pipe and anything the preload opened
        os.environ.clear()
        os.environ.update(order["env"])
        import numpy as np

        np.random.seed(int.from_bytes(os.urandom(4), "little"))  # as a fresh process would
        argv: list[str] = order["argv"]
        sys.argv = ["freqtrade", *argv]
        from freqtrade.main import main as freqtrade_main

        try:
            freqtrade_main(argv)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        import atexit
        import threading

        # The interpreter's own exit order: threading's hooks first (they stop hyperopt's
        # worker pool: loky registers there), then atexit's (the guard's summary,
        # multiprocessing's joins, logging's flush). Module teardown is skipped.
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001  # the child must end here, whatever happened
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(orders: IO[str], replies: IO[str]) -> None:
    """Answer orders until stdin closes (see the module docstring)."""
    running: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        for pid in running:
            _kill_tree(pid)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the worker, not jobs
    replies.write(json.dumps({"ready": os.getpid()}) + "\n")
    replies.flush()
    for line in orders:
        if not line.strip():
            continue
        order = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(order)
        running.append(pid)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        _kill_tree(pid)
        running.remove(pid)
        replies.write(json.dumps({"exit": 128 - code if code < 0 else code}) + "\n")
        replies.flush()


def main() -> int:
    parent, warm = int(sys.argv[1]), sys.argv[2] == "1"
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    if os.getppid() != parent:  # the worker died before prctl took effect
        return 0
    if warm:
        preload()
    serve(sys.stdin, sys.stdout)
    return 0


# -- THE WORKER'S SIDE -----------------------------------------------------------------------


class ZygoteError(RuntimeError):
    """The zygote died or broke the protocol; the worker starts a new one for the next job."""


class Zygote:
    """A zygote process and its pipes. One job at a time (the caller serialises)."""

    def __init__(self, *, warm: bool = True, log_file: Path | None = None) -> None:
        log = log_file.open("ab") if log_file else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.sweep.zygote", str(os.getpid()), "1" if warm else "0"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                process_group=0,  # a terminal's Ctrl-C reaches the worker only
            )
        finally:
            if log_file:
                log.close()  # type: ignore[union-attr]
        self._buffer = ""
        self.started = time.monotonic()
        self.ready_pid: int | None = None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _reply(self, timeout: float | None) -> dict[str, Any] | None:
        """The next reply, or None when none came within ``timeout`` seconds."""
        assert self.proc.stdout is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while "\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 65536).decode()
            if not chunk:
                raise ZygoteError(f"the zygote (pid {self.proc.pid}) exited: {self.proc.wait()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split("\n", 1)
        reply: dict[str, Any] = json.loads(line)
        return reply

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Block until the zygote has imported everything."""
        if self.ready_pid is None:
            reply = self._reply(timeout)
            if reply is None or "ready" not in reply:
                raise ZygoteError(f"the zygote did not get ready in {timeout:.0f} s: {reply}")
            self.ready_pid = int(reply["ready"])

    def start(self, argv: list[str], env: dict[str, str], cwd: Path, output: Path) -> int:
        """Fork a job; return its pid."""
        self.wait_ready()
        assert self.proc.stdin is not None
        order = {"argv": argv, "env": env, "cwd": str(cwd), "output": str(output)}
        try:
            self.proc.stdin.write(json.dumps(order) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise ZygoteError(f"the zygote (pid {self.proc.pid}) is gone") from exc
        reply = self._reply(60.0)
        if reply is None or "pid" not in reply:
            raise ZygoteError(f"the zygote did not start the job: {reply}")
        return int(reply["pid"])

    def wait(self, timeout: float) -> int | None:
        """The job's exit code, or None while it runs after ``timeout`` seconds."""
        reply = self._reply(timeout)
        if reply is None:
            return None
        if "exit" not in reply:
            raise ZygoteError(f"unexpected reply from the zygote: {reply}")
        return int(reply["exit"])

    @staticmethod
    def kill_job(pid: int, sig: int = signal.SIGTERM) -> None:
        """Signal the job's whole process group (the zygote reaps and cleans up)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def close(self) -> None:
        """End the zygote (and any job it runs)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(_KILL_GRACE_SEC)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


if __name__ == "__main__":
    raise SystemExit(main())
