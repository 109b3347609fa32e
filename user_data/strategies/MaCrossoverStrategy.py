"""Moving-average crossover with a trend filter.

Idea: enter long when a fast EMA crosses above a slow EMA while the close is above a
long trend SMA (trade with the larger trend only); exit when the fast EMA crosses back
below the slow one. ROI, stoploss and trailing stop bound each trade.

When it fails: in sideways, choppy markets the averages cross back and forth and
every crossover pays fees and a small loss ("whipsaw"); after sharp reversals the
slow average lags and the exit comes late.
"""

from __future__ import annotations

import talib.abstract as ta
from freqtrade.strategy import IntParameter, IStrategy
from pandas import DataFrame


class MaCrossoverStrategy(IStrategy):
    """EMA(fast) x EMA(slow) crossover, long only, filtered by close > SMA(trend)."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False

    minimal_roi = {"0": 0.06, "120": 0.03, "360": 0.01}
    stoploss = -0.05
    trailing_stop = False
    process_only_new_candles = True
    use_exit_signal = True

    fast_period = IntParameter(5, 25, default=12, space="buy", optimize=True)
    slow_period = IntParameter(26, 80, default=40, space="buy", optimize=True)
    trend_period = IntParameter(100, 250, default=200, space="buy", optimize=True)
    exit_fast_period = IntParameter(5, 25, default=12, space="sell", optimize=True)
    exit_slow_period = IntParameter(26, 80, default=40, space="sell", optimize=True)

    # EMAs converge from their seed; 3x the longest EMA plus the trend SMA keeps the
    # indicators independent of how much history was loaded (recursive-analysis).
    startup_candle_count: int = 250

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """Compute every EMA/SMA the hyperopt ranges can ask for, once per pair."""
        close = dataframe["close"]
        periods = set(self.fast_period.range) | set(self.slow_period.range)
        periods |= set(self.exit_fast_period.range) | set(self.exit_slow_period.range)
        columns = {f"ema_{p}": ta.EMA(close, timeperiod=p) for p in sorted(periods)}
        columns |= {f"sma_{p}": ta.SMA(close, timeperiod=p) for p in self.trend_period.range}
        return dataframe.assign(**columns)

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        fast = dataframe[f"ema_{self.fast_period.value}"]
        slow = dataframe[f"ema_{self.slow_period.value}"]
        trend = dataframe[f"sma_{self.trend_period.value}"]
        crossed_up = (fast > slow) & (fast.shift(1) <= slow.shift(1))
        entry = crossed_up & (dataframe["close"] > trend) & (dataframe["volume"] > 0)
        dataframe.loc[entry, ["enter_long", "enter_tag"]] = (1, "ema_cross_up")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        fast = dataframe[f"ema_{self.exit_fast_period.value}"]
        slow = dataframe[f"ema_{self.exit_slow_period.value}"]
        crossed_down = (fast < slow) & (fast.shift(1) >= slow.shift(1))
        dataframe.loc[crossed_down & (dataframe["volume"] > 0), ["exit_long", "exit_tag"]] = (
            1,
            "ema_cross_down",
        )
        return dataframe
