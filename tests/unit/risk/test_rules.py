"""The rule registry (app/risk/rules/__init__.py): which rules settings turn on, in what order."""

from __future__ import annotations

from app.risk.rules import (
    RULE_TYPES,
    CircuitBreakerRule,
    DailyLossCapRule,
    StaleDataRule,
    build_rules,
)
from tests.unit.risk.builders import settings

EVERY_RULE_ON = {
    "max_daily_drawdown_pct": "0.1",
    "daily_loss_cap_pct": "0.05",
    "loss_streak_max": "3",
    "live_max_concurrent_trades": "4",
    "max_position_pct": "0.1",
    "live_max_per_market_exposure_pct": "0.2",
    "max_exposure_pct": "0.5",
    "near_liq_buffer_multiplier": "2",
    "data_stale_timeout_sec": "60",
    "max_entry_deviation_pct": "0.02",
}


def test_build_rules_when_nothing_set_then_only_the_circuit_breaker() -> None:
    """The breaker has no off switch; every other rule is off until its variable is set."""
    assert [type(rule) for rule in build_rules(settings())] == [CircuitBreakerRule]


def test_build_rules_when_some_set_then_those_in_evaluation_order() -> None:
    """Only the configured rules are built, in RULE_TYPES order whatever the settings order."""
    rules = build_rules(settings(data_stale_timeout_sec="30", daily_loss_cap_pct="0.05"))

    assert [type(rule) for rule in rules] == [CircuitBreakerRule, DailyLossCapRule, StaleDataRule]


def test_build_rules_when_every_variable_set_then_every_rule_once_in_order() -> None:
    """With every variable set, the rules are exactly RULE_TYPES, by their stable names."""
    rules = build_rules(settings(**EVERY_RULE_ON))

    assert tuple(type(rule) for rule in rules) == RULE_TYPES
    assert [rule.name for rule in rules] == [
        "circuit_breaker",
        "daily_drawdown",
        "daily_loss_cap",
        "loss_streak",
        "max_concurrent_trades",
        "position_size",
        "market_exposure",
        "total_exposure",
        "near_liquidation",
        "stale_data",
        "entry_deviation",
    ]


def test_rule_order_when_read_then_account_rules_first_and_candle_rules_last() -> None:
    """Account-level rules come first and the rules that need a candle last (fetched lazily)."""
    ranks = [0 if t.account_level else 2 if t.needs_candle else 1 for t in RULE_TYPES]

    assert ranks == sorted(ranks)
    assert ranks[0] == 0 and ranks[-1] == 2
