"""The total exposure rule (app/risk/rules/total_exposure.py)."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason
from app.risk.rules import TotalExposureRule
from app.risk.snapshot import OpenPosition
from tests.unit.risk.builders import NOW, account, ctx, entry, settings

RULE = TotalExposureRule(0.5)
OPEN = (OpenPosition("ETH/BTC", 200.0), OpenPosition("LTC/BTC", 250.0))


def test_rule_when_variable_set_then_on() -> None:
    """RISK_MAX_EXPOSURE_PCT turns the rule on; absent, it is off."""
    assert TotalExposureRule.from_settings(settings()) is None
    rule = TotalExposureRule.from_settings(settings(max_exposure_pct="0.3"))
    assert rule is not None
    assert rule.max_ratio == 0.3


@pytest.mark.parametrize(("stake", "allowed"), [(50.0, True), (50.01, False), (10.0, True)])
def test_entry_when_total_stake_exceeds_limit_then_refused(stake: float, allowed: bool) -> None:
    """450 open + stake must stay <= 50 % of 1000 (boundary: exactly 500 allowed)."""
    decision = RULE.check(ctx(account(positions=OPEN), entry(stake=stake)), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.TOTAL_EXPOSURE
        assert "limit RISK_MAX_EXPOSURE_PCT=0.5" in decision.detail
