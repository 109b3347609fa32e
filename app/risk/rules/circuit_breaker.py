"""Refuse every entry while the circuit breaker is active (always on).

In live and dry-run the breaker is the file (RISK_CIRCUIT_BREAKER_FILE), cached by mtime;
in backtests it is an in-memory breaker for that run (see ``app/risk/breaker_view.py``).
An unreadable file counts as active. An ``until`` that passed since the snapshot was
taken is honoured here, so expiry needs no new snapshot.
"""

from __future__ import annotations

from datetime import datetime

from app.circuit_breaker import BreakerStatus
from app.risk.decision import ALLOW, Decision, Reason, RiskState, deny
from app.risk.rules.base import Rule
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings


class CircuitBreakerRule(Rule):
    """Entries stop while the breaker is active."""

    name = "circuit_breaker"
    account_level = True

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> CircuitBreakerRule:
        """Always on: the breaker has no off switch (RISK_ALLOW_WHEN_CB only lets runs start)."""
        return cls()

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse while the breaker is ACTIVE (and not yet expired) or UNREADABLE."""
        breaker = ctx.account.breaker
        if not breaker.active:
            return ALLOW
        if (
            breaker.status is BreakerStatus.ACTIVE
            and breaker.until is not None
            and breaker.until <= now
        ):
            return ALLOW
        return deny(
            Reason.CIRCUIT_BREAKER, breaker.describe(), until=breaker.until, state=RiskState.HALTED
        )
