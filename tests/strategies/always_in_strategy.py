"""Test-only strategy for the in-bot Telegram tests: enters at once, records its loop times.

``AlwaysInStrategy`` signals an entry on every candle and never exits (no ROI, a far
stop), so a dry-run bot opens its trades on the first loops and a tiny
``RISK_DAILY_LOSS_CAP_PCT`` halts it on the fees alone. Each ``bot_loop_start`` appends
its wall-clock time to ``user_data/loop_times.txt`` (one float per line), so a test can
see whether the loop kept its pace while Telegram hung.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from pandas import DataFrame

from app.strategies import GuardedStrategy

LOOP_TIMES = Path("user_data/loop_times.txt")


class AlwaysInStrategy(GuardedStrategy):
    """Enters on every candle, never exits."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False
    minimal_roi: ClassVar[dict[str, float]] = {"0": 100.0}
    stoploss = -0.99
    process_only_new_candles = True
    use_exit_signal = False
    startup_candle_count = 1

    def populate_indicators(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        dataframe.loc[:, ["enter_long", "enter_tag"]] = (1, "always")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        return dataframe

    def on_bot_loop_start(self, current_time: Any, **kwargs: Any) -> None:
        with LOOP_TIMES.open("a") as out:
            out.write(f"{time.time()}\n")
