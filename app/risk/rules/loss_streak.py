"""Losing streak: after RISK_LOSS_STREAK_MAX consecutive losing closed trades, no entries
for RISK_SESSION_COOLDOWN_MINUTES after the last loss.

A trade loses when its realised profit is below zero. Each further loss while the streak
lasts restarts the cooldown from that trade's close; a winning trade ends the streak.

A streak at the limit whose last loss has no time (a closed trade without a close date:
the trade table's column allows NULL, and a backtest's trade list takes any closed trade)
has no end to count the cooldown from: it refuses (fail closed) until the streak ends or
the date is repaired, and says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.risk.decision import ALLOW, Decision, Reason, RiskState, deny
from app.risk.rules.base import Rule
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings


class LossStreakRule(Rule):
    """Cool down after ``max_losses`` losing trades in a row."""

    name = "loss_streak"
    account_level = True

    def __init__(self, max_losses: int, cooldown: timedelta) -> None:
        self.max_losses = max_losses
        self.cooldown = cooldown

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> LossStreakRule | None:
        """On when RISK_LOSS_STREAK_MAX is set; RISK_SESSION_COOLDOWN_MINUTES is its length."""
        if settings.loss_streak_max is None:
            return None
        return cls(settings.loss_streak_max, timedelta(minutes=settings.session_cooldown_minutes))

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        """Refuse until last loss + cooldown while the streak is at the limit; with no time
        of the last loss, refuse with no end (fail closed)."""
        account = ctx.account
        if account.loss_streak < self.max_losses:
            return ALLOW
        streak = (
            f"{account.loss_streak} losing trades in a row (RISK_LOSS_STREAK_MAX={self.max_losses})"
        )
        if account.last_loss_at is None:
            return deny(
                Reason.LOSS_STREAK,
                f"{streak}, but the last loss has no close time, so the cooldown cannot be "
                "timed; entries stay refused until a trade closes in profit; check close_date "
                "of the latest closed trades in Freqtrade's database, or unset "
                "RISK_LOSS_STREAK_MAX",
                state=RiskState.COOLDOWN,
            )
        until = account.last_loss_at + self.cooldown
        if now >= until:
            return ALLOW
        return deny(
            Reason.LOSS_STREAK,
            f"{streak}; cooling down for {self.cooldown}",
            until=until,
            state=RiskState.COOLDOWN,
        )
