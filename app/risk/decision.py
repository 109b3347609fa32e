"""Guard decisions: a refusal is a value, not an exception.

Every rule and every run gate returns a :class:`Decision`. Refusals carry a stable
:class:`Reason` code (logs, metrics, incidents and dashboards key on it), a ``detail``
that names the numbers and the limit, and ``until`` when the refusal ends by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Reason(StrEnum):
    """Stable reason codes. Renaming one breaks alerts and dashboards: add, never rename."""

    ALLOWED = "ALLOWED"
    # live / dry-run / backtest entry rules
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"
    DAILY_DRAWDOWN = "DAILY_DRAWDOWN"
    DAILY_LOSS_CAP = "DAILY_LOSS_CAP"
    LOSS_STREAK = "LOSS_STREAK"
    MAX_CONCURRENT_TRADES = "MAX_CONCURRENT_TRADES"
    POSITION_SIZE = "POSITION_SIZE"
    MARKET_EXPOSURE = "MARKET_EXPOSURE"
    TOTAL_EXPOSURE = "TOTAL_EXPOSURE"
    NEAR_LIQUIDATION = "NEAR_LIQUIDATION"
    STALE_DATA = "STALE_DATA"
    ENTRY_DEVIATION = "ENTRY_DEVIATION"
    GUARD_ERROR = "GUARD_ERROR"
    # run gates
    CONCURRENCY_LIMIT = "CONCURRENCY_LIMIT"
    MAX_DD_BLOCK = "MAX_DD_BLOCK"
    REGISTRY_ERROR = "REGISTRY_ERROR"


class RiskState(StrEnum):
    """The account's trading state. Changes only through ``RiskStateTracker.update``."""

    ACTIVE = "ACTIVE"  # entries allowed (each still checked)
    COOLDOWN = "COOLDOWN"  # losing streak: no entries until the cooldown ends
    HALTED = "HALTED"  # breaker, daily loss cap or daily drawdown: no entries


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one check.

    ``trip_breaker`` asks the guard to activate the circuit breaker (daily drawdown);
    ``state`` is the account state a refusal implies (None for entry-specific refusals).
    """

    allowed: bool
    reason: Reason
    detail: str = ""
    until: datetime | None = None
    trip_breaker: bool = False
    state: RiskState | None = None


ALLOW = Decision(allowed=True, reason=Reason.ALLOWED)


def deny(
    reason: Reason,
    detail: str,
    *,
    until: datetime | None = None,
    trip_breaker: bool = False,
    state: RiskState | None = None,
) -> Decision:
    """A refusal with ``reason`` and a human ``detail``."""
    return Decision(
        allowed=False,
        reason=reason,
        detail=detail,
        until=until,
        trip_breaker=trip_breaker,
        state=state,
    )
