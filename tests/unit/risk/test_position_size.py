"""The position size rule (app/risk/rules/position_size.py): trim, refuse below minimum."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason
from app.risk.rules import PositionSizeRule
from tests.unit.risk.builders import (
    FLOAT_NOISE,
    NOT_POSITIVE_WALLETS,
    NOW,
    account,
    ctx,
    entry,
    settings,
)

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


@pytest.mark.parametrize(
    ("wallet", "cap"), [(1000.0, 50.0), (0.5, 0.025), (0.0, 0.0), (-100.0, 0.0)]
)
def test_cap_when_wallet_given_then_share_of_it_never_negative(wallet: float, cap: float) -> None:
    """The cap is 5 % of the wallet, and zero (never negative) for an empty or negative one."""
    assert RULE.cap(wallet) == pytest.approx(cap)


@pytest.mark.parametrize("wallet", [0.0, -100.0])
def test_trim_when_wallet_not_positive_then_refused_naming_it(wallet: float) -> None:
    """An empty or negative wallet stakes nothing, with or without a minimum stake."""
    stake, decision = RULE.trim(10.0, wallet=wallet, min_stake=None)

    assert (stake, decision.allowed) == (0.0, False)
    assert decision.detail == f"wallet is {wallet:.8g}: nothing to stake"


def test_trim_when_wallet_below_one_then_trimmed_like_any_other() -> None:
    """A wallet below one unit is trimmed to its 5 %, not refused."""
    stake, decision = RULE.trim(1.0, wallet=0.5, min_stake=None)

    assert decision.allowed
    assert stake == pytest.approx(0.025)


@pytest.mark.parametrize(("min_stake", "allowed"), [(49.99, True), (50.0, True), (50.01, False)])
def test_trim_when_trimmed_stake_at_the_minimum_then_allowed(
    min_stake: float, allowed: bool
) -> None:
    """A trimmed stake equal to the minimum stake is placed; only below it is refused."""
    stake, decision = RULE.trim(400.0, wallet=1000.0, min_stake=min_stake)

    assert decision.allowed is allowed
    assert stake == (50.0 if allowed else 0.0)


def test_trim_refusal_when_below_minimum_then_detail_names_every_number() -> None:
    """The detail names the proposed and trimmed stakes, the limit, the wallet and the minimum."""
    _, decision = RULE.trim(400.0, wallet=100.0, min_stake=6.0)

    assert decision.detail == (
        "stake 400 trimmed to 5 (RISK_MAX_POSITION_PCT=0.05 of wallet 100) is below the "
        "minimum stake 6"
    )


@pytest.mark.parametrize(("excess", "allowed"), FLOAT_NOISE)
def test_check_when_over_cap_by_float_noise_then_allowed_up_to_one_part_per_billion(
    excess: float, allowed: bool
) -> None:
    """amount x rate round trips are not exact: up to 1e-9 above the cap (inclusive) passes."""
    stake = 50.0 * (1 + excess)

    assert RULE.check(ctx(account(wallet=1000.0), entry(stake=stake)), NOW).allowed is allowed


@pytest.mark.parametrize("wallet", NOT_POSITIVE_WALLETS)
def test_check_when_wallet_not_positive_then_refused_whatever_the_stake(wallet: float) -> None:
    """No positive wallet: even a zero final stake is refused."""
    decision = RULE.check(ctx(account(wallet=wallet), entry(stake=0.0)), NOW)

    assert not decision.allowed
    assert decision.reason is Reason.POSITION_SIZE


def test_check_refusal_when_over_cap_then_detail_names_stake_share_cap() -> None:
    """The detail names the final stake, the limit as a percentage, the wallet and the cap."""
    decision = RULE.check(ctx(account(wallet=1000.0), entry(stake=60.0)), NOW)

    assert decision.detail == (
        "stake 60 is above 5.00 % of wallet 1000 (cap 50, RISK_MAX_POSITION_PCT=0.05)"
    )


def test_check_when_no_entry_then_allowed() -> None:
    """The account-state evaluation has no stake to judge."""
    assert RULE.check(ctx(account(wallet=0.0)), NOW).allowed


def test_check_when_wallet_below_one_then_judged_against_its_cap() -> None:
    """A wallet below one unit is checked against its 5 % like any other."""
    small = account(wallet=0.5)

    assert RULE.check(ctx(small, entry(stake=0.02)), NOW).allowed
    assert not RULE.check(ctx(small, entry(stake=0.03)), NOW).allowed
