"""The stale data rule (app/risk/rules/stale_data.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.risk.decision import Reason
from app.risk.rules import StaleDataRule
from app.risk.snapshot import Candle
from tests.unit.risk.builders import NOW, account, ctx, entry, settings

RULE = StaleDataRule(timedelta(seconds=60))
FIVE_MIN = timedelta(minutes=5)


def test_rule_when_timeout_zero_then_on() -> None:
    """0 is a valid timeout (strictest); absent means off."""
    assert StaleDataRule.from_settings(settings()) is None
    assert StaleDataRule.from_settings(settings(data_stale_timeout_sec="0")) is not None


@pytest.mark.parametrize(
    ("candle_open", "allowed"),
    [
        (NOW - FIVE_MIN, True),  # just closed at NOW
        (NOW - 2 * FIVE_MIN, True),  # next one due now
        (NOW - 2 * FIVE_MIN - timedelta(seconds=60), True),  # late by exactly the timeout
        (NOW - 2 * FIVE_MIN - timedelta(seconds=61), False),
        (NOW - timedelta(hours=3), False),
    ],
)
def test_entry_when_last_candle_late_then_refused(candle_open: datetime, allowed: bool) -> None:
    """Stale when now - candle close > one timeframe + RISK_DATA_STALE_TIMEOUT_SEC."""
    candle = Candle(date=candle_open, close=100.0)
    decision = RULE.check(ctx(account(), entry(), candle), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.STALE_DATA
        assert "ETH/BTC" in decision.detail


def test_entry_when_no_candle_then_refused() -> None:
    """No data at all is stale."""
    decision = RULE.check(ctx(account(), entry(), None), NOW)
    assert decision.reason is Reason.STALE_DATA


def test_rule_when_declared_then_needs_the_last_candle() -> None:
    """The guard fetches the pair's last candle before this rule, and only for such rules."""
    assert StaleDataRule.needs_candle is True
    assert StaleDataRule.account_level is False


def test_refusal_when_late_then_detail_names_close_age_and_allowance() -> None:
    """The detail says when the last candle closed, how long ago, and what is allowed."""
    candle = Candle(date=NOW - timedelta(hours=1), close=100.0)

    assert RULE.check(ctx(account(), entry(), candle), NOW).detail == (
        "last ETH/BTC candle closed at 2025-08-17T11:05:00+00:00, 3300 s ago; allowed one "
        "timeframe (300 s) + RISK_DATA_STALE_TIMEOUT_SEC=60"
    )
