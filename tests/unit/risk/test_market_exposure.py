"""The per-market exposure rule (app/risk/rules/market_exposure.py)."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason
from app.risk.rules import MarketExposureRule
from app.risk.snapshot import OpenPosition
from tests.unit.risk.builders import NOW, account, ctx, entry, settings

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
