"""Daily loss cap: halt entries until 00:00 UTC once today's loss reaches
RISK_DAILY_LOSS_CAP_PCT of the day's starting equity.

Today's loss = -(PnL realised since 00:00 UTC + unrealised PnL of open trades). The day's
starting equity is the wallet minus today's realised PnL (so a restart keeps the day's
losses). Once reached, the halt holds until 00:00 UTC even if open trades recover (the
guard latches it). The cap resets at 00:00 UTC: a snapshot from an earlier day never
halts ``now``.
"""

from __future__ import annotations

from datetime import datetime

from app.risk.decision import ALLOW, Decision, Reason, RiskState, deny
from app.risk.rules.base import Rule, pct
from app.risk.snapshot import ONE_DAY, GuardContext
from app.settings import RiskSettings


class DailyLossCapRule(Rule):
    """Entries stop for the rest of the UTC day once the loss reaches the cap."""

    name = "daily_loss_cap"
    account_level = True
    latches = True  # once reached, the day is over even if open trades recover

    def __init__(self, cap_ratio: float) -> None:
        self.cap_ratio = cap_ratio

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> DailyLossCapRule | None:
        """On when RISK_DAILY_LOSS_CAP_PCT is set."""
        if settings.daily_loss_cap_pct is None:
            return None
        return cls(settings.daily_loss_cap_pct)

    def equity_floor(self, day_start_equity: float, day_peak_equity: float) -> float:
        """-(R + U) >= cap x S with S = W - R and equity E = W + U  <=>  E <= S x (1 - cap)."""
        return day_start_equity * (1 - self.cap_ratio)

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse until next 00:00 UTC when loss >= cap x day start equity."""
        account = ctx.account
        if not account.same_day(now):
            return ALLOW
        until = account.day_start + ONE_DAY
        if account.unrealised is None:
            return deny(
                Reason.DAILY_LOSS_CAP,
                "cannot value open trades (a price is missing); refusing until it is known",
            )
        start = account.day_start_equity
        loss = -(account.realised_today + account.unrealised)
        if start <= 0:
            return deny(
                Reason.DAILY_LOSS_CAP,
                f"day start equity is {start:.8g}",
                until=until,
                state=RiskState.HALTED,
            )
        if loss >= self.cap_ratio * start:
            return deny(
                Reason.DAILY_LOSS_CAP,
                f"today's loss {loss:.8g} ({pct(loss / start)} of day start equity "
                f"{start:.8g}) reached RISK_DAILY_LOSS_CAP_PCT={self.cap_ratio}; "
                "entries resume at 00:00 UTC",
                until=until,
                state=RiskState.HALTED,
            )
        return ALLOW
