"""Near liquidation: refuse a leveraged entry whose liquidation price is closer than
RISK_NEAR_LIQ_BUFFER_MULTIPLIER stoploss distances.

Freqtrade's stoploss is relative to the leveraged position, so the stop sits
``|stoploss| / leverage`` away from the entry in price; the liquidation distance is
``|rate - liquidation_price| / rate``. Unleveraged entries (spot) pass. An unknown
liquidation price or stoploss on a leveraged entry is refused (fail closed).
"""

from __future__ import annotations

from datetime import datetime

from app.risk.decision import ALLOW, Decision, Reason, deny
from app.risk.rules.base import Rule, pct
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings


class NearLiquidationRule(Rule):
    """Liquidation distance >= ``multiplier`` x stoploss distance."""

    name = "near_liquidation"

    def __init__(self, multiplier: float) -> None:
        self.multiplier = multiplier

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> NearLiquidationRule | None:
        """On when RISK_NEAR_LIQ_BUFFER_MULTIPLIER is set."""
        if settings.near_liq_buffer_multiplier is None:
            return None
        return cls(settings.near_liq_buffer_multiplier)

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse when liquidation would come before the stoploss (with the buffer)."""
        entry = ctx.entry
        if entry is None or entry.leverage <= 1.0:
            return ALLOW
        if entry.liquidation_price is None or entry.stoploss is None or entry.rate <= 0:
            return deny(
                Reason.NEAR_LIQUIDATION,
                f"{entry.pair} at leverage {entry.leverage:g}: liquidation price or stoploss "
                "unknown",
            )
        liq = entry.liquidation_price
        wrong_side = liq >= entry.rate if entry.side == "long" else liq <= entry.rate
        stop_distance = abs(entry.stoploss) / entry.leverage
        liq_distance = abs(entry.rate - liq) / entry.rate
        if wrong_side or liq_distance < self.multiplier * stop_distance:
            return deny(
                Reason.NEAR_LIQUIDATION,
                f"{entry.pair} {entry.side} at {entry.rate:.8g} x{entry.leverage:g}: "
                f"liquidation {liq:.8g} is {pct(liq_distance)} away, less than "
                f"RISK_NEAR_LIQ_BUFFER_MULTIPLIER={self.multiplier:g} x stoploss distance "
                f"{pct(stop_distance)}",
            )
        return ALLOW
