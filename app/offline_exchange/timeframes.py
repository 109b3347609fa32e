"""Timeframe arithmetic shared by the candle store, the replay clock and the API.

Kept free of Freqtrade and ccxt imports: the offline exchange starts inside the
runner before Freqtrade does, and importing either costs most of a second.
"""

from __future__ import annotations

import re

from app.errors import ConfigError

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}

# Intervals Binance accepts for klines (spot and USD-M futures). "1M" (calendar month) is
# accepted by Binance but has no fixed length; the offline exchange does not serve it.
BINANCE_INTERVALS: tuple[str, ...] = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
)  # fmt: skip

_TIMEFRAME = re.compile(r"^(\d+)([smhdw])$")


def timeframe_to_ms(timeframe: str) -> int:
    """Length of one candle in milliseconds: ``"5m"`` -> 300000.

    Raises :class:`ConfigError` for anything that is not ``<number><s|m|h|d|w>``.
    """
    match = _TIMEFRAME.match(timeframe)
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(
            f"timeframe {timeframe!r} is not understood; use a number and one of s, m, h, d, w "
            "(e.g. 5m, 1h, 1d)"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


# Binance weekly candles open on Mondays; the Unix epoch was a Thursday.
_WEEK_MS = _UNIT_MS["w"]
_WEEK_OFFSET_MS = 4 * _UNIT_MS["d"]


def candle_open_ms(timestamp_ms: int, step_ms: int) -> int:
    """Open time of the candle of length ``step_ms`` that contains ``timestamp_ms``."""
    offset = _WEEK_OFFSET_MS if step_ms == _WEEK_MS else 0
    return timestamp_ms - (timestamp_ms - offset) % step_ms
