"""The state-folder sources: the circuit breaker file and the backtest slots.

Both only read: the breaker through :func:`app.circuit_breaker.read_breaker` (an
unreadable file counts as active, fail closed, and the source shows down so the cause is
visible), the slots by listing ``<RISK_STATE_DIR>/running/*.lock`` and their ages. A
slot whose file was not refreshed within ``RISK_CONCURRENCY_TTL_SEC`` is orphaned (the
next run that takes a slot reclaims it) and is not counted as in use; the exporter never
deletes it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from app.circuit_breaker import BreakerStatus, read_breaker
from app.exporter.catalog import Batch
from app.exporter.collector import SourceError


class BreakerSource:
    """``tradingbot_circuit_breaker_active`` and its end time."""

    name = "breaker"

    def __init__(self, file: Path) -> None:
        self.file = file

    def collect(self, batch: Batch, now: float) -> None:
        """Read the breaker file at ``now``."""
        state = read_breaker(self.file, datetime.fromtimestamp(now, UTC))
        batch.add("tradingbot_circuit_breaker_active", 1.0 if state.active else 0.0)
        ends = state.status is BreakerStatus.ACTIVE and state.until is not None
        until = state.until.timestamp() if ends and state.until is not None else 0.0
        batch.add("tradingbot_circuit_breaker_until_timestamp_seconds", until)
        if state.status is BreakerStatus.UNREADABLE:
            raise SourceError(state.describe())


class SlotsSource:
    """Slots in use (live lock files) and the configured limit."""

    name = "slots"

    def __init__(self, folder: Path, *, limit: int, ttl_sec: int) -> None:
        self.folder = folder
        self.limit = limit
        self.ttl_sec = ttl_sec

    def collect(self, batch: Batch, now: float) -> None:
        """Count the lock files refreshed within the TTL."""
        batch.add("tradingbot_backtest_slots_limit", float(self.limit))
        in_use = 0
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    if not entry.name.endswith(".lock"):
                        continue
                    try:
                        age = now - entry.stat().st_mtime
                    except FileNotFoundError:
                        continue  # released while we looked
                    in_use += age <= self.ttl_sec
        except FileNotFoundError:
            pass  # no run has taken a slot yet
        except OSError as exc:
            raise SourceError(f"cannot list the slot folder {self.folder}: {exc}") from None
        batch.add("tradingbot_backtest_slots_in_use", float(in_use))
