"""Shared strategy pieces (app/strategies/toolkit.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.strategies.toolkit import cooldown_and_stoploss_guard, with_columns


def test_with_columns_when_added_then_original_kept_and_arrays_not_copied() -> None:
    """New columns come after the candle columns; TA-Lib's arrays are used as they are."""
    frame = pd.DataFrame({"close": [1.0, 2.0, 3.0]}, index=pd.RangeIndex(3))
    atr = np.array([np.nan, 0.5, 0.7])

    out = with_columns(frame, {"atr": atr, "flag": np.array([0.0, 1.0, 0.0])})

    assert list(out.columns) == ["close", "atr", "flag"]
    assert out["close"].tolist() == [1.0, 2.0, 3.0]
    assert np.shares_memory(out["atr"].to_numpy(), atr)
    assert list(frame.columns) == ["close"]  # the input frame is not changed


@pytest.mark.parametrize(("timeframe", "day"), [("5m", 288), ("15m", 96), ("1h", 24)])
def test_protections_when_all_on_then_cooldown_and_one_day_stoploss_guard(
    timeframe: str, day: int
) -> None:
    """The stoploss guard looks back one day, whatever the timeframe."""
    guards = cooldown_and_stoploss_guard(
        timeframe=timeframe, cooldown_candles=6, stop_guard=True, stop_limit=3,
        stop_pause_candles=48,
    )  # fmt: skip
    assert guards == [
        {"method": "CooldownPeriod", "stop_duration_candles": 6},
        {
            "method": "StoplossGuard",
            "lookback_period_candles": day,
            "trade_limit": 3,
            "stop_duration_candles": 48,
            "only_per_pair": False,
        },
    ]


def test_protections_when_cooldown_zero_and_guard_off_then_none() -> None:
    """Both protections can be switched off by hyperopt."""
    guards = cooldown_and_stoploss_guard(
        timeframe="5m", cooldown_candles=0, stop_guard=False, stop_limit=2,
        stop_pause_candles=12,
    )  # fmt: skip
    assert guards == []
