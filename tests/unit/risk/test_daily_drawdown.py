"""The daily drawdown rule (app/risk/rules/daily_drawdown.py): trips the breaker."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason, RiskState
from app.risk.rules import DailyDrawdownRule
from tests.unit.risk.builders import NEXT_MIDNIGHT, NOW, account, ctx, entry, settings

RULE = DailyDrawdownRule(0.1)


def test_rule_when_variable_set_then_on() -> None:
    """RISK_MAX_DAILY_DRAWDOWN_PCT turns the rule on."""
    assert DailyDrawdownRule.from_settings(settings()) is None
    assert DailyDrawdownRule.from_settings(settings(max_daily_drawdown_pct="0.1")) is not None


@pytest.mark.parametrize(
    ("peak", "unrealised", "allowed"),
    [
        (1000.0, 0.0, True),
        (1100.0, 0.0, True),  # 1000 vs 1100: 9.09 %
        (1100.0, -10.0, False),  # 990 vs 1100: exactly 10 %
        (1000.0, -100.0, False),  # open trades count: 900 vs 1000
        (None, -99.0, True),  # no sampled peak: day start equity 1000 is the peak
        (None, -100.0, False),
    ],
)
def test_entry_when_equity_falls_below_peak_then_breaker_trip_requested(
    peak: float | None, unrealised: float, allowed: bool
) -> None:
    """A fall of 10 % from the day's peak (open trades included) refuses and asks to trip."""
    acct = account(wallet=1000.0, unrealised=unrealised, day_peak_equity=peak)
    decision = RULE.check(ctx(acct, entry()), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.DAILY_DRAWDOWN
        assert decision.trip_breaker
        assert decision.state is RiskState.HALTED
        assert decision.until is None  # resuming needs a person


def test_entry_when_new_day_then_drawdown_not_judged_on_old_snapshot() -> None:
    """A snapshot from yesterday does not trip today."""
    acct = account(wallet=1000.0, unrealised=-500.0, day_peak_equity=1000.0)
    assert RULE.check(ctx(acct, entry()), NEXT_MIDNIGHT).allowed


def test_entry_when_price_missing_then_refused_without_trip() -> None:
    """Unknown equity refuses (fail closed) but does not trip the breaker on a guess."""
    decision = RULE.check(ctx(account(unrealised=None), entry()), NOW)
    assert not decision.allowed
    assert not decision.trip_breaker
