"""Small candle files for offline-exchange tests, in Freqtrade's feather layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01T00:00:00Z")


def write_candles(
    path: Path, n: int, *, timeframe: str = "5m", start: pd.Timestamp = START, price: float = 0.05
) -> pd.DataFrame:
    """Write ``n`` candles with a gentle deterministic walk; return the frame."""
    dates = pd.date_range(start=start, periods=n, freq=pd.Timedelta(timeframe.replace("m", "min")))
    steps = np.sin(np.arange(n) / 7.0) * 0.001
    close = np.round(price * np.exp(np.cumsum(steps)), 6)
    open_ = np.round(np.concatenate([[price], close[:-1]]), 6)
    frame = pd.DataFrame(
        {
            "date": dates,
            "open": open_,
            "high": np.round(np.maximum(open_, close) * 1.001, 6),
            "low": np.round(np.minimum(open_, close) * 0.999, 6),
            "close": close,
            "volume": np.round(100 + np.arange(n) % 17 * 3.5, 3),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_feather(path)
    return frame
