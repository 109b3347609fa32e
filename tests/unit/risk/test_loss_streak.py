"""The losing streak rule (app/risk/rules/loss_streak.py): cooldown after N losses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.risk.decision import Reason, RiskState
from app.risk.rules import LossStreakRule
from tests.unit.risk.builders import NOW, account, ctx, entry, settings

LAST_LOSS = NOW - timedelta(minutes=10)
RULE = LossStreakRule(3, timedelta(minutes=30))


def test_rule_when_built_from_settings_then_uses_cooldown_minutes() -> None:
    """RISK_LOSS_STREAK_MAX turns it on; RISK_SESSION_COOLDOWN_MINUTES sets the length."""
    assert LossStreakRule.from_settings(settings()) is None
    rule = LossStreakRule.from_settings(
        settings(loss_streak_max="4", session_cooldown_minutes="15")
    )
    assert rule is not None
    assert (rule.max_losses, rule.cooldown) == (4, timedelta(minutes=15))


@pytest.mark.parametrize(("streak", "allowed"), [(0, True), (2, True), (3, False), (7, False)])
def test_entry_when_streak_reaches_max_then_cooldown(streak: int, allowed: bool) -> None:
    """Three losses in a row start a 30 minute cooldown from the last loss."""
    acct = account(loss_streak=streak, last_loss_at=LAST_LOSS)
    decision = RULE.check(ctx(acct, entry()), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.LOSS_STREAK
        assert decision.until == LAST_LOSS + timedelta(minutes=30)
        assert decision.state is RiskState.COOLDOWN


def test_entry_when_cooldown_ends_then_allowed() -> None:
    """At last loss + cooldown exactly, entries resume."""
    acct = account(loss_streak=3, last_loss_at=LAST_LOSS)
    end = LAST_LOSS + timedelta(minutes=30)
    assert not RULE.check(ctx(acct, entry()), end - timedelta(seconds=1)).allowed
    assert RULE.check(ctx(acct, entry()), end).allowed


def test_entry_when_cooldown_long_over_then_allowed() -> None:
    """Any moment after the cooldown's end allows, not only the end itself."""
    acct = account(loss_streak=5, last_loss_at=LAST_LOSS)

    assert RULE.check(ctx(acct, entry()), LAST_LOSS + timedelta(hours=6)).allowed


def test_account_evaluation_when_cooling_down_then_cooldown_state_without_entry() -> None:
    """The streak is account-level: bot_loop_start sees COOLDOWN without an entry."""
    acct = account(loss_streak=3, last_loss_at=LAST_LOSS)

    assert LossStreakRule.account_level is True
    assert RULE.check(ctx(acct), NOW).state is RiskState.COOLDOWN


@pytest.mark.parametrize("streak", [3, 4])
def test_entry_when_streak_at_limit_and_last_loss_time_unknown_then_refused_without_end(
    streak: int,
) -> None:
    """A streak at the limit whose last loss has no close time fails closed: refused, no end."""
    acct = account(loss_streak=streak, last_loss_at=None)

    decision = RULE.check(ctx(acct, entry()), NOW + timedelta(days=365))

    assert not decision.allowed
    assert decision.reason is Reason.LOSS_STREAK
    assert decision.state is RiskState.COOLDOWN
    assert decision.until is None
    assert decision.detail.startswith(f"{streak} losing trades in a row (RISK_LOSS_STREAK_MAX=3)")
    assert "the last loss has no close time" in decision.detail
    assert "unset RISK_LOSS_STREAK_MAX" in decision.detail


def test_entry_when_streak_below_limit_and_last_loss_time_unknown_then_allowed() -> None:
    """Below the limit a missing time changes nothing: the streak has not tripped."""
    acct = account(loss_streak=2, last_loss_at=None)

    assert RULE.check(ctx(acct, entry()), NOW).allowed


def test_refusal_when_cooling_down_then_detail_names_streak_limit_and_length() -> None:
    """The operator's line says how many losses, the limit and how long the cooldown lasts."""
    acct = account(loss_streak=4, last_loss_at=LAST_LOSS)

    decision = RULE.check(ctx(acct, entry()), NOW)

    assert decision.detail == (
        "4 losing trades in a row (RISK_LOSS_STREAK_MAX=3); cooling down for 0:30:00"
    )
