"""Moving-average crossover with a trend filter (trend following, long only).

Idea: enter when a fast EMA crosses above a slow EMA while the close is above a long
trend SMA that is itself rising, and ADX says the market is trending at all. Exit when
an (independently tuned) fast EMA crosses back below its slow EMA. ROI, a hard
stoploss and a trailing stop (1 % once 2 % up) bound each trade.

When it fails: in sideways, choppy markets the averages cross back and forth and every
crossover pays two fees and a small loss ("whipsaw"); the ADX and rising-trend filters
reduce, not remove, that. After sharp reversals both averages lag, so exits come late
and give back much of the move. On 5m candles fees are a large share of the average
move; the strategy needs moves of several tenths of a percent to break even.

Hyperopt: ``buy`` (fast/slow EMA, trend SMA, ADX floor), ``sell`` (exit EMAs), and
``roi``/``stoploss``/``trailing`` with ranges suited to this style (class ``HyperOpt``).
All EMAs and SMAs a hyperopt can ask for are computed once in ``populate_indicators``.
"""

from __future__ import annotations

import numpy as np
import talib
from freqtrade.optimize.space import Categorical, Dimension, Integer, SKDecimal
from freqtrade.strategy import CategoricalParameter, IntParameter
from pandas import DataFrame

from app.strategies import GuardedStrategy
from app.strategies.toolkit import with_columns

FAST_EMAS = (5, 20)
SLOW_EMAS = (21, 60)
TREND_SMAS = (96, 144, 192, 240)  # 8 h .. 20 h of 5m candles
ADX_PERIOD = 14
SLOPE_CANDLES = 12  # the trend SMA must be higher than one hour ago


class MaCrossoverStrategy(GuardedStrategy):
    """EMA(fast) x EMA(slow), long only, filtered by a rising SMA(trend) and ADX."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False

    minimal_roi = {"0": 0.04, "180": 0.02, "480": 0.01}
    stoploss = -0.04
    trailing_stop = True
    trailing_stop_positive = 0.01
    trailing_stop_positive_offset = 0.02
    trailing_only_offset_is_reached = True
    process_only_new_candles = True
    use_exit_signal = True
    exit_profit_only = False
    ignore_roi_if_entry_signal = False

    # The slowest EMA (60) converges to 1e-6 of its seed error after ~280 candles, ADX(14)
    # (two Wilder smoothings) after ~250; the trend SMA needs 240 + the slope lag.
    # recursive-analysis checks this in tests/integration/test_bias.py.
    startup_candle_count: int = 300

    buy_fast = IntParameter(*FAST_EMAS, default=12, space="buy", optimize=True)
    buy_slow = IntParameter(*SLOW_EMAS, default=26, space="buy", optimize=True)
    buy_trend = CategoricalParameter(TREND_SMAS, default=192, space="buy", optimize=True)
    buy_adx = IntParameter(15, 35, default=25, space="buy", optimize=True)
    sell_fast = IntParameter(*FAST_EMAS, default=12, space="sell", optimize=True)
    sell_slow = IntParameter(*SLOW_EMAS, default=26, space="sell", optimize=True)

    class HyperOpt:
        """Spaces for ``--spaces roi stoploss trailing`` sized for 5m trend trades."""

        @staticmethod
        def stoploss_space() -> list[Dimension]:
            return [SKDecimal(-0.10, -0.015, decimals=3, name="stoploss")]

        @staticmethod
        def roi_space() -> list[Dimension]:
            return [
                Integer(30, 240, name="roi_t1"),
                Integer(30, 240, name="roi_t2"),
                Integer(30, 180, name="roi_t3"),
                SKDecimal(0.005, 0.03, decimals=3, name="roi_p1"),
                SKDecimal(0.005, 0.04, decimals=3, name="roi_p2"),
                SKDecimal(0.01, 0.08, decimals=3, name="roi_p3"),
            ]

        @staticmethod
        def trailing_space() -> list[Dimension]:
            return [
                Categorical([True], name="trailing_stop"),
                SKDecimal(0.005, 0.03, decimals=3, name="trailing_stop_positive"),
                SKDecimal(0.002, 0.03, decimals=3, name="trailing_stop_positive_offset_p1"),
                Categorical([True, False], name="trailing_only_offset_is_reached"),
            ]

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """Every EMA/SMA the current hyperopt ranges can ask for, plus ADX; once per pair.

        Outside hyperopt ``.range`` is just the parameter's value, so a backtest or a bot
        computes only what it uses.
        """
        close = dataframe["close"].to_numpy(dtype=np.float64)
        high = dataframe["high"].to_numpy(dtype=np.float64)
        low = dataframe["low"].to_numpy(dtype=np.float64)
        emas = {*self.buy_fast.range, *self.buy_slow.range}
        emas |= {*self.sell_fast.range, *self.sell_slow.range}
        columns = {f"ema_{p}": talib.EMA(close, timeperiod=p) for p in sorted(emas)}
        for p in self.buy_trend.range:
            sma = talib.SMA(close, timeperiod=p)
            columns[f"sma_{p}"] = sma
            columns[f"sma_{p}_rising"] = _rising(sma, SLOPE_CANDLES)
        columns["adx"] = talib.ADX(high, low, close, timeperiod=ADX_PERIOD)
        return with_columns(dataframe, columns)

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        fast = dataframe[f"ema_{self.buy_fast.value}"]
        slow = dataframe[f"ema_{self.buy_slow.value}"]
        trend = f"sma_{self.buy_trend.value}"
        crossed_up = (fast > slow) & (fast.shift(1) <= slow.shift(1))
        entry = (
            crossed_up
            & (dataframe["close"] > dataframe[trend])
            & (dataframe[f"{trend}_rising"] > 0)
            & (dataframe["adx"] > self.buy_adx.value)
            & (dataframe["volume"] > 0)
        )
        dataframe.loc[entry, ["enter_long", "enter_tag"]] = (1, "ema_cross_up")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        fast = dataframe[f"ema_{self.sell_fast.value}"]
        slow = dataframe[f"ema_{self.sell_slow.value}"]
        crossed_down = (fast < slow) & (fast.shift(1) >= slow.shift(1))
        exit_ = crossed_down & (dataframe["volume"] > 0)
        dataframe.loc[exit_, ["exit_long", "exit_tag"]] = (1, "ema_cross_down")
        return dataframe


def _rising(values: np.ndarray, lag: int) -> np.ndarray:
    """1.0 where ``values`` is above its value ``lag`` candles earlier, else 0.0 (past only)."""
    out = np.zeros_like(values)
    out[lag:] = values[lag:] > values[:-lag]
    return out
