"""A minimal strategy with hyperoptable parameters, for the parameter promotion tests."""

from __future__ import annotations

from freqtrade.strategy import BooleanParameter, IntParameter, IStrategy
from pandas import DataFrame


class TinyParamStrategy(IStrategy):  # type: ignore[misc]  # Freqtrade ships no type stubs
    """Enters when the fast mean crosses the slow one; only the parameters matter here."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.05}  # noqa: RUF012  # Freqtrade reads these class attributes
    stoploss = -0.10

    buy_fast = IntParameter(2, 20, default=5, space="buy")
    sell_slow = IntParameter(20, 100, default=30, space="sell")
    buy_enabled = BooleanParameter(default=True, space="buy")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
