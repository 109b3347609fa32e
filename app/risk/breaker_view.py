"""How the guard sees and trips the circuit breaker: the real file, or an in-memory one.

Live and dry-run use :class:`FileBreakerView` (the file, cached by mtime: one ``stat``
per check). Backtests and hyperopt use :class:`MemoryBreakerView`: the real breaker
already gated the run before it started, and a daily-drawdown trip inside a backtest
must stop that simulated run only, never the operator's live bots.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Protocol

from app.circuit_breaker import (
    BreakerCache,
    BreakerState,
    BreakerStatus,
    enable_breaker,
)
from app.errors import CircuitBreakerError
from app.logs import Event, get_logger, log_event

_log = get_logger("risk.breaker")


class BreakerView(Protocol):
    """The breaker as the guard uses it."""

    simulated: bool

    def state(self, now: datetime) -> BreakerState:
        """The breaker at ``now``."""
        ...

    def trip(self, reason: str, now: datetime) -> bool:
        """Activate with no end (a person must disable it); True when the state changed."""
        ...

    def reset(self) -> None:
        """Forget a simulated trip (a new backtest starts); no-op for the file."""
        ...


class FileBreakerView:
    """The breaker file. A trip that cannot be written still holds in memory (fail closed)
    until the file changes, i.e. until a person has acted on it."""

    simulated = False

    def __init__(self, file: Path) -> None:
        self.file = file
        self._cache = BreakerCache(file)
        self._fallback: BreakerState | None = None
        self._fallback_key: tuple[int, int, int] | None = None
        self._reported_problem: str | None = None
        self._last: BreakerStatus | None = None

    def _changed(self, current: BreakerState, now: datetime) -> None:
        """An active breaker that ran out is an event of its own (Telegram announces it)."""
        if current.status is BreakerStatus.EXPIRED and self._last is BreakerStatus.ACTIVE:
            log_event(
                _log,
                logging.INFO,
                Event.CIRCUIT_BREAKER_EXPIRED,
                file=str(self.file),
                until=current.until,
                reason=current.reason,
                at=now,
            )
        self._last = current.status

    def state(self, now: datetime) -> BreakerState:
        """The file's state; an unwritten trip while the file is unchanged."""
        current = self._cache.state(now)
        if current.status is not self._last:
            self._changed(current, now)
        if self._fallback is not None:
            if self._cache.key == self._fallback_key:
                return self._fallback
            self._fallback = None
        if current.status is BreakerStatus.UNREADABLE:
            if current.problem == self._reported_problem:
                return current
            # Once per problem, not once per check.
            self._reported_problem = current.problem
            log_event(
                _log,
                logging.ERROR,
                Event.CIRCUIT_BREAKER_UNREADABLE,
                file=str(self.file),
                problem=current.problem,
                at=now,
            )
        else:
            self._reported_problem = None
        return current

    def trip(self, reason: str, now: datetime) -> bool:
        """Write an indefinite activation; keep it in memory if the write fails (re-raised)."""
        try:
            return enable_breaker(self.file, reason=reason, now=now, keep_indefinite=True)
        except CircuitBreakerError as exc:
            self._cache.state(now)
            self._fallback_key = self._cache.key
            self._fallback = BreakerState(
                BreakerStatus.ACTIVE,
                self.file,
                reason=f"{reason} [trip held in memory: {exc}]",
            )
            raise

    def reset(self) -> None:
        """The file is reset by a person, never by the guard."""


class MemoryBreakerView:
    """A breaker that lives for one backtest run (reset when the next one starts)."""

    simulated = True

    def __init__(self) -> None:
        self._state = BreakerState(BreakerStatus.INACTIVE, Path("<backtest>"))

    def state(self, now: datetime) -> BreakerState:
        """The simulated breaker."""
        return self._state

    def trip(self, reason: str, now: datetime) -> bool:
        """Activate for the rest of this backtest run."""
        if self._state.status is BreakerStatus.ACTIVE:
            return False
        self._state = BreakerState(BreakerStatus.ACTIVE, Path("<backtest>"), reason=reason)
        return True

    def reset(self) -> None:
        """Back to inactive for a new run (hyperopt epoch, next strategy)."""
        self._state = BreakerState(BreakerStatus.INACTIVE, Path("<backtest>"))
