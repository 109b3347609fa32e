"""The total exposure rule (app/risk/rules/total_exposure.py)."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason
from app.risk.rules import TotalExposureRule
from app.risk.snapshot import OpenPosition
from tests.unit.risk.builders import (
    FLOAT_NOISE,
    NOT_POSITIVE_WALLETS,
    NOW,
    account,
    ctx,
    entry,
    settings,
)

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


@pytest.mark.parametrize(("excess", "allowed"), FLOAT_NOISE)
def test_entry_when_over_limit_by_float_noise_then_allowed_up_to_one_part_per_billion(
    excess: float, allowed: bool
) -> None:
    """Stake round trips are not exact: up to 1e-9 above the limit (inclusive) passes."""
    stake = 500.0 * (1 + excess)  # nothing open; the limit is 50 % of 1000

    assert RULE.check(ctx(account(), entry(stake=stake)), NOW).allowed is allowed


@pytest.mark.parametrize("wallet", NOT_POSITIVE_WALLETS)
def test_entry_when_wallet_not_positive_then_refused_whatever_the_stake(wallet: float) -> None:
    """No positive wallet, no exposure at all: even a zero stake is refused, as infinite."""
    decision = RULE.check(ctx(account(wallet=wallet), entry(stake=0.0)), NOW)

    assert not decision.allowed
    assert "(inf % of wallet" in decision.detail


def test_entry_when_wallet_below_one_then_limit_scales_with_it() -> None:
    """A wallet below one unit keeps its 50 % limit (0.25 of 0.5), judged normally."""
    small = account(wallet=0.5)

    assert RULE.check(ctx(small, entry(stake=0.2)), NOW).allowed
    decision = RULE.check(ctx(small, entry(stake=0.3)), NOW)
    assert not decision.allowed
    assert "(60.00 % of wallet 0.5)" in decision.detail


def test_refusal_when_over_limit_then_detail_names_total_share_and_limit() -> None:
    """The detail names the open stake after the entry and its share of the wallet."""
    decision = RULE.check(ctx(account(positions=OPEN), entry(stake=60.0)), NOW)

    assert decision.detail == (
        "open stake would be 510 (51.00 % of wallet 1000), limit RISK_MAX_EXPOSURE_PCT=0.5"
    )


def test_account_evaluation_when_no_entry_then_allowed() -> None:
    """Without an entry there is no new stake to judge, however much is open."""
    assert RULE.check(ctx(account(wallet=100.0, positions=OPEN)), NOW).allowed
