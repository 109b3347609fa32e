"""Per-market exposure: the stake in one pair, open plus proposed, as a share of the wallet
must stay at or below RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT.

Exposure is measured in stake (margin), as DESIGN.md defines it; leverage is bounded by
RISK_MAX_LEVERAGE and the near-liquidation rule.
"""

from __future__ import annotations

from datetime import datetime

from app.risk.decision import ALLOW, Decision, Reason, deny
from app.risk.rules.base import Rule, pct
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings

_REL_TOLERANCE = 1e-9


class MarketExposureRule(Rule):
    """Stake per market <= ``max_ratio`` of the wallet."""

    name = "market_exposure"

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> MarketExposureRule | None:
        """On when RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT is set."""
        if settings.live_max_per_market_exposure_pct is None:
            return None
        return cls(settings.live_max_per_market_exposure_pct)

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse when this pair's stake after the entry would exceed the limit."""
        entry = ctx.entry
        if entry is None:
            return ALLOW
        wallet = ctx.account.wallet
        current = ctx.account.stake_by_pair.get(entry.pair, 0.0)
        after = current + entry.stake
        limit = max(wallet, 0.0) * self.max_ratio
        if wallet <= 0 or after > limit * (1 + _REL_TOLERANCE):
            share = after / wallet if wallet > 0 else float("inf")
            return deny(
                Reason.MARKET_EXPOSURE,
                f"{entry.pair} stake would be {after:.8g} ({pct(share)} of wallet "
                f"{wallet:.8g}), limit RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT={self.max_ratio}",
            )
        return ALLOW
