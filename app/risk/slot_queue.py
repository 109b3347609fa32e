"""The queue of runs waiting for a backtest slot: ticket files in ``running/queue/``.

A waiting run holds one ticket ``<seq>_<pid>_<correlation>.ticket`` (JSON ``{"pid",
"host", "started_epoch", "run_id", "correlation_id"}``). Tickets are created under the
slot guard (``running/.slots.guard``) with a sequence number one above the highest
ticket present, so their order is the order of arrival; a run gets a slot only when the
free slots outnumber the live tickets ahead of its own.

A waiter touches its ticket on every poll. A ticket is skipped (deleted) when its waiter
is gone: on this host its pid no longer runs (or was reused); from another host, or
unparsable, when it was not touched for ``RISK_CONCURRENCY_TTL_SEC``. The waiter deletes
its ticket when it gets a slot, gives up, or is interrupted (Ctrl-C: exit 130).

All methods except :meth:`SlotQueue.leave` and :meth:`SlotQueue.touch` must be called
under the slot guard.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.logs import Event, get_logger, log_event
from app.processes import process_gone

POLL_S = 0.5
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_log = get_logger("risk.slots")


@dataclass(frozen=True)
class Ticket:
    """One waiting run's place in the queue."""

    path: Path
    seq: int


def _seq(path: Path) -> int | None:
    head = path.name.split("_", 1)[0]
    return int(head) if head.isdigit() else None


class SlotQueue:
    """Tickets of the runs waiting for a slot, oldest first."""

    def __init__(self, folder: Path, *, host: str, ttl_sec: int) -> None:
        self.folder = folder
        self.host = host
        self.ttl_sec = ttl_sec

    def _tickets(self) -> list[Ticket]:
        found = [(seq, path) for path in self.folder.glob("*.ticket") if (seq := _seq(path))]
        return [Ticket(path, seq) for seq, path in sorted(found)]

    def enqueue(self, run_id: str, correlation_id: str) -> Ticket:
        """A new ticket behind every present one (call under the guard)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        seq = max((t.seq for t in self._tickets()), default=0) + 1
        safe = _UNSAFE.sub("-", correlation_id)[:80] or "none"
        path = self.folder / f"{seq:012d}_{os.getpid()}_{safe}.ticket"
        content = {
            "pid": os.getpid(),
            "host": self.host,
            "started_epoch": time.time(),
            "run_id": run_id,
            "correlation_id": correlation_id,
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(content) + "\n", encoding="utf-8")
        tmp.replace(path)
        return Ticket(path, seq)

    def touch(self, ticket: Ticket) -> None:
        """Show that the waiter still waits."""
        with contextlib.suppress(FileNotFoundError):  # skipped: our place is still our seq
            os.utime(ticket.path)

    def leave(self, ticket: Ticket) -> None:
        """Delete the ticket (got a slot, gave up, or interrupted)."""
        ticket.path.unlink(missing_ok=True)

    def live_tickets(self, correlation_id: str) -> list[Ticket]:
        """Tickets of live waiters in arrival order; dead waiters' tickets are deleted."""
        if not self.folder.is_dir():
            return []
        live: list[Ticket] = []
        now = time.time()
        for ticket in self._tickets():
            why = self._dead_reason(ticket, now)
            if why is None:
                live.append(ticket)
                continue
            ticket.path.unlink(missing_ok=True)
            log_event(
                _log,
                logging.WARNING,
                Event.SLOT_TICKET_SKIPPED,
                correlation_id=correlation_id,
                ticket=str(ticket.path),
                why=why,
            )
        return live

    def _dead_reason(self, ticket: Ticket, now: float) -> str | None:
        try:
            # lstat: a ticket that is a symlink loop has an age too (stat would fail first).
            age = now - ticket.path.lstat().st_mtime
            data: Any = json.loads(ticket.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return "ticket vanished"
        except (OSError, ValueError):
            data = None
        pid = data.get("pid") if isinstance(data, dict) else None
        host = data.get("host") if isinstance(data, dict) else None
        if isinstance(pid, int) and host == self.host:
            started = data.get("started_epoch")
            return process_gone(pid, started if isinstance(started, int | float) else None)
        if age > self.ttl_sec:
            return f"not refreshed for {age:.0f} s (RISK_CONCURRENCY_TTL_SEC={self.ttl_sec})"
        return None
