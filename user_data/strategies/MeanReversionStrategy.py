"""RSI + Bollinger band mean reversion (counter-trend, long only).

Idea: in a market without a strong trend, a close below the lower Bollinger band while
RSI is oversold is more often an overreaction than news; buy it and sell the return
towards the mean: exit when the close is back above the middle band, or when RSI is
overbought. ADX must be *low* (no strong trend) for an entry, because buying dips in a
trending-down market is how mean reversion loses.

When it fails: in crashes and persistent downtrends ("catching a falling knife"): the
price keeps closing under the band, every entry is stopped out, and the stop is the only
protection; the stoploss guard pauses trading after a cluster of such losses. Low
volatility makes the bands narrow, so targets shrink towards the fees. Regime changes
(range to trend) hurt before ADX reacts.

Hyperopt: ``buy`` (band length and width, RSI length and level, ADX ceiling), ``sell``
(RSI exit level, middle-band exit), ``protection`` (cooldown, stoploss guard) and
``roi``/``stoploss``/``trailing`` with ranges for short, small-target trades.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import talib
from freqtrade.optimize.space import Categorical, Dimension, Integer, SKDecimal
from freqtrade.strategy import BooleanParameter, DecimalParameter, IntParameter
from pandas import DataFrame

from app.strategies import GuardedStrategy
from app.strategies.toolkit import cooldown_and_stoploss_guard, with_columns

ADX_PERIOD = 14


class MeanReversionStrategy(GuardedStrategy):
    """Close under the lower band with RSI oversold and ADX low; exit at the mean."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False

    minimal_roi = {"0": 0.03, "120": 0.015, "360": 0.005}
    stoploss = -0.05
    trailing_stop = False
    process_only_new_candles = True
    use_exit_signal = True
    exit_profit_only = False
    ignore_roi_if_entry_signal = False

    # RSI(<= 21) and ADX(14) are Wilder averages; ADX smooths twice. ~250 candles bring
    # their seed error below 1e-6 (recursive-analysis checks it); bands are exact after 30.
    startup_candle_count: int = 250

    buy_bb_period = IntParameter(14, 30, default=20, space="buy", optimize=True)
    buy_bb_width = DecimalParameter(1.5, 3.0, default=2.0, decimals=1, space="buy")
    buy_rsi_period = IntParameter(7, 21, default=14, space="buy", optimize=True)
    buy_rsi = IntParameter(10, 40, default=30, space="buy", optimize=True)
    buy_adx_max = IntParameter(15, 45, default=30, space="buy", optimize=True)
    sell_rsi = IntParameter(50, 85, default=70, space="sell", optimize=True)
    sell_at_mid = BooleanParameter(default=True, space="sell", optimize=True)

    protect_cooldown = IntParameter(0, 24, default=3, space="protection", optimize=True)
    protect_stop_guard = BooleanParameter(default=True, space="protection", optimize=True)
    protect_stop_limit = IntParameter(2, 6, default=2, space="protection", optimize=True)
    protect_stop_pause = IntParameter(12, 288, default=72, space="protection", optimize=True)

    class HyperOpt:
        """Spaces for ``--spaces roi stoploss trailing``: small targets, short holds."""

        @staticmethod
        def stoploss_space() -> list[Dimension]:
            return [SKDecimal(-0.12, -0.02, decimals=3, name="stoploss")]

        @staticmethod
        def roi_space() -> list[Dimension]:
            return [
                Integer(30, 360, name="roi_t1"),
                Integer(20, 240, name="roi_t2"),
                Integer(10, 120, name="roi_t3"),
                SKDecimal(0.003, 0.02, decimals=3, name="roi_p1"),
                SKDecimal(0.003, 0.03, decimals=3, name="roi_p2"),
                SKDecimal(0.005, 0.05, decimals=3, name="roi_p3"),
            ]

        @staticmethod
        def trailing_space() -> list[Dimension]:
            return [
                Categorical([True], name="trailing_stop"),
                SKDecimal(0.003, 0.02, decimals=3, name="trailing_stop_positive"),
                SKDecimal(0.002, 0.02, decimals=3, name="trailing_stop_positive_offset_p1"),
                Categorical([True, False], name="trailing_only_offset_is_reached"),
            ]

    @property
    def protections(self) -> list[dict[str, Any]]:
        """A cooldown per pair after each exit; a global pause after clustered stoplosses
        (a falling market stops out several pairs at once).

        Active in live/dry-run always, in backtests with ``--enable-protections`` (the
        sweep passes it) and in hyperopt when the ``protection`` space is optimised.
        """
        return cooldown_and_stoploss_guard(
            timeframe=self.timeframe,
            cooldown_candles=self.protect_cooldown.value,
            stop_guard=self.protect_stop_guard.value,
            stop_limit=self.protect_stop_limit.value,
            stop_pause_candles=self.protect_stop_pause.value,
        )

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """Band centre and deviation for every band length, RSI for every RSI length, ADX.

        The band *width* multiplies a precomputed deviation in the signal step, so each
        hyperopt epoch costs one multiplication, not a new indicator.
        """
        close = dataframe["close"].to_numpy(dtype=np.float64)
        high = dataframe["high"].to_numpy(dtype=np.float64)
        low = dataframe["low"].to_numpy(dtype=np.float64)
        columns: dict[str, np.ndarray] = {}
        for n in self.buy_bb_period.range:
            columns[f"bb_mid_{n}"] = talib.SMA(close, timeperiod=n)
            columns[f"bb_std_{n}"] = talib.STDDEV(close, timeperiod=n, nbdev=1.0)
        for n in self.buy_rsi_period.range:
            columns[f"rsi_{n}"] = talib.RSI(close, timeperiod=n)
        columns["adx"] = talib.ADX(high, low, close, timeperiod=ADX_PERIOD)
        return with_columns(dataframe, columns)

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        n = self.buy_bb_period.value
        lower = dataframe[f"bb_mid_{n}"] - self.buy_bb_width.value * dataframe[f"bb_std_{n}"]
        rsi = dataframe[f"rsi_{self.buy_rsi_period.value}"]
        entry = (
            (dataframe["close"] < lower)
            & (rsi < self.buy_rsi.value)
            & (dataframe["adx"] < self.buy_adx_max.value)
            & (dataframe["volume"] > 0)
        )
        dataframe.loc[entry, ["enter_long", "enter_tag"]] = (1, "band_oversold")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        live = dataframe["volume"] > 0
        overbought = (dataframe[f"rsi_{self.buy_rsi_period.value}"] > self.sell_rsi.value) & live
        dataframe.loc[overbought, ["exit_long", "exit_tag"]] = (1, "rsi_overbought")
        if self.sell_at_mid.value:
            mid = dataframe["close"] > dataframe[f"bb_mid_{self.buy_bb_period.value}"]
            back = mid & ~overbought & live
            dataframe.loc[back, ["exit_long", "exit_tag"]] = (1, "band_mid")
        return dataframe
