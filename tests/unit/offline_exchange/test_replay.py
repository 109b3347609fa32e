"""Timeline: Binance klines windows, the forming candle, and replay shifted to the clock."""

from __future__ import annotations

import numpy as np
import pytest

from app.offline_exchange.replay import Mode, Timeline
from app.offline_exchange.store import Candles

TF = 300_000  # 5m
N = 100
T0 = 1_700_000_000_000 - 1_700_000_000_000 % TF  # an aligned open time


def _candles() -> Candles:
    opens = T0 + np.arange(N, dtype=np.int64) * TF
    close = 100.0 + np.arange(N, dtype=np.float64)
    open_ = np.concatenate([[100.0], close[:-1]])
    return Candles(TF, opens, open_, close + 0.5, open_ - 0.5, close, np.full(N, 10.0))


def _historic() -> Timeline:
    return Timeline(_candles(), Mode.HISTORIC, 0, lambda: 0, 2)


def test_window_when_start_given_then_first_limit_candles_from_start() -> None:
    """startTime returns the first ``limit`` candles opening at or after it."""
    served = _historic().window(T0 + 10 * TF, None, 5)

    assert served.open_ms.tolist() == [T0 + i * TF for i in range(10, 15)]


def test_window_when_start_between_opens_then_next_candle_first() -> None:
    """A start inside a candle begins with the next candle, as Binance does."""
    served = _historic().window(T0 + 10 * TF + 1, None, 1)

    assert served.open_ms.tolist() == [T0 + 11 * TF]


def test_window_when_only_end_then_newest_candles_up_to_end() -> None:
    """endTime alone returns the newest ``limit`` candles opening at or before it."""
    served = _historic().window(None, T0 + 20 * TF, 3)

    assert served.open_ms.tolist() == [T0 + 18 * TF, T0 + 19 * TF, T0 + 20 * TF]


def test_window_when_start_and_end_then_bounded_by_both() -> None:
    """Both bounds are inclusive of open times."""
    served = _historic().window(T0 + 5 * TF, T0 + 7 * TF, 500)

    assert served.open_ms.tolist() == [T0 + 5 * TF, T0 + 6 * TF, T0 + 7 * TF]


def test_window_when_no_bounds_then_ends_with_the_forming_candle() -> None:
    """Historic "now" is the last close; a flat, empty candle is forming at that instant."""
    served = _historic().window(None, None, 3)

    candles = _candles()
    assert served.open_ms.tolist() == [T0 + (N - 2) * TF, T0 + (N - 1) * TF, candles.end_ms]
    assert served.close[-1] == served.open[-1] == served.high[-1] == candles.close[-1]
    assert served.volume[-1] == 0.0


def test_window_when_start_after_data_then_empty() -> None:
    """Nothing is served after the forming candle."""
    assert len(_historic().window(_candles().end_ms + TF, None, 10)) == 0


def test_replay_when_started_then_newest_stored_candle_closes_at_last_boundary() -> None:
    """At start, the newest stored candle closes at the candle boundary before the clock."""
    now = [1_800_000_123_456]
    line = Timeline(_candles(), Mode.REPLAY, now[0], lambda: now[0], 2)

    served = line.window(None, now[0] - now[0] % TF - 1, 1)

    assert served.open_ms[0] + TF == now[0] - now[0] % TF
    assert served.close[0] == _candles().close[-1]


def test_replay_when_clock_advances_then_series_continues_from_its_start_scaled() -> None:
    """After the newest stored candle, the first one follows, scaled to keep prices continuous."""
    start = 1_800_000_000_000 - 1_800_000_000_000 % TF
    now = [start]
    line = Timeline(_candles(), Mode.REPLAY, start, lambda: now[0], 2)
    growth = _candles().close[-1] / _candles().open[0]

    now[0] = start + 3 * TF + 1  # three candles later, one millisecond into the fourth
    served = line.window(start, None, 10)

    assert served.open_ms.tolist() == [start + i * TF for i in range(4)]
    assert served.open[0] == pytest.approx(round(_candles().open[0] * growth, 2))
    assert served.close[1] == pytest.approx(round(_candles().close[1] * growth, 2))
    assert served.open[0] == pytest.approx(_candles().close[-1])  # continuous


def test_replay_when_candle_in_progress_then_partial_values() -> None:
    """The candle in progress moves from its open toward its close with elapsed time."""
    start = 1_800_000_000_000 - 1_800_000_000_000 % TF
    now = [start + TF // 2]
    line = Timeline(_candles(), Mode.REPLAY, start, lambda: now[0], 6)

    served = line.window(None, None, 1)

    stored_open = line.growth * _candles().open[0]
    stored_close = line.growth * _candles().close[0]
    assert served.open_ms[0] == start
    assert served.close[0] == pytest.approx((stored_open + stored_close) / 2, rel=1e-5)
    assert served.volume[0] == pytest.approx(5.0)


def test_replay_when_asked_before_first_candle_then_nothing() -> None:
    """Nothing is invented before the first stored candle."""
    start = 1_800_000_000_000 - 1_800_000_000_000 % TF
    line = Timeline(_candles(), Mode.REPLAY, start, lambda: start, 2)
    first_served = start - N * TF

    served = line.window(first_served - 10 * TF, first_served - TF, 50)

    assert len(served) == 0
    assert line.window(first_served - 10 * TF, None, 1).open_ms.tolist() == [first_served]
