"""Stale data: refuse an entry when the pair's last closed candle is late.

A candle opened at ``date`` closes at ``date + timeframe``; the next one is due one
timeframe later. The data is stale when ``now - (date + timeframe)`` exceeds one
timeframe plus RISK_DATA_STALE_TIMEOUT_SEC, i.e. the expected candle is more than the
timeout late. No candle at all is stale too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.risk.decision import ALLOW, Decision, Reason, deny
from app.risk.rules.base import Rule
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings


class StaleDataRule(Rule):
    """The last closed candle must be at most one timeframe plus ``timeout`` old."""

    name = "stale_data"
    needs_candle = True

    def __init__(self, timeout: timedelta) -> None:
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> StaleDataRule | None:
        """On when RISK_DATA_STALE_TIMEOUT_SEC is set."""
        if settings.data_stale_timeout_sec is None:
            return None
        return cls(timedelta(seconds=settings.data_stale_timeout_sec))

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse when the candle is missing or late."""
        entry = ctx.entry
        if entry is None:
            return ALLOW
        candle = ctx.candle
        if candle is None:
            return deny(Reason.STALE_DATA, f"no closed candle for {entry.pair}")
        timeframe = timedelta(seconds=entry.timeframe_sec)
        closed_at = candle.date + timeframe
        age = now - closed_at
        if age > timeframe + self.timeout:
            return deny(
                Reason.STALE_DATA,
                f"last {entry.pair} candle closed at {closed_at.isoformat()}, "
                f"{age.total_seconds():.0f} s ago; allowed one timeframe "
                f"({entry.timeframe_sec} s) + RISK_DATA_STALE_TIMEOUT_SEC="
                f"{self.timeout.total_seconds():.0f}",
            )
        return ALLOW
