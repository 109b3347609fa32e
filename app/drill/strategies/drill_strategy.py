"""``DrillStrategy``: enters whenever it is flat and leaves a few seconds later.

A drill's expectations ("no entries while the breaker is on", "entries resume") say
something only if the bot tries to enter many times a minute. This strategy does: every
whitelisted pair gets an entry signal on every loop in which its last closed candle has
volume (Freqtrade enters only pairs without an open trade), ``custom_exit`` closes each
trade ``HOLD_SECONDS`` after it opened, and Freqtrade's one-candle lock after an exit is
lifted at the next loop. With ``process_throttle_secs`` 1 and market orders, each pair
cycles about every five seconds. Every entry still goes through the risk guard
(``GuardedStrategy``): it is a paper-trading tool for rehearsing incidents, not a strategy
to trade.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from pandas import DataFrame

from app.strategies import GuardedStrategy

HOLD_SECONDS = 4.0


class DrillStrategy(GuardedStrategy):
    """Churns entries and exits; the guard decides which entries happen."""

    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    # Exits come from custom_exit; ROI and stoploss are out of the way (a drill's price
    # crash must show in the wallet, not be cut by a stop).
    minimal_roi: ClassVar[dict[str, float]] = {"0": 100.0}
    stoploss = -0.99
    use_exit_signal = True  # Freqtrade asks custom_exit only when exit signals are on
    # Freqtrade tries entries on every loop from the last analysed candle; analysing once per
    # new candle is enough (and costs the bot far less CPU than once per loop).
    process_only_new_candles = True
    startup_candle_count = 0

    def on_bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        """Lift Freqtrade's one-candle "Auto lock" of pairs just exited, so a pair re-enters
        on the next loop instead of the next candle (a protection's locks stay)."""
        self.unlock_reason("Auto lock")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        """No indicators."""
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        """Enter on every candle with volume (filled-in gaps have none)."""
        dataframe.loc[dataframe["volume"] > 0, ["enter_long", "enter_tag"]] = (1, "drill")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        """Exits come from custom_exit."""
        return dataframe

    def custom_exit(
        self,
        pair: str,
        trade: Any,  # freqtrade.persistence.Trade
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        **kwargs: Any,
    ) -> str | None:
        """Leave ``HOLD_SECONDS`` after the entry. Called every loop for each open trade."""
        if current_time - trade.open_date_utc >= timedelta(seconds=HOLD_SECONDS):
            return "drill_exit"
        return None
