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
    decision = RULE.check(ctx(account(), entry(rate=rate, candle=CANDLE)), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.ENTRY_DEVIATION


def test_entry_when_no_last_close_then_refused() -> None:
    """Without a close there is nothing to compare: fail closed."""
    assert not RULE.check(ctx(account(), entry(candle=None)), NOW).allowed
