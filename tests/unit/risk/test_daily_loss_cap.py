"""The daily loss cap (app/risk/rules/daily_loss_cap.py): boundaries and the 00:00 reset."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.risk.decision import Reason, RiskState
from app.risk.rules import DailyLossCapRule
from app.risk.snapshot import AccountSnapshot
from tests.unit.risk.builders import NEXT_MIDNIGHT, NOW, account, ctx, entry, settings

RULE = DailyLossCapRule(0.05)  # 5 % of the day's starting equity


def _day(realised: float, unrealised: float | None, wallet: float = 1000.0) -> AccountSnapshot:
    # wallet 1000 already contains today's realised PnL: day start = 1000 - realised.
    return account(wallet=wallet, realised_today=realised, unrealised=unrealised)


def test_rule_when_variable_unset_then_off() -> None:
    """No RISK_DAILY_LOSS_CAP_PCT, no rule."""
    assert DailyLossCapRule.from_settings(settings()) is None


@pytest.mark.parametrize(
    ("realised", "unrealised", "allowed"),
    [
        (0.0, 0.0, True),
        (-30.0, -19.0, True),  # loss 49 < 5 % of 1030 = 51.5
        (-30.0, -21.5, False),  # loss 51.5 = cap: reached
        (-60.0, 0.0, False),  # realised alone: 60 >= 53
        (0.0, -50.0, False),  # unrealised alone: 50 >= 50
        (0.0, -49.99, True),
        (40.0, -60.0, True),  # net -20 against a 960 start: 20 < 48
    ],
)
def test_entry_when_todays_loss_reaches_cap_then_halted_until_midnight(
    realised: float, unrealised: float, allowed: bool
) -> None:
    """Realised + unrealised loss >= 5 % of the day start equity refuses until 00:00 UTC."""
    decision = RULE.check(ctx(_day(realised, unrealised), entry()), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.DAILY_LOSS_CAP
        assert decision.until == NEXT_MIDNIGHT
        assert decision.state is RiskState.HALTED


def test_entry_when_capped_day_ends_then_allowed_at_midnight() -> None:
    """The cap resets at 00:00 UTC: yesterday's snapshot never halts today."""
    capped = _day(-100.0, 0.0)
    assert not RULE.check(ctx(capped, entry()), NEXT_MIDNIGHT - timedelta(microseconds=1)).allowed
    assert RULE.check(ctx(capped, entry()), NEXT_MIDNIGHT).allowed


def test_entry_when_open_trade_has_no_price_then_refused() -> None:
    """Unknown unrealised PnL cannot be judged: fail closed."""
    decision = RULE.check(ctx(_day(0.0, None), entry()), NOW)
    assert decision.reason is Reason.DAILY_LOSS_CAP
    assert "price is missing" in decision.detail


def test_account_evaluation_when_capped_then_refused_without_entry() -> None:
    """The cap is account-level: it refuses (and halts) without looking at an entry."""
    assert RULE.account_level
    assert not RULE.check(ctx(_day(-60.0, 0.0)), NOW).allowed
