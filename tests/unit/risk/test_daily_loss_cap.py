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


def test_rule_when_declared_then_latches_until_midnight() -> None:
    """The cap latches: the guard keeps the halt even if open trades recover the same day."""
    assert DailyLossCapRule.latches is True


@pytest.mark.parametrize(("cap", "floor"), [(0.05, 950.0), (0.2, 800.0)])
def test_equity_floor_when_day_start_known_then_start_times_one_minus_cap(
    cap: float, floor: float
) -> None:
    """The floor is S x (1 - cap); at it the rule refuses, a cent above it allows."""
    rule = DailyLossCapRule(cap)

    assert rule.equity_floor(1000.0, 1234.0) == pytest.approx(floor)
    at_floor = _day(0.0, floor - 1000.0)
    above = _day(0.0, floor - 1000.0 + 0.01)
    assert not rule.check(ctx(at_floor, entry()), NOW).allowed
    assert rule.check(ctx(above, entry()), NOW).allowed


def test_refusal_when_cap_reached_then_detail_names_loss_share_and_limit() -> None:
    """The detail gives the loss, its share of the day start equity and the variable."""
    decision = RULE.check(ctx(_day(-20.0, -40.0), entry()), NOW)  # 60 of 1020 = 5.88 %

    assert "today's loss 60 (5.88 % of day start equity 1020)" in decision.detail
    assert "RISK_DAILY_LOSS_CAP_PCT=0.05" in decision.detail


@pytest.mark.parametrize("wallet", [0.0, -10.0])
def test_entry_when_day_start_equity_not_positive_then_halted_naming_it(wallet: float) -> None:
    """A day start equity of zero or less cannot carry a cap: refuse, saying so."""
    decision = RULE.check(ctx(_day(0.0, 0.0, wallet=wallet), entry()), NOW)

    assert not decision.allowed
    assert decision.detail == f"day start equity is {wallet:.8g}"
    assert (decision.until, decision.state) == (NEXT_MIDNIGHT, RiskState.HALTED)


def test_entry_when_day_start_equity_tiny_but_positive_then_judged_by_the_cap() -> None:
    """A small positive start equity is judged like any other, not refused outright."""
    assert RULE.check(ctx(_day(0.0, 0.0, wallet=0.5), entry()), NOW).allowed
    assert not RULE.check(ctx(_day(0.0, -0.025, wallet=0.5), entry()), NOW).allowed
