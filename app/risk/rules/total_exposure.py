"""Total exposure: the stake in all open trades plus the proposed one, as a share of the
wallet, must stay at or below RISK_MAX_EXPOSURE_PCT."""

from __future__ import annotations

from datetime import datetime

from app.risk.decision import ALLOW, Decision, Reason, deny
from app.risk.rules.base import Rule, pct
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings

_REL_TOLERANCE = 1e-9


class TotalExposureRule(Rule):
    """Total open stake <= ``max_ratio`` of the wallet."""

    name = "total_exposure"

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> TotalExposureRule | None:
        """On when RISK_MAX_EXPOSURE_PCT is set."""
        if settings.max_exposure_pct is None:
            return None
        return cls(settings.max_exposure_pct)

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse when the total stake after the entry would exceed the limit."""
        entry = ctx.entry
        if entry is None:
            return ALLOW
        wallet = ctx.account.wallet
        after = ctx.account.open_stake_total + entry.stake
        limit = max(wallet, 0.0) * self.max_ratio
        if wallet <= 0 or after > limit * (1 + _REL_TOLERANCE):
            share = after / wallet if wallet > 0 else float("inf")
            return deny(
                Reason.TOTAL_EXPOSURE,
                f"open stake would be {after:.8g} ({pct(share)} of wallet {wallet:.8g}), "
                f"limit RISK_MAX_EXPOSURE_PCT={self.max_ratio}",
            )
        return ALLOW
