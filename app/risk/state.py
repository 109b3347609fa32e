"""The account's risk state (ACTIVE, COOLDOWN, HALTED): changed in one place, logged once.

The guard computes the state from the account-level rules (circuit breaker, daily
drawdown, daily loss cap, losing streak) in ``bot_loop_start`` and after every entry
check; :meth:`RiskStateTracker.update` is the only code that changes it, and it writes one
``risk_state_changed`` line per change (never one per check).
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.logs import Event, log_event
from app.risk import metrics
from app.risk.decision import Reason, RiskState


class RiskStateTracker:
    """Holds the current state; logs and exports each change."""

    def __init__(self, logger: logging.Logger, *, level: int, correlation_id: str) -> None:
        self.state = RiskState.ACTIVE
        self.since: datetime | None = None
        self.changes = 0
        self._logger = logger
        self._level = level
        self._correlation_id = correlation_id
        metrics.RISK_STATE.labels(state=RiskState.ACTIVE.value).set(1)

    def update(
        self,
        new: RiskState,
        now: datetime,
        *,
        reason: Reason,
        detail: str = "",
        until: datetime | None = None,
    ) -> bool:
        """Switch to ``new``; return True when that is a change (and log it once)."""
        if new is self.state:
            return False
        old = self.state
        self.state = new
        self.since = now
        self.changes += 1
        metrics.RISK_STATE.labels(state=old.value).set(0)
        metrics.RISK_STATE.labels(state=new.value).set(1)
        log_event(
            self._logger,
            self._level,
            Event.RISK_STATE_CHANGED,
            correlation_id=self._correlation_id,
            old=old.value,
            new=new.value,
            reason=reason.value,
            detail=detail,
            until=until,
            at=now,
        )
        return True
