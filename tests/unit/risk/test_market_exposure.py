"""The per-market exposure rule (app/risk/rules/market_exposure.py)."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason
from app.risk.rules import MarketExposureRule
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

RULE = MarketExposureRule(0.1)  # 10 % of the wallet per market
OPEN = (OpenPosition("ETH/BTC", 60.0), OpenPosition("LTC/BTC", 90.0))


def test_rule_when_variable_unset_then_off() -> None:
    """No RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT, no rule."""
    assert MarketExposureRule.from_settings(settings()) is None
    assert MarketExposureRule.from_settings(settings(live_max_per_market_exposure_pct="0.2"))


@pytest.mark.parametrize(
    ("pair", "stake", "allowed"),
    [
        ("ETH/BTC", 40.0, True),  # 60 + 40 = 100 = 10 %: at the limit
        ("ETH/BTC", 40.5, False),
        ("LTC/BTC", 10.5, False),
        ("ADA/BTC", 100.0, True),  # nothing open there yet
        ("ADA/BTC", 100.5, False),
    ],
)
def test_entry_when_market_stake_exceeds_limit_then_refused(
    pair: str, stake: float, allowed: bool
) -> None:
    """Open stake in the same pair plus the new stake must stay <= 10 % of 1000."""
    decision = RULE.check(ctx(account(positions=OPEN), entry(pair=pair, stake=stake)), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.MARKET_EXPOSURE
        assert pair in decision.detail


def test_entry_when_wallet_zero_then_refused() -> None:
    """An empty wallet cannot carry any exposure."""
    assert not RULE.check(ctx(account(wallet=0.0), entry()), NOW).allowed


@pytest.mark.parametrize(("excess", "allowed"), FLOAT_NOISE)
def test_entry_when_over_limit_by_float_noise_then_allowed_up_to_one_part_per_billion(
    excess: float, allowed: bool
) -> None:
    """Stake round trips are not exact: up to 1e-9 above the limit (inclusive) passes."""
    stake = 100.0 * (1 + excess)  # nothing open in ADA/BTC; the limit is 10 % of 1000

    decision = RULE.check(ctx(account(positions=OPEN), entry(pair="ADA/BTC", stake=stake)), NOW)

    assert decision.allowed is allowed


@pytest.mark.parametrize("wallet", NOT_POSITIVE_WALLETS)
def test_entry_when_wallet_not_positive_then_refused_whatever_the_stake(wallet: float) -> None:
    """No positive wallet, no exposure at all: even a zero stake is refused, as infinite."""
    decision = RULE.check(ctx(account(wallet=wallet), entry(stake=0.0)), NOW)

    assert not decision.allowed
    assert "(inf % of wallet" in decision.detail


def test_entry_when_wallet_below_one_then_limit_scales_with_it() -> None:
    """A wallet below one unit keeps its 10 % limit (0.05 of 0.5), judged normally."""
    small = account(wallet=0.5)

    assert RULE.check(ctx(small, entry(stake=0.04)), NOW).allowed
    decision = RULE.check(ctx(small, entry(stake=0.08)), NOW)
    assert not decision.allowed
    assert "(16.00 % of wallet 0.5)" in decision.detail


def test_refusal_when_over_limit_then_detail_names_stake_share_and_limit() -> None:
    """The detail names the pair, its stake after the entry, the share and the variable."""
    decision = RULE.check(ctx(account(positions=OPEN), entry(stake=45.0)), NOW)

    assert decision.detail == (
        "ETH/BTC stake would be 105 (10.50 % of wallet 1000), "
        "limit RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT=0.1"
    )
