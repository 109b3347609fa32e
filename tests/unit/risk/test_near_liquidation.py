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


@pytest.mark.parametrize(("side", "liquidation"), [("long", 200.0), ("short", 50.0)])
def test_entry_when_liquidation_far_on_the_wrong_side_then_refused(
    side: str, liquidation: float
) -> None:
    """A liquidation price beyond the entry on the profit side is nonsense, however far."""
    ent = entry(side=side, leverage=5.0, stoploss=-0.1, liquidation_price=liquidation)

    assert not RULE.check(ctx(account(), ent), NOW).allowed


@pytest.mark.parametrize("side", ["long", "short"])
def test_entry_when_liquidation_at_entry_price_then_refused_even_without_stop_distance(
    side: str,
) -> None:
    """Liquidation at the entry price is refused even when the stop distance is zero."""
    ent = entry(side=side, leverage=5.0, stoploss=0.0, liquidation_price=100.0)

    assert not RULE.check(ctx(account(), ent), NOW).allowed


def test_entry_when_side_string_built_at_run_time_then_still_long() -> None:
    """The side is compared by value: a ``"long"`` built at run time is a long."""
    side = "".join(["lo", "ng"])
    ent = entry(side=side, leverage=5.0, stoploss=-0.1, liquidation_price=95.0)

    assert RULE.check(ctx(account(), ent), NOW).allowed


def test_entry_when_stoploss_unknown_then_refused() -> None:
    """A known liquidation price is not enough: without a stoploss there is no buffer."""
    decision = RULE.check(ctx(account(), entry(leverage=3.0, liquidation_price=50.0)), NOW)

    assert decision.reason is Reason.NEAR_LIQUIDATION
    assert "unknown" in decision.detail


@pytest.mark.parametrize(("side", "rate"), [("long", 0.0), ("short", 0.0), ("short", -10.0)])
def test_entry_when_rate_not_positive_then_refused_as_unknown(side: str, rate: float) -> None:
    """A rate of zero or below gives no distance to judge: refuse without dividing by it."""
    ent = entry(side=side, rate=rate, leverage=5.0, stoploss=-0.1, liquidation_price=5.0)

    decision = RULE.check(ctx(account(), ent), NOW)

    assert decision.detail == ("ETH/BTC at leverage 5: liquidation price or stoploss unknown")


def test_entry_when_rate_below_one_then_judged_normally() -> None:
    """Cheap coins (a rate below 1) get the same buffer check as any other."""
    far = entry(rate=0.5, leverage=5.0, stoploss=-0.1, liquidation_price=0.475)
    near = entry(rate=0.5, leverage=5.0, stoploss=-0.1, liquidation_price=0.49)

    assert RULE.check(ctx(account(), far), NOW).allowed
    assert not RULE.check(ctx(account(), near), NOW).allowed


@pytest.mark.parametrize(("leverage", "allowed"), [(0.5, True), (1.5, False), (2.0, False)])
def test_entry_when_leverage_just_above_one_then_checked(leverage: float, allowed: bool) -> None:
    """Any leverage above 1 is checked (here liquidation 1 % away); at or below 1 passes."""
    ent = entry(leverage=leverage, stoploss=-0.1, liquidation_price=99.0)

    assert RULE.check(ctx(account(), ent), NOW).allowed is allowed


def test_refusal_when_near_then_detail_names_both_distances_and_multiplier() -> None:
    """The detail names side, rate, leverage, liquidation and both distances."""
    ent = entry(side="long", leverage=5.0, stoploss=-0.1, liquidation_price=97.0)

    assert RULE.check(ctx(account(), ent), NOW).detail == (
        "ETH/BTC long at 100 x5: liquidation 97 is 3.00 % away, less than "
        "RISK_NEAR_LIQ_BUFFER_MULTIPLIER=2 x stoploss distance 2.00 %"
    )
