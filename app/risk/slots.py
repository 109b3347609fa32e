"""Concurrency slots for backtests and hyperopt: lock files in ``<RISK_STATE_DIR>/running/``.

One file per running run, ``<kind>_<epoch>_<pid>_<correlation>.lock``, holding JSON
``{"pid", "host", "started", "run_id", "kind", "correlation_id"}``. Acquisition counts the
live slots and creates the new file while holding a :mod:`filelock` on
``running/.slots.guard``, so racing processes can never both take the last slot.

A slot is reclaimed (deleted, logged as ``slot_reclaimed``) when its process is gone
(same host: no such pid, or the pid now belongs to a younger process) or when its file
was not refreshed for ``RISK_CONCURRENCY_TTL_SEC``. The holder refreshes the file's mtime
every third of the TTL from a daemon thread (a heartbeat), so a long hyperopt keeps its
slot while a hung or vanished one (e.g. on another host sharing the folder) loses it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock, Timeout

from app.errors import TradingBotError
from app.logs import Event, get_logger, log_event
from app.risk import metrics

GUARD_FILE = ".slots.guard"
GUARD_TIMEOUT_S = 30.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_log = get_logger("risk.slots")


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


@dataclass(frozen=True)
class SlotHolder:
    """What a lock file says about its owner."""

    path: Path
    pid: int | None
    host: str | None
    started: float | None
    run_id: str | None


class SlotManager:
    """Takes and releases slots in ``state_dir/running``."""

    def __init__(self, state_dir: Path, *, limit: int, ttl_sec: int) -> None:
        self.folder = state_dir / "running"
        self.limit = limit
        self.ttl_sec = ttl_sec
        self.host = socket.gethostname()

    # -- ACQUIRE / RELEASE ------------------------------------------------------------------

    def acquire(self, *, kind: str, run_id: str, correlation_id: str) -> tuple[Slot | None, int]:
        """Take a slot; return ``(slot, live_count)``, slot None when all are taken.

        The lock file is written even when the limit is 0 (unlimited), so the operator sees
        what runs.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with FileLock(self.folder / GUARD_FILE, timeout=GUARD_TIMEOUT_S):
                live = self._live_slots(correlation_id)
                if self.limit and len(live) >= self.limit:
                    return None, len(live)
                slot = self._create(kind, run_id, correlation_id)
        except Timeout:
            raise SlotError(
                f"slot guard {self.folder / GUARD_FILE} is held by another process for more than "
                f"{GUARD_TIMEOUT_S:.0f} s; find it (e.g. `lsof {self.folder / GUARD_FILE}`)"
            ) from None
        except OSError as exc:
            raise SlotError(
                f"cannot use the slot folder {self.folder} ({exc}); check RISK_STATE_DIR and its "
                "permissions"
            ) from None
        return slot, len(live) + 1

    def release(self, slot: Slot) -> None:
        """Delete the slot's lock file (missing is fine: it may have been reclaimed)."""
        slot.path.unlink(missing_ok=True)

    def _create(self, kind: str, run_id: str, correlation_id: str) -> Slot:
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
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(content) + "\n", encoding="utf-8")
        tmp.replace(path)
        return Slot(path, kind, run_id, correlation_id)

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
            pid if isinstance(pid, int) else None,
            str(data.get("host")) if data.get("host") else None,
            float(started) if isinstance(started, int | float) else None,
            str(data.get("run_id")) if data.get("run_id") else None,
        )

    def _live_slots(self, correlation_id: str) -> list[SlotHolder]:
        live: list[SlotHolder] = []
        now = time.time()
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
        if age > self.ttl_sec:
            return f"no heartbeat for {age:.0f} s (RISK_CONCURRENCY_TTL_SEC={self.ttl_sec})"
        if holder.pid is None or holder.host != self.host:
            # Unparsable, or another machine's: only the TTL can tell it is dead.
            return None
        return _process_gone(holder.pid, holder.started)


def _process_gone(pid: int, started: float | None) -> str | None:
    """Why the slot's process no longer runs on this host, or None while it does."""
    try:
        process = psutil.Process(pid)
        created = process.create_time()
        if process.status() == psutil.STATUS_ZOMBIE:
            return f"process {pid} has exited (zombie)"
    except psutil.NoSuchProcess:
        return f"process {pid} is not running"
    except psutil.Error:
        return None  # e.g. access denied: it exists
    if started is not None and created > started + 1.0:
        return f"pid {pid} now belongs to a process started after the slot"
    return None


class Heartbeat:
    """Refreshes a slot file's mtime every ``interval`` seconds until stopped."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slot-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
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
