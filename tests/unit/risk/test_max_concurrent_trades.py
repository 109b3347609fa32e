"""The max concurrent trades rule (app/risk/rules/max_concurrent_trades.py)."""

from __future__ import annotations

import pytest

from app.risk.decision import Reason
from app.risk.rules import MaxConcurrentTradesRule
from app.risk.snapshot import OpenPosition
from tests.unit.risk.builders import NOW, account, ctx, entry, settings


def _open(n: int) -> tuple[OpenPosition, ...]:
    return tuple(OpenPosition(pair=f"P{i}/BTC", stake=1.0) for i in range(n))


def test_rule_when_variable_unset_then_off() -> None:
    """No RISK_LIVE_MAX_CONCURRENT_TRADES, no rule."""
    assert MaxConcurrentTradesRule.from_settings(settings()) is None


@pytest.mark.parametrize(("open_trades", "allowed"), [(0, True), (1, True), (2, False), (5, False)])
def test_entry_when_open_trades_reach_limit_then_refused(open_trades: int, allowed: bool) -> None:
    """With a limit of 2, the third trade is refused (boundary: 2 open refuses)."""
    rule = MaxConcurrentTradesRule.from_settings(settings(live_max_concurrent_trades="2"))
    assert rule is not None
    decision = rule.check(ctx(account(positions=_open(open_trades)), entry()), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.MAX_CONCURRENT_TRADES
        assert f"{open_trades} trades open" in decision.detail


def test_account_evaluation_when_full_then_not_refused() -> None:
    """Without an entry the rule has nothing to refuse (it sets no risk state)."""
    rule = MaxConcurrentTradesRule(1)
    assert rule.check(ctx(account(positions=_open(3))), NOW).allowed
