"""The near-liquidation rule (app/risk/rules/near_liquidation.py)."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason
from app.risk.rules import NearLiquidationRule
from tests.unit.risk.builders import NOW, account, ctx, entry, settings

RULE = NearLiquidationRule(2.0)


def test_rule_when_variable_unset_then_off() -> None:
    """No RISK_NEAR_LIQ_BUFFER_MULTIPLIER, no rule."""
    assert NearLiquidationRule.from_settings(settings()) is None


def test_entry_when_not_leveraged_then_allowed() -> None:
    """Spot (leverage 1) has no liquidation price to be near."""
    assert RULE.check(ctx(account(), entry(leverage=1.0)), NOW).allowed


@pytest.mark.parametrize(
    ("side", "liquidation", "allowed"),
    [
        # leverage 5, stoploss -0.1 -> stop 2 % away; buffer 2 x 2 % = 4 %
        ("long", 95.0, True),  # 5 % away
        ("long", 96.0, True),  # exactly 4 %
        ("long", 96.5, False),  # 3.5 %
        ("long", 101.0, False),  # wrong side of the entry
        ("short", 104.0, True),
        ("short", 103.0, False),
    ],
)
def test_entry_when_liquidation_within_buffer_then_refused(
    side: str, liquidation: float, allowed: bool
) -> None:
    """Liquidation must be at least multiplier x the stoploss distance away."""
    ent = entry(side=side, leverage=5.0, stoploss=-0.1, liquidation_price=liquidation)
    decision = RULE.check(ctx(account(), ent), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.NEAR_LIQUIDATION


def test_entry_when_liquidation_unknown_then_refused() -> None:
    """A leveraged entry with no liquidation estimate is refused (fail closed)."""
    decision = RULE.check(ctx(account(), entry(leverage=3.0, stoploss=-0.1)), NOW)
    assert decision.reason is Reason.NEAR_LIQUIDATION
    assert "unknown" in decision.detail
