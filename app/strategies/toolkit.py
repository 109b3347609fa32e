"""Small pieces the project's strategies share (pure; no guard logic here).

* :func:`with_columns`: add indicator arrays to a candle frame in one step;
* :func:`cooldown_and_stoploss_guard`: Freqtrade protection settings from four
  hyperoptable values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from freqtrade.exchange import timeframe_to_seconds
from pandas import DataFrame, concat

SECONDS_PER_DAY = 86_400


def with_columns(dataframe: DataFrame, columns: dict[str, np.ndarray]) -> DataFrame:
    """``dataframe`` plus ``columns`` in one step, without copying the arrays.

    (One ``concat`` instead of a column-by-column insert; ``copy=False`` keeps TA-Lib's
    arrays as they are instead of stacking them into a new block.)
    """
    new = DataFrame(columns, index=dataframe.index, copy=False)
    return concat([dataframe, new], axis=1)


def cooldown_and_stoploss_guard(
    *,
    timeframe: str,
    cooldown_candles: int,
    stop_guard: bool,
    stop_limit: int,
    stop_pause_candles: int,
) -> list[dict[str, Any]]:
    """A cooldown per pair after each exit (none when ``cooldown_candles`` is 0) and, with
    ``stop_guard``, a pause of all pairs after ``stop_limit`` stoplosses within one day."""
    guards: list[dict[str, Any]] = []
    if cooldown_candles > 0:
        guards.append({"method": "CooldownPeriod", "stop_duration_candles": cooldown_candles})
    if stop_guard:
        guards.append(
            {
                "method": "StoplossGuard",
                "lookback_period_candles": SECONDS_PER_DAY // timeframe_to_seconds(timeframe),
                "trade_limit": stop_limit,
                "stop_duration_candles": stop_pause_candles,
                "only_per_pair": False,
            }
        )
    return guards
