"""Walk-forward folds: which candles each fold trains on and which it is tested on.

A range of ``n`` candles is split into ``K`` test windows of ``T`` candles that tile the
end of the range, each preceded by its training window::

    rolling  (default)   [---- train 1 ----][ test 1 ]
                                  [---- train 2 ----][ test 2 ]
    anchored             [---- train 1 ----][ test 1 ]
                         [--------- train 2 --------][ test 2 ]

``T = n // (train_ratio + K)``; the training window holds the remaining
``n - K * T`` candles (at least ``train_ratio * T``), so nothing is left over. A test
window always starts right after its training window ends: no candle is in both, and
training never sees the future. Freqtrade's timeranges include both ends, so each
window's stop is its last candle (``yyyymmddThhmm``). Freqtrade loads the strategy's
startup candles before every window itself (indicator warm-up, not training data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.errors import ConfigError

MIN_TEST_CANDLES = 12
# By length: strptime alone would read "T1230" with %H%M%S as 12:03:00.
_FORMATS = {8: "%Y%m%d", 13: "%Y%m%dT%H%M", 15: "%Y%m%dT%H%M%S"}
_TIMEFRAME_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Window:
    """Candles ``start`` <= open time < ``end`` (UTC)."""

    start: datetime
    end: datetime

    def timerange(self, candle: timedelta) -> str:
        """Freqtrade's ``--timerange`` for these candles (both ends inclusive)."""
        return f"{_fmt(self.start)}-{_fmt(self.end - candle)}"

    def candles(self, candle: timedelta) -> int:
        return int((self.end - self.start) / candle)

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class Fold:
    """One walk-forward step (``index`` counts from 1)."""

    index: int
    train: Window
    test: Window


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S" if moment.second else "%Y%m%dT%H%M")


def timeframe_seconds(timeframe: str) -> int:
    """``5m`` -> 300; :class:`ConfigError` for anything Freqtrade would not accept."""
    unit = timeframe[-1:]
    amount = timeframe[:-1]
    if unit not in _TIMEFRAME_UNITS or not amount.isdigit() or int(amount) < 1:
        raise ConfigError(
            f"timeframe {timeframe!r} is not valid; use e.g. 1m, 5m, 1h, 1d (set it in the config "
            "or with --timeframe)"
        )
    return int(amount) * _TIMEFRAME_UNITS[unit]


def _parse_moment(text: str, whole: str) -> datetime:
    fmt = _FORMATS.get(len(text))
    if fmt is not None:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise ConfigError(
        f"--timerange {whole!r}: {text!r} is not a date; use YYYYMMDD or YYYYMMDDTHHMM on both "
        "sides, e.g. 20180110-20180130"
    )


def parse_timerange(text: str) -> tuple[datetime, datetime]:
    """``START-END`` (both required, UTC) -> (start, stop); the stop is inclusive."""
    parts = text.split("-")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"--timerange {text!r} must be START-END with both dates, e.g. 20180110-20180130 "
            "(a sweep needs a closed range to split)"
        )
    start, stop = (_parse_moment(part, text) for part in parts)
    if stop <= start:
        raise ConfigError(f"--timerange {text!r} ends before it starts; swap or fix the dates")
    return start, stop


def split(
    start: datetime,
    stop: datetime,
    *,
    folds: int,
    timeframe: str,
    train_ratio: float = 2.0,
    anchored: bool = False,
) -> list[Fold]:
    """Split the candles from ``start`` to ``stop`` (inclusive) into walk-forward folds."""
    if folds < 1:
        raise ConfigError(f"--folds {folds} is not valid; use a whole number >= 1")
    if not train_ratio > 0:
        raise ConfigError(f"--train-ratio {train_ratio} is not valid; use a number > 0, e.g. 2")
    candle = timedelta(seconds=timeframe_seconds(timeframe))
    first = _align(start, candle, up=True)
    end = _align(stop, candle, up=False) + candle
    n = int((end - first) / candle)
    test_len = int(n // (train_ratio + folds))
    if test_len < MIN_TEST_CANDLES:
        raise ConfigError(
            f"--timerange {_fmt(start)}-{_fmt(stop)} holds {max(n, 0)} {timeframe} candles: "
            f"{folds} folds with --train-ratio {train_ratio} leave {test_len} candles per test "
            f"window (need >= {MIN_TEST_CANDLES}); use fewer folds or a longer range"
        )
    train_len = n - folds * test_len
    result = []
    for i in range(folds):
        test_start = first + (train_len + i * test_len) * candle
        train_start = first if anchored else first + i * test_len * candle
        result.append(
            Fold(
                index=i + 1,
                train=Window(train_start, test_start),
                test=Window(test_start, test_start + test_len * candle),
            )
        )
    return result


def _align(moment: datetime, candle: timedelta, *, up: bool) -> datetime:
    """The candle open time at or after (``up``) / at or before ``moment``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps, rest = divmod(moment - epoch, candle)
    if up and rest:
        steps += 1
    return epoch + steps * candle
