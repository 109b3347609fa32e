"""Daily drawdown: when equity including open trades falls RISK_MAX_DAILY_DRAWDOWN_PCT
below the day's peak, trip the circuit breaker.

Resuming needs a person (``scripts/circuit_breaker.py disable``). In backtests the guard
trips an in-memory breaker for that run instead of the real file. The peak is the highest
equity the guard sampled since 00:00 UTC (at least the day's starting equity).
"""

from __future__ import annotations

from datetime import datetime

from app.risk.decision import ALLOW, Decision, Reason, RiskState, deny
from app.risk.rules.base import Rule, pct
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings


class DailyDrawdownRule(Rule):
    """Trip the breaker on a peak-to-trough fall of ``max_ratio`` within the UTC day."""

    name = "daily_drawdown"
    account_level = True

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> DailyDrawdownRule | None:
        """On when RISK_MAX_DAILY_DRAWDOWN_PCT is set."""
        if settings.max_daily_drawdown_pct is None:
            return None
        return cls(settings.max_daily_drawdown_pct)

    def equity_floor(self, day_start_equity: float, day_peak_equity: float) -> float:
        """(P - E) / P >= limit  <=>  E <= P x (1 - limit), P at least the day start equity."""
        return max(day_peak_equity, day_start_equity) * (1 - self.max_ratio)

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse and ask for a breaker trip when the drawdown reaches the limit."""
        account = ctx.account
        if not account.same_day(now):
            return ALLOW
        equity = account.equity
        if equity is None:
            return deny(
                Reason.DAILY_DRAWDOWN,
                "cannot value open trades (a price is missing); refusing until it is known",
            )
        peak = max(account.day_peak_equity or equity, account.day_start_equity, equity)
        if peak <= 0:
            return deny(Reason.DAILY_DRAWDOWN, f"day peak equity is {peak:.8g}")
        drawdown = (peak - equity) / peak
        if drawdown >= self.max_ratio:
            return deny(
                Reason.DAILY_DRAWDOWN,
                f"equity {equity:.8g} is {pct(drawdown)} below today's peak {peak:.8g} "
                f"(RISK_MAX_DAILY_DRAWDOWN_PCT={self.max_ratio}); circuit breaker tripped, "
                "a person must disable it",
                trip_breaker=True,
                state=RiskState.HALTED,
            )
        return ALLOW
