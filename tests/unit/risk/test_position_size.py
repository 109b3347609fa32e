"""The position size rule (app/risk/rules/position_size.py): trim, refuse below minimum."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason
from app.risk.rules import PositionSizeRule
from tests.unit.risk.builders import NOW, account, ctx, entry, settings

RULE = PositionSizeRule(0.05)  # 5 % of the wallet


def test_rule_when_variable_set_then_built_with_ratio() -> None:
    """RISK_MAX_POSITION_PCT turns the rule on with that ratio."""
    rule = PositionSizeRule.from_settings(settings(max_position_pct="0.1"))
    assert rule is not None
    assert rule.max_ratio == 0.1
    assert PositionSizeRule.from_settings(settings()) is None


@pytest.mark.parametrize(
    ("proposed", "expected"), [(10.0, 10.0), (50.0, 50.0), (50.01, 50.0), (400.0, 50.0)]
)
def test_trim_when_stake_above_cap_then_cut_to_cap(proposed: float, expected: float) -> None:
    """A stake above 5 % of a 1000 wallet becomes exactly 50; smaller stakes are unchanged."""
    stake, decision = RULE.trim(proposed, wallet=1000.0, min_stake=1.0)
    assert decision.allowed
    assert stake == pytest.approx(expected)


def test_trim_when_trimmed_stake_below_minimum_then_refused() -> None:
    """Freqtrade would raise a too-small stake to its minimum and break the cap: refuse."""
    stake, decision = RULE.trim(400.0, wallet=100.0, min_stake=6.0)  # cap 5 < min 6
    assert stake == 0.0
    assert decision.reason is Reason.POSITION_SIZE
    assert "below the minimum stake 6" in decision.detail


def test_trim_when_wallet_empty_then_refused() -> None:
    """Nothing to stake from: refuse rather than divide by zero."""
    stake, decision = RULE.trim(10.0, wallet=0.0, min_stake=None)
    assert (stake, decision.allowed) == (0.0, False)


@pytest.mark.parametrize(("stake", "allowed"), [(50.0, True), (49.0, True), (50.5, False)])
def test_check_when_final_stake_above_cap_then_refused(stake: float, allowed: bool) -> None:
    """confirm_trade_entry's final stake is checked against the cap (boundary: equal allowed)."""
    decision = RULE.check(ctx(account(wallet=1000.0), entry(stake=stake)), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.POSITION_SIZE
