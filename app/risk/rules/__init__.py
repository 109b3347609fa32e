"""The guard rules, one per module, and the order the guard evaluates them in.

Account-level rules come first (cheap, and they set the risk state), then the rules on
the proposed entry, then the rules that need the pair's last candle (fetched only when
everything before passed). The first refusal wins, so the order decides which reason
an entry reports when several apply.
"""

from __future__ import annotations

from app.risk.rules.base import Rule
from app.risk.rules.circuit_breaker import CircuitBreakerRule
from app.risk.rules.daily_drawdown import DailyDrawdownRule
from app.risk.rules.daily_loss_cap import DailyLossCapRule
from app.risk.rules.entry_deviation import EntryDeviationRule
from app.risk.rules.loss_streak import LossStreakRule
from app.risk.rules.market_exposure import MarketExposureRule
from app.risk.rules.max_concurrent_trades import MaxConcurrentTradesRule
from app.risk.rules.near_liquidation import NearLiquidationRule
from app.risk.rules.position_size import PositionSizeRule
from app.risk.rules.stale_data import StaleDataRule
from app.risk.rules.total_exposure import TotalExposureRule
from app.settings import RiskSettings

RULE_TYPES: tuple[type[Rule], ...] = (
    CircuitBreakerRule,
    DailyDrawdownRule,
    DailyLossCapRule,
    LossStreakRule,
    MaxConcurrentTradesRule,
    PositionSizeRule,
    MarketExposureRule,
    TotalExposureRule,
    NearLiquidationRule,
    StaleDataRule,
    EntryDeviationRule,
)


def build_rules(settings: RiskSettings) -> tuple[Rule, ...]:
    """The rules that ``settings`` turn on, in evaluation order."""
    rules: list[Rule] = []
    for rule_type in RULE_TYPES:
        rule = rule_type.from_settings(settings)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


__all__ = [
    "RULE_TYPES",
    "CircuitBreakerRule",
    "DailyDrawdownRule",
    "DailyLossCapRule",
    "EntryDeviationRule",
    "LossStreakRule",
    "MarketExposureRule",
    "MaxConcurrentTradesRule",
    "NearLiquidationRule",
    "PositionSizeRule",
    "Rule",
    "StaleDataRule",
    "TotalExposureRule",
    "build_rules",
]
