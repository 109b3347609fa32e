"""Channel breakout with volume confirmation and an ATR stop (momentum, long only).

Idea: a close above the highest high of the previous N candles (a Donchian channel),
on volume well above its recent average, often starts a move as stops and late buyers
are triggered. Enter on that close; exit when the close falls below the lowest low of the
previous M candles (this trails the trade), or at the ATR stop: k ATRs of the signal
candle below the entry price, fixed for the trade's life (a turtle stop, set through
``custom_stoploss``). A hard stoploss caps the loss should the ATR be huge.

When it fails: in ranges, most breakouts fail and fall back into the channel (false
breakouts), each costing the distance to the stop plus fees; the protections pause
trading after a cluster of stoplosses. Gaps through the stop, thin books and news
spikes make the real fill worse than the backtest's. Volume spikes on a single
exchange can be wash trading rather than real interest.

Hyperopt: ``buy`` (channel length, volume factor), ``sell`` (exit channel, ATR multiple),
``protection`` (cooldown and stoploss guard), and ``roi``/``stoploss``/``trailing``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import talib
from freqtrade.optimize.space import Categorical, Dimension, Integer, SKDecimal
from freqtrade.persistence import Trade
from freqtrade.strategy import (
    BooleanParameter,
    DecimalParameter,
    IntParameter,
    stoploss_from_absolute,
    timeframe_to_seconds,
)
from pandas import DataFrame

from app.strategies import GuardedStrategy
from app.strategies.toolkit import cooldown_and_stoploss_guard, with_columns

ATR_PERIOD = 14
_CANDLE_NS: dict[str, int] = {}  # timeframe -> candle length in ns (parsed once)
VOLUME_MEAN = 48  # 4 h of 5m candles


class BreakoutStrategy(GuardedStrategy):
    """Donchian breakout on high volume; ATR stop from the entry; channel-low exit."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False

    minimal_roi = {"0": 0.10, "360": 0.04, "720": 0.02}
    stoploss = -0.08  # hard cap; the ATR stop in custom_stoploss is normally tighter
    use_custom_stoploss = True
    trailing_stop = False
    process_only_new_candles = True
    use_exit_signal = True
    exit_profit_only = False
    ignore_roi_if_entry_signal = False

    # ATR(14) is a Wilder average: ~200 candles bring its seed error below 1e-6; the
    # channels (<= 72) and the volume mean (48) are exact after their own length.
    startup_candle_count: int = 200

    buy_channel = IntParameter(12, 72, default=36, space="buy", optimize=True)
    buy_volume_factor = DecimalParameter(1.0, 4.0, default=2.0, decimals=1, space="buy")
    sell_channel = IntParameter(6, 48, default=24, space="sell", optimize=True)
    sell_atr_multiple = DecimalParameter(1.5, 5.0, default=3.0, decimals=1, space="sell")

    protect_cooldown = IntParameter(0, 24, default=6, space="protection", optimize=True)
    protect_stop_guard = BooleanParameter(default=True, space="protection", optimize=True)
    protect_stop_limit = IntParameter(2, 6, default=3, space="protection", optimize=True)
    protect_stop_pause = IntParameter(12, 144, default=48, space="protection", optimize=True)

    class HyperOpt:
        """Spaces for ``--spaces roi stoploss trailing``: wide targets, capped hard stop."""

        @staticmethod
        def stoploss_space() -> list[Dimension]:
            return [SKDecimal(-0.15, -0.03, decimals=3, name="stoploss")]

        @staticmethod
        def roi_space() -> list[Dimension]:
            return [
                Integer(60, 720, name="roi_t1"),
                Integer(60, 480, name="roi_t2"),
                Integer(30, 360, name="roi_t3"),
                SKDecimal(0.01, 0.05, decimals=3, name="roi_p1"),
                SKDecimal(0.01, 0.08, decimals=3, name="roi_p2"),
                SKDecimal(0.02, 0.15, decimals=3, name="roi_p3"),
            ]

        @staticmethod
        def trailing_space() -> list[Dimension]:
            return [
                Categorical([True], name="trailing_stop"),
                SKDecimal(0.01, 0.05, decimals=3, name="trailing_stop_positive"),
                SKDecimal(0.005, 0.05, decimals=3, name="trailing_stop_positive_offset_p1"),
                Categorical([True, False], name="trailing_only_offset_is_reached"),
            ]

    @property
    def protections(self) -> list[dict[str, Any]]:
        """A short cooldown per pair after each exit; a pause after clustered stoplosses.

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
        """Channels for every length the hyperopt ranges allow, ATR and the volume mean.

        Channels come from the *previous* candles (shifted by one), so a close can break
        above them; nothing looks past the current candle.
        """
        high = dataframe["high"].to_numpy(dtype=np.float64)
        low = dataframe["low"].to_numpy(dtype=np.float64)
        close = dataframe["close"].to_numpy(dtype=np.float64)
        volume = dataframe["volume"].to_numpy(dtype=np.float64)
        columns = {
            f"upper_{n}": _previous(talib.MAX(high, timeperiod=n)) for n in self.buy_channel.range
        }
        columns |= {
            f"lower_{n}": _previous(talib.MIN(low, timeperiod=n)) for n in self.sell_channel.range
        }
        columns["atr"] = talib.ATR(high, low, close, timeperiod=ATR_PERIOD)
        # .values of UTC dates is naive UTC datetime64 (any unit): as int64 nanoseconds.
        dates = dataframe["date"].values.astype("datetime64[ns]", copy=False).view(np.int64)
        self._atr_by_pair[metadata["pair"]] = (dates, columns["atr"])
        columns["volume_mean"] = _previous(talib.SMA(volume, timeperiod=VOLUME_MEAN))
        return with_columns(dataframe, columns)

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        upper = dataframe[f"upper_{self.buy_channel.value}"]
        breakout = (dataframe["close"] > upper) & (dataframe["close"].shift(1) <= upper.shift(1))
        loud = dataframe["volume"] > dataframe["volume_mean"] * self.buy_volume_factor.value
        entry = breakout & loud & (dataframe["volume"] > 0)
        dataframe.loc[entry, ["enter_long", "enter_tag"]] = (1, "channel_breakout")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        below = dataframe["close"] < dataframe[f"lower_{self.sell_channel.value}"]
        dataframe.loc[below & (dataframe["volume"] > 0), ["exit_long", "exit_tag"]] = (
            1,
            "channel_low",
        )
        return dataframe

    def custom_stoploss(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        after_fill: bool,
        **kwargs: Any,
    ) -> float | None:
        """The stop ``sell_atr_multiple`` ATRs below the entry price (a turtle stop).

        Called by Freqtrade for every open trade on every candle (in backtests with the
        candle's high as ``current_rate``). The ATR is the *signal* candle's, the last
        closed candle before the entry, so the stop uses only data known when the trade
        opened and stays fixed for the trade's life; it is never below the hard
        ``stoploss``, and the channel-low exit does the trailing.
        No network. When the signal candle's ATR is unknown it returns None and the
        current stop stays.
        """
        atr = self._signal_atr(pair, trade.open_date_utc)
        if atr is None:
            return None
        # Freqtrade also calls this right after the entry fills (``after_fill``) and then
        # accepts a stop *below* the current one, so the hard stoploss is enforced here too.
        hard_stop = trade.open_rate * (1 + self.stoploss)
        stop_rate = max(trade.open_rate - self.sell_atr_multiple.value * atr, hard_stop)
        if not after_fill and trade.stop_loss and trade.stop_loss >= stop_rate:
            return None  # already in place: spare Freqtrade re-rounding the same stop
        return stoploss_from_absolute(
            stop_rate, current_rate, is_short=trade.is_short, leverage=trade.leverage
        )

    def _signal_atr(self, pair: str, open_date: datetime) -> float | None:
        """ATR of the candle before the one ``open_date`` falls in (the signal candle).

        Looked up in the arrays ``populate_indicators`` kept for the pair: a binary search,
        since Freqtrade calls ``custom_stoploss`` for every open trade on every candle.
        """
        series = self._atr_by_pair.get(pair)
        if series is None:
            return None
        dates, atr = series
        candle_ns = _CANDLE_NS.get(self.timeframe) or _CANDLE_NS.setdefault(
            self.timeframe, timeframe_to_seconds(self.timeframe) * 1_000_000_000
        )
        opened_ns = int(open_date.timestamp()) * 1_000_000_000
        wanted = opened_ns - opened_ns % candle_ns - candle_ns
        index = int(np.searchsorted(dates, wanted))
        if index >= len(dates) or dates[index] != wanted:
            return None
        value = float(atr[index])
        return value if np.isfinite(value) and value > 0 else None

    @property
    def _atr_by_pair(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """pair -> (candle open times as int64 ns, ATR), refreshed by populate_indicators."""
        return self.__dict__.setdefault("_atr_arrays", {})


def _previous(values: np.ndarray) -> np.ndarray:
    """``values`` one candle later: row i holds the value of row i-1 (NaN first)."""
    out = np.empty_like(values)
    out[0] = np.nan
    out[1:] = values[:-1]
    return out
