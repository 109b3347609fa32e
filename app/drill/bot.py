"""One start of the drill's bot: the guarded runner with Freqtrade as its child.

``kill`` is a crash: SIGKILL to the Freqtrade process (the runner sees its child die and
records the run). ``stop`` is an orderly stop: SIGTERM to the runner, as ``docker stop``
sends it, which the runner forwards to Freqtrade. The runner runs in its own process group,
so a Ctrl-C meant for the drill reaches the drill only, which then stops the bot in order.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from app.drill.botconfig import ApiAccess

# Freqtrade needs a few CPU seconds to stop; on a saturated machine that is minutes.
STOP_TIMEOUT_S = 300.0
KILL_WAIT_S = 120.0


@dataclass
class BotLife:
    """What happened to one start of the bot (epoch ms)."""

    index: int
    pid: int
    started_ms: int
    ended_ms: int | None = None
    returncode: int | None = None
    stopped_by: str | None = None  # the action (or "drill end") that ended it; None: itself


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class BotProcess:
    """A running bot; its output (runner, guard JSON lines, Freqtrade) goes to ``log_path``."""

    def __init__(
        self,
        index: int,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log_path: Path,
        api: ApiAccess,
    ) -> None:
        self.log_path = log_path
        self.api = api
        self._log: IO[bytes] = log_path.open("ab")
        self._proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        self.life = BotLife(index, self._proc.pid, now_ms())

    def poll(self) -> int | None:
        """The runner's exit code once it ended (recorded in ``life``), else None."""
        code = self._proc.poll()
        if code is not None and self.life.ended_ms is None:
            self.life.ended_ms = now_ms()
            self.life.returncode = 128 - code if code < 0 else code
            self._log.close()
        return code

    @property
    def alive(self) -> bool:
        return self.poll() is None

    def freqtrade_pid(self) -> int | None:
        """The Freqtrade process (the runner's child), if it is there."""
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(self._proc.pid).children()
            if children:
                return int(children[0].pid)
        return None

    def _wait(self, timeout: float) -> bool:
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        self.poll()
        return True

    def kill(self, by: str) -> None:
        """SIGKILL Freqtrade (the runner itself if Freqtrade is not started yet); wait for
        the runner to record the crash and exit."""
        self.life.stopped_by = by
        target = self.freqtrade_pid() or self._proc.pid
        with contextlib.suppress(ProcessLookupError):
            psutil.Process(target).send_signal(signal.SIGKILL)
        if not self._wait(KILL_WAIT_S):
            self._proc.kill()
            self._wait(KILL_WAIT_S)

    def stop(self, by: str) -> bool:
        """SIGTERM to the runner; True when it ended within the timeout (else SIGKILL)."""
        if not self.alive:
            return True
        self.life.stopped_by = by
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGTERM)
        if self._wait(STOP_TIMEOUT_S):
            return True
        self._proc.kill()  # PDEATHSIG then stops Freqtrade too
        self._wait(KILL_WAIT_S)
        return False

    def describe(self) -> dict[str, Any]:
        life = self.life
        return {
            "index": life.index,
            "pid": life.pid,
            "exit_code": life.returncode,
            "stopped_by": life.stopped_by,
            "log": str(self.log_path),
        }
