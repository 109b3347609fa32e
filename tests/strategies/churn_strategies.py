"""Test-only strategies: the same busy signal with and without the risk guard.

``ChurnLogic`` enters often (close crosses above a short EMA) and exits fast (tight ROI and
stoploss), so a 3-week backtest on the shared 5m data has hundreds of entry attempts:
enough for every guard rule to act. ``ChurnStrategy`` is the plain Freqtrade version,
``GuardedChurnStrategy`` the guarded one (benchmarks compare the two), and
``ExplodingGuardStrategy`` has a rule that raises, so its guard fails on every entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import talib.abstract as ta
from freqtrade.strategy import IntParameter, IStrategy
from pandas import DataFrame

from app.risk.decision import Decision
from app.risk.guard import Guard
from app.risk.rules import Rule
from app.risk.snapshot import GuardContext
from app.settings import RiskSettings
from app.strategies import GuardedStrategy


class ChurnLogic(IStrategy):
    """Indicators and signals shared by the strategies below.

    An ``IStrategy`` itself (not a plain mixin): hyperopt registers every base class's module
    for pickling by value, and a mixin on ``object`` would drag in ``builtins``.
    """

    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False
    minimal_roi: ClassVar[dict[str, float]] = {"0": 0.01}
    stoploss = -0.01
    process_only_new_candles = True
    use_exit_signal = False
    startup_candle_count = 20

    # Hyperopt space for the epochs/s benchmark; the default gives the tests' trade lists.
    ema_period = IntParameter(5, 20, default=10, space="buy", optimize=True)

    def populate_indicators(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        columns = {f"ema_{n}": ta.EMA(dataframe["close"], timeperiod=n) for n in range(5, 21)}
        return dataframe.assign(**columns)

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        ema = dataframe[f"ema_{self.ema_period.value}"]
        cross = (dataframe["close"] > ema) & (dataframe["close"].shift(1) <= ema.shift(1))
        dataframe.loc[cross & (dataframe["volume"] > 0), ["enter_long", "enter_tag"]] = (1, "x")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        return dataframe


class ChurnStrategy(ChurnLogic):
    """Unguarded."""


class GuardedChurnStrategy(ChurnLogic, GuardedStrategy):
    """Guarded: every RISK_* rule applies."""


class _ExplodingRule(Rule):
    """A rule that raises: stands in for any bug inside the guard."""

    name = "exploding"

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> _ExplodingRule:
        return cls()

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        raise RuntimeError("forced guard failure (test)")


class ExplodingGuardStrategy(ChurnLogic, GuardedStrategy):
    """Its guard raises inside every entry check: every entry must be refused."""

    def on_bot_start(self, **kwargs: Any) -> None:
        runtime = self.guard_runtime
        assert runtime is not None
        old = runtime.guard
        runtime.guard = Guard(
            old.settings,
            mode=old.mode,
            breaker=old.breaker,
            incidents=old.incidents,
            correlation_id=old.correlation_id,
            run_id=old.run_id,
            rules=(*old.rules, _ExplodingRule()),
        )


class LeveragedChurnStrategy(ChurnLogic, GuardedStrategy):
    """Futures: asks for 5x leverage with a wide stop (30 % of the leveraged position)."""

    stoploss = -0.3

    def propose_leverage(self, **kwargs: Any) -> float:
        return 5.0
