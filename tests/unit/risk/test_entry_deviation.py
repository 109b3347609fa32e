"""The entry deviation rule (app/risk/rules/entry_deviation.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.risk.decision import Reason
from app.risk.rules import EntryDeviationRule
from app.risk.snapshot import Candle
from tests.unit.risk.builders import NOW, account, ctx, entry, settings

RULE = EntryDeviationRule(0.02)
CANDLE = Candle(date=NOW - timedelta(minutes=5), close=100.0)


def test_rule_when_variable_unset_then_off() -> None:
    """No RISK_MAX_ENTRY_DEVIATION_PCT, no rule."""
    assert EntryDeviationRule.from_settings(settings()) is None


@pytest.mark.parametrize(
    ("rate", "allowed"),
    [(100.0, True), (102.0, True), (98.0, True), (102.01, False), (97.9, False)],
)
def test_entry_when_rate_far_from_last_close_then_refused(rate: float, allowed: bool) -> None:
    """Further than 2 % from the last close is refused; exactly 2 % is allowed."""
    decision = RULE.check(ctx(account(), entry(rate=rate), CANDLE), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.ENTRY_DEVIATION


def test_entry_when_no_last_close_then_refused() -> None:
    """Without a close there is nothing to compare: fail closed."""
    assert not RULE.check(ctx(account(), entry(), None), NOW).allowed


def test_rule_when_declared_then_needs_the_last_candle() -> None:
    """The guard fetches the pair's last candle before this rule, and only for such rules."""
    assert EntryDeviationRule.needs_candle is True
    assert EntryDeviationRule.account_level is False


@pytest.mark.parametrize("close", [0.0, -5.0])
def test_entry_when_last_close_not_positive_then_refused_as_missing(close: float) -> None:
    """A close of zero or below is no price to compare with: refuse without dividing by it."""
    candle = Candle(date=NOW - timedelta(minutes=5), close=close)

    decision = RULE.check(ctx(account(), entry(rate=-5.0), candle), NOW)

    assert not decision.allowed
    assert decision.detail == "no last close for ETH/BTC to compare"


def test_entry_when_last_close_below_one_then_compared_normally() -> None:
    """Cheap coins (a close below 1) are compared like any other price."""
    candle = Candle(date=NOW - timedelta(minutes=5), close=0.5)

    assert RULE.check(ctx(account(), entry(rate=0.505), candle), NOW).allowed
    assert not RULE.check(ctx(account(), entry(rate=0.52), candle), NOW).allowed


def test_refusal_when_too_far_then_detail_names_rate_distance_and_limit() -> None:
    """The detail names the rate, how far it is from the close and the variable."""
    decision = RULE.check(ctx(account(), entry(rate=103.0), CANDLE), NOW)

    assert decision.detail == (
        "ETH/BTC entry rate 103 is 3.00 % from the last close 100, "
        "limit RISK_MAX_ENTRY_DEVIATION_PCT=0.02"
    )
