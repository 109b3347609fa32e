"""Losing streak: after RISK_LOSS_STREAK_MAX consecutive losing closed trades, no entries
for RISK_SESSION_COOLDOWN_MINUTES after the last loss.

A trade loses when its realised profit is below zero. Each further loss while the streak
lasts restarts the cooldown from that trade's close; a winning trade ends the streak.
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
        """Refuse until last loss + cooldown while the streak is at the limit."""
        account = ctx.account
        if account.loss_streak < self.max_losses or account.last_loss_at is None:
            return ALLOW
        until = account.last_loss_at + self.cooldown
        if now >= until:
            return ALLOW
        return deny(
            Reason.LOSS_STREAK,
            f"{account.loss_streak} losing trades in a row (RISK_LOSS_STREAK_MAX="
            f"{self.max_losses}); cooling down for {self.cooldown}",
            until=until,
            state=RiskState.COOLDOWN,
        )
