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


def test_rule_when_declared_then_account_level() -> None:
    """The drawdown is judged on the account, in bot_loop_start too, without an entry."""
    assert DailyDrawdownRule.account_level is True
    crashed = account(wallet=1000.0, unrealised=-200.0, day_peak_equity=1000.0)
    assert not RULE.check(ctx(crashed), NOW).allowed


@pytest.mark.parametrize(
    ("peak", "start", "floor"), [(1100.0, 1000.0, 990.0), (900.0, 1000.0, 900.0)]
)
def test_equity_floor_when_peak_and_start_known_then_higher_of_them_less_the_limit(
    peak: float, start: float, floor: float
) -> None:
    """The floor is max(peak, day start) x (1 - limit): at or below it the rule may refuse."""
    assert RULE.equity_floor(start, peak) == pytest.approx(floor)


def test_equity_floor_when_equity_reaches_it_then_check_refuses() -> None:
    """The floor agrees with ``check``: equity at the floor refuses, a cent above allows."""
    floor = DailyDrawdownRule(0.2).equity_floor(1000.0, 1250.0)  # 1000

    at_floor = account(wallet=1000.0, unrealised=floor - 1000.0, day_peak_equity=1250.0)
    above = account(wallet=1000.0, unrealised=floor - 1000.0 + 0.01, day_peak_equity=1250.0)
    assert not DailyDrawdownRule(0.2).check(ctx(at_floor, entry()), NOW).allowed
    assert DailyDrawdownRule(0.2).check(ctx(above, entry()), NOW).allowed


@pytest.mark.parametrize(("unrealised", "share"), [(-500.0, "50.00 %"), (-750.0, "75.00 %")])
def test_entry_when_drawdown_far_beyond_limit_then_refused_naming_the_fall(
    unrealised: float, share: str
) -> None:
    """A fall well past the limit (half the equity, or more) refuses and names its size."""
    acct = account(wallet=1000.0, unrealised=unrealised, day_peak_equity=1000.0)
    decision = RULE.check(ctx(acct, entry()), NOW)

    assert not decision.allowed
    assert decision.trip_breaker
    assert f"is {share} below today's peak 1000" in decision.detail


@pytest.mark.parametrize("wallet", [0.0, -10.0])
def test_entry_when_peak_equity_not_positive_then_refused_naming_it(wallet: float) -> None:
    """With no positive equity all day there is no drawdown to compute: refuse."""
    decision = RULE.check(ctx(account(wallet=wallet), entry()), NOW)

    assert not decision.allowed
    assert decision.detail == f"day peak equity is {wallet:.8g}"


def test_entry_when_peak_equity_small_but_positive_then_judged_normally() -> None:
    """A small positive equity with no fall is allowed like any other."""
    assert RULE.check(ctx(account(wallet=0.5), entry()), NOW).allowed
