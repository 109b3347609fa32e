"""Concurrency slots for backtests and hyperopt: lock files in ``<RISK_STATE_DIR>/running/``.

One file per running run, ``<kind>_<epoch>_<pid>_<correlation>.lock``, holding JSON
``{"pid", "host", "started", "started_epoch", "run_id", "kind", "correlation_id",
"supervisor_pid", "process_group", "process_tag"}``. Acquisition counts the live slots
and creates the new file while holding a :mod:`filelock` on ``running/.slots.guard``,
so racing processes can never both take the last slot.

**Never reclaimed while a process of its run lives.** On this host a slot is live while
its runner's pid runs (the same process, not a reused pid) or while any process carries
the run's process tag (``app/processes.py``): an orphaned hyperopt worker keeps the slot,
and the refusal names its pids. Only when all are gone is the slot reclaimed (deleted,
logged as ``slot_reclaimed``). A lock file of another host, or an unparsable one, is
reclaimed when it was not refreshed for ``RISK_CONCURRENCY_TTL_SEC``: the holder
refreshes its file's mtime every third of the TTL from a daemon thread (a heartbeat).

**Waiting.** A run may wait for a slot (``tradingbot freqtrade --wait-for-slot``, the
sweep): first come, first served, through tickets in ``running/queue/`` (see
``slot_queue.py``). A run that does not wait is refused while others wait, so it never
overtakes them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from app.errors import TradingBotError
from app.logs import Event, get_logger, log_event
from app.processes import RunProcesses, process_gone, tagged_processes
from app.risk import metrics
from app.risk.slot_queue import POLL_S, SlotQueue, Ticket
from app.threads import start_thread

GUARD_FILE = ".slots.guard"
GUARD_TIMEOUT_S = 30.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_log = get_logger("risk.slots")

# Called while waiting: (runs ahead in the queue, seconds left).
WaitCallback = Callable[[int, float], None]


class SlotError(TradingBotError):
    """The slot folder could not be used (permissions, a lock held too long). Fix and retry."""

    exit_code = 1


@dataclass(frozen=True)
class Slot:
    """A held slot."""

    path: Path
    kind: str
    run_id: str
    correlation_id: str
    waited_sec: float = 0.0


@dataclass(frozen=True)
class SlotHolder:
    """What a lock file says about its owner."""

    path: Path
    pid: int | None
    host: str | None
    started: float | None
    run_id: str | None
    process_tag: str | None = None


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return str(value) if value else None


class SlotManager:
    """Takes and releases slots in ``state_dir/running``."""

    def __init__(
        self,
        state_dir: Path,
        *,
        limit: int,
        ttl_sec: int,
        guard_timeout_s: float = GUARD_TIMEOUT_S,
    ) -> None:
        self.folder = state_dir / "running"
        self.limit = limit
        self.ttl_sec = ttl_sec
        # How long to wait for another process's guard before SlotError (tests set it small).
        self.guard_timeout_s = guard_timeout_s
        self.host = socket.gethostname()
        self.queue = SlotQueue(self.folder / "queue", host=self.host, ttl_sec=ttl_sec)
        # Slots kept only by processes whose runner is gone: lock file -> their pids.
        self.orphans: dict[Path, list[int]] = {}

    # -- ACQUIRE / RELEASE ------------------------------------------------------------------

    def acquire(
        self,
        *,
        kind: str,
        run_id: str,
        correlation_id: str,
        processes: RunProcesses | None = None,
        wait_sec: float = 0.0,
        on_wait: WaitCallback | None = None,
    ) -> tuple[Slot | None, int]:
        """Take a slot; return ``(slot, live_count)``, slot None when all are taken.

        With ``wait_sec`` > 0 the run queues for up to that long, first come first served,
        calling ``on_wait(ahead, seconds_left)`` about every :data:`POLL_S`. The lock file
        is written even when the limit is 0 (unlimited), so the operator sees what runs.
        """
        started = time.monotonic()
        ticket: Ticket | None = None
        try:
            while True:
                with self._guard():
                    live = self._live_slots(correlation_id)
                    waiting = self.queue.live_tickets(correlation_id)
                    ahead = sum(1 for t in waiting if ticket is None or t.seq < ticket.seq)
                    free = self.limit - len(live) if self.limit else ahead + 1
                    if free > ahead:
                        waited = time.monotonic() - started
                        slot = self._create(kind, run_id, correlation_id, processes, waited)
                        return slot, len(live) + 1
                    left = wait_sec - (time.monotonic() - started)
                    if left <= 0:
                        return None, len(live)
                    if ticket is None:
                        ticket = self.queue.enqueue(run_id, correlation_id)
                    else:
                        self.queue.touch(ticket)
                if on_wait is not None:
                    on_wait(ahead, left)
                time.sleep(min(POLL_S, max(left, 0.01)))
        finally:
            if ticket is not None:
                self.queue.leave(ticket)

    def release(self, slot: Slot) -> None:
        """Delete the slot's lock file (missing is fine: it may have been reclaimed)."""
        slot.path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Hold ``running/.slots.guard``; folder problems become :class:`SlotError`."""
        guard = self.folder / GUARD_FILE
        fix = "check RISK_STATE_DIR and its permissions"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(guard, timeout=self.guard_timeout_s)
            lock.acquire()
        except Timeout:
            raise SlotError(
                f"slot guard {guard} is held by another process for more than "
                f"{self.guard_timeout_s:g} s; find it (e.g. `lsof {guard}`)"
            ) from None
        except OSError as exc:
            raise SlotError(f"cannot use the slot folder {self.folder} ({exc}); {fix}") from None
        try:
            yield
        except OSError as exc:
            raise SlotError(f"cannot use the slot folder {self.folder} ({exc}); {fix}") from None
        finally:
            lock.release()

    def _create(
        self,
        kind: str,
        run_id: str,
        correlation_id: str,
        processes: RunProcesses | None,
        waited: float,
    ) -> Slot:
        started = time.time()
        safe_correlation = _UNSAFE.sub("-", correlation_id)[:80] or "none"
        name = f"{_UNSAFE.sub('-', kind)}_{int(started)}_{os.getpid()}_{safe_correlation}.lock"
        path = self.folder / name
        content = {
            "pid": os.getpid(),
            "host": self.host,
            "started": datetime.fromtimestamp(started, tz=UTC).isoformat(),
            "started_epoch": started,
            "run_id": run_id,
            "kind": kind,
            "correlation_id": correlation_id,
            "supervisor_pid": processes.supervisor_pid if processes else None,
            "process_group": processes.process_group if processes else None,
            "process_tag": processes.tag if processes else None,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(content) + "\n", encoding="utf-8")
        tmp.replace(path)
        return Slot(path, kind, run_id, correlation_id, waited)

    # -- WHO HOLDS A SLOT -------------------------------------------------------------------

    def holders(self) -> list[SlotHolder]:
        """Every lock file, parsed as far as possible (for status displays)."""
        return [self._read(path) for path in sorted(self.folder.glob("*.lock"))]

    def _read(self, path: Path) -> SlotHolder:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict):
            return SlotHolder(path, None, None, None, None)
        pid = data.get("pid")
        started = data.get("started_epoch")
        return SlotHolder(
            path,
            pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            _text(data, "host"),
            float(started) if isinstance(started, int | float) else None,
            _text(data, "run_id"),
            _text(data, "process_tag"),
        )

    def _live_slots(self, correlation_id: str) -> list[SlotHolder]:
        live: list[SlotHolder] = []
        now = time.time()
        self.orphans = {}
        for path in sorted(self.folder.glob("*.lock")):
            holder = self._read(path)
            why = self._stale_reason(holder, now)
            if why is None:
                live.append(holder)
                continue
            path.unlink(missing_ok=True)
            metrics.SLOTS_RECLAIMED.inc()
            log_event(
                _log,
                logging.WARNING,
                Event.SLOT_RECLAIMED,
                correlation_id=correlation_id,
                lock_file=str(path),
                holder_pid=holder.pid,
                holder_host=holder.host,
                holder_run_id=holder.run_id,
                why=why,
            )
        return live

    def _stale_reason(self, holder: SlotHolder, now: float) -> str | None:
        try:
            age = now - holder.path.stat().st_mtime
        except FileNotFoundError:
            return "lock file vanished"
        except OSError:  # e.g. a symlink loop: judge the link's own age, as unparsable
            age = now - holder.path.lstat().st_mtime
        if holder.pid is None or holder.host != self.host:
            # Unparsable, or another machine's: only the TTL can tell it is dead.
            if age > self.ttl_sec:
                return f"no heartbeat for {age:.0f} s (RISK_CONCURRENCY_TTL_SEC={self.ttl_sec})"
            return None
        gone = process_gone(holder.pid, holder.started)
        if gone is None:
            return None  # the runner lives (however long since its heartbeat)
        survivors = tagged_processes(holder.process_tag or "")
        if survivors:
            self.orphans[holder.path] = survivors
            log_event(
                _log,
                logging.WARNING,
                Event.SLOT_HELD_BY_ORPHANS,
                lock_file=str(holder.path),
                holder_pid=holder.pid,
                holder_run_id=holder.run_id,
                pids=survivors,
            )
            return None
        return gone

    def describe_orphans(self) -> str:
        """A sentence naming slots kept by processes whose runner is gone, or ''."""
        if not self.orphans:
            return ""
        parts = [
            f"{path.name}: pids {', '.join(str(p) for p in pids)}"
            for path, pids in sorted(self.orphans.items())
        ]
        return (
            "; slots kept by processes of runs whose runner is gone ("
            + "; ".join(parts)
            + "): stop them (kill PID) to free the slots"
        )


class Heartbeat:
    """Refreshes a slot file's mtime every ``interval`` seconds until stopped."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slot-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        start_thread(self._thread)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return  # reclaimed by someone else; nothing to keep alive
            except OSError:
                continue
