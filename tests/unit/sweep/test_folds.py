"""Walk-forward folds: timerange parsing, window arithmetic, and bad input."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from app.errors import ConfigError
from app.sweep.folds import Window, parse_timerange, split, timeframe_seconds

FIVE_MIN = timedelta(minutes=5)
START = datetime(2018, 1, 10, tzinfo=UTC)
STOP = datetime(2018, 1, 30, tzinfo=UTC)


def test_parse_timerange_when_dates_and_times_then_utc_moments() -> None:
    """Both sides accept YYYYMMDD and YYYYMMDDTHHMM and are read as UTC."""
    start, stop = parse_timerange("20180110-20180130T1230")

    assert start == START
    assert stop == datetime(2018, 1, 30, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("20180110-", "both dates"),
        ("-20180130", "both dates"),
        ("20180110", "both dates"),
        ("2018-01-10-2018-01-30", "both dates"),
        ("20180110-2018013x", "is not a date"),
        ("20180110T12-20180130", "is not a date"),
        ("20180110T1260-20180130", "is not a date"),
        ("20180130-20180110", "ends before it starts"),
        ("20180110-20180110", "ends before it starts"),
    ],
)
def test_parse_timerange_when_bad_then_config_error_names_it(text: str, message: str) -> None:
    """A sweep needs a closed, ordered range; the error quotes the value."""
    with pytest.raises(ConfigError, match=message) as caught:
        parse_timerange(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(("timeframe", "seconds"), [("1m", 60), ("5m", 300), ("4h", 14400)])
def test_timeframe_seconds_when_valid_then_seconds(timeframe: str, seconds: int) -> None:
    """Freqtrade timeframes convert to seconds."""
    assert timeframe_seconds(timeframe) == seconds


@pytest.mark.parametrize("timeframe", ["", "5", "m", "0m", "5x", "-5m"])
def test_timeframe_seconds_when_invalid_then_config_error(timeframe: str) -> None:
    """Nonsense timeframes are refused with the value in the message."""
    with pytest.raises(ConfigError, match="is not valid"):
        timeframe_seconds(timeframe)


def test_split_when_rolling_then_test_windows_tile_the_end_and_follow_training() -> None:
    """Each test window starts where its training ends; test windows are adjacent."""
    folds = split(START, STOP, folds=3, timeframe="5m", train_ratio=2.0)

    assert [f.index for f in folds] == [1, 2, 3]
    for fold in folds:
        assert fold.test.start == fold.train.end
        assert fold.train.start < fold.train.end < fold.test.end
    for before, after in itertools.pairwise(folds):
        assert after.test.start == before.test.end
        assert after.train.start > before.train.start  # rolling: the window moves
    assert folds[0].train.start == START
    assert folds[-1].test.end == STOP + FIVE_MIN  # the stop candle is the last one tested


def test_split_when_rolling_then_lengths_follow_the_train_ratio() -> None:
    """Training windows hold at least train_ratio test windows; all tests are equal."""
    folds = split(START, STOP, folds=2, timeframe="5m", train_ratio=2.0)

    test_lengths = {f.test.candles(FIVE_MIN) for f in folds}
    train_lengths = {f.train.candles(FIVE_MIN) for f in folds}
    assert len(test_lengths) == 1
    assert len(train_lengths) == 1
    (test_len,) = test_lengths
    (train_len,) = train_lengths
    assert train_len >= 2 * test_len
    assert train_len + 2 * test_len == (STOP - START) // FIVE_MIN + 1  # nothing left over


def test_split_when_anchored_then_training_always_starts_at_the_range_start() -> None:
    """Anchored folds grow their training window instead of moving it."""
    folds = split(START, STOP, folds=3, timeframe="5m", anchored=True)

    assert {f.train.start for f in folds} == {START}
    lengths = [f.train.candles(FIVE_MIN) for f in folds]
    assert lengths == sorted(lengths)
    assert len(set(lengths)) == 3


def test_split_when_range_is_not_candle_aligned_then_windows_are() -> None:
    """Window bounds fall on candle open times."""
    folds = split(
        START + timedelta(minutes=2), STOP + timedelta(minutes=3), folds=2, timeframe="5m"
    )

    assert folds[0].train.start == START + FIVE_MIN
    for fold in folds:
        for moment in (fold.train.start, fold.test.start, fold.test.end):
            assert moment.minute % 5 == 0
            assert moment.second == 0


def test_window_timerange_when_formatted_then_both_ends_are_inclusive_candles() -> None:
    """Freqtrade's stop is inclusive, so it names the window's last candle."""
    window = Window(START, START + timedelta(hours=1))

    assert window.timerange(FIVE_MIN) == "20180110T0000-20180110T0055"


@pytest.mark.parametrize(
    ("folds", "ratio", "message"),
    [
        (0, 2.0, "--folds 0"),
        (2, 0.0, "--train-ratio 0.0"),
        (2, -1.0, "--train-ratio -1.0"),
        (500, 2.0, "use fewer folds or a longer range"),
    ],
)
def test_split_when_bad_arguments_then_config_error(folds: int, ratio: float, message: str) -> None:
    """Impossible fold layouts are refused with the flag and the fix."""
    with pytest.raises(ConfigError, match=message):
        split(START, STOP, folds=folds, timeframe="5m", train_ratio=ratio)
