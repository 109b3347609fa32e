"""Entry deviation: refuse an entry whose rate is further than RISK_MAX_ENTRY_DEVIATION_PCT
from the pair's last close (a bad tick, a thin book or a custom price gone wrong)."""

from __future__ import annotations

from datetime import datetime

from app.risk.decision import ALLOW, Decision, Reason, deny
from app.risk.rules.base import Rule, pct
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings


class EntryDeviationRule(Rule):
    """``|rate - last close| / last close <= max_ratio``."""

    name = "entry_deviation"
    needs_candle = True

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> EntryDeviationRule | None:
        """On when RISK_MAX_ENTRY_DEVIATION_PCT is set."""
        if settings.max_entry_deviation_pct is None:
            return None
        return cls(settings.max_entry_deviation_pct)

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse when the rate is too far from the last close (or there is no close)."""
        entry = ctx.entry
        if entry is None:
            return ALLOW
        candle = ctx.candle
        if candle is None or candle.close <= 0:
            return deny(Reason.ENTRY_DEVIATION, f"no last close for {entry.pair} to compare")
        close = candle.close
        deviation = abs(entry.rate - close) / close
        if deviation > self.max_ratio:
            return deny(
                Reason.ENTRY_DEVIATION,
                f"{entry.pair} entry rate {entry.rate:.8g} is {pct(deviation)} from the last "
                f"close {close:.8g}, limit RISK_MAX_ENTRY_DEVIATION_PCT={self.max_ratio}",
            )
        return ALLOW
