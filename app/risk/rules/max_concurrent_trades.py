"""Refuse an entry when RISK_LIVE_MAX_CONCURRENT_TRADES trades are already open.

Independent of Freqtrade's ``max_open_trades`` (which a config or hyperopt may change):
this is the operator's ceiling.
"""

from __future__ import annotations

from datetime import datetime

from app.risk.decision import ALLOW, Decision, Reason, deny
from app.risk.rules.base import Rule
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings


class MaxConcurrentTradesRule(Rule):
    """At most ``limit`` open trades."""

    name = "max_concurrent_trades"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> MaxConcurrentTradesRule | None:
        """On when RISK_LIVE_MAX_CONCURRENT_TRADES is set."""
        if settings.live_max_concurrent_trades is None:
            return None
        return cls(settings.live_max_concurrent_trades)

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse when the open trades already reach the limit."""
        if ctx.entry is None:
            return ALLOW
        count = len(ctx.account.open_positions)
        if count >= self.limit:
            return deny(
                Reason.MAX_CONCURRENT_TRADES,
                f"{count} trades open, limit RISK_LIVE_MAX_CONCURRENT_TRADES={self.limit}",
            )
        return ALLOW
