"""How stored candles map onto the time the exchange serves.

Two modes:

``historic`` (backtesting, hyperopt, download-data)
    Candles are served at their own timestamps. "Now", for tickers and order books,
    is the close of the newest candle, and -- as on the real exchange -- a candle is
    forming at that instant: a flat, zero-volume candle opening at the newest close,
    served last. Freqtrade drops the forming candle of every download, so a
    download reproduces the files exactly.

``replay`` (dry-run paper trading)
    The series is shifted so that its newest candle closes at the last candle
    boundary before the server started; from then on it advances with the clock.
    Beyond the newest stored candle the series starts again from its first candle,
    with prices scaled by ``last close / first open`` per cycle so the price path
    stays continuous, and rounded to the market's tick. The candle in progress is
    served partially: its close moves linearly from open to the stored close as the
    candle's time elapses, and its high, low and volume grow with it. Nothing before
    the first stored candle is served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from app.offline_exchange.store import Candles
from app.offline_exchange.timeframes import candle_open_ms


class Mode(StrEnum):
    """Serving mode of the offline exchange (see module docstring)."""

    HISTORIC = "historic"
    REPLAY = "replay"


@dataclass(frozen=True)
class Served:
    """Candles as served: open times and OHLCV arrays (prices already scaled and rounded)."""

    open_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.open_ms)


EMPTY = Served(*(np.empty(0, dtype=t) for t in (np.int64, *([np.float64] * 5))))


class Timeline:
    """Maps one stored series to served time; ``now_ms`` is injected for testability."""

    def __init__(
        self,
        candles: Candles,
        mode: Mode,
        anchor_ms: int,
        now_ms: Callable[[], int],
        price_decimals: int,
    ) -> None:
        self.candles = candles
        self.mode = mode
        self._now_ms = now_ms
        self._decimals = price_decimals
        n = len(candles)
        self._n = n
        if mode is Mode.HISTORIC:
            self.shift_ms = 0
            self.span_ms = 0
            self.growth = 1.0
        else:
            tf = candles.timeframe_ms
            self.shift_ms = candle_open_ms(anchor_ms, tf) - candles.end_ms
            self.span_ms = candles.end_ms - candles.first_open_ms
            first_open = float(candles.open[0])
            self.growth = float(candles.close[-1]) / first_open if first_open > 0 else 1.0

    # -- INDEX ARITHMETIC -------------------------------------------------------------------
    # A served candle has a global index g = cycle * n + i; its served open time grows with g.

    def _served_open(self, g: int) -> int:
        cycle, i = divmod(g, self._n)
        return int(self.candles.open_ms[i]) + self.shift_ms + cycle * self.span_ms

    def _first_at_or_after(self, t: int) -> int:
        """Smallest g whose served open time is >= t (g >= 0)."""
        base = t - self.shift_ms
        if self.mode is Mode.HISTORIC and base > self.candles.end_ms:
            return self._n + 1  # past the forming candle
        if self.mode is Mode.HISTORIC or base <= self.candles.first_open_ms:
            return int(np.searchsorted(self.candles.open_ms, base, side="left"))
        cycle = (base - self.candles.first_open_ms) // self.span_ms
        i = int(np.searchsorted(self.candles.open_ms, base - cycle * self.span_ms, side="left"))
        return cycle * self._n + i

    def last_index(self) -> int:
        """Global index of the newest candle served now (the forming one); -1 if none."""
        if self.mode is Mode.HISTORIC:
            return self._n
        return self._first_at_or_after(self._now_ms() + 1) - 1

    def now_ms(self) -> int:
        """The exchange's "now" for this series (close of the newest candle when historic)."""
        if self.mode is Mode.HISTORIC:
            return self.candles.end_ms
        return self._now_ms()

    # -- WINDOWS ----------------------------------------------------------------------------

    def window(self, start_ms: int | None, end_ms: int | None, limit: int) -> Served:
        """Binance klines semantics: open times in [start, end], at most ``limit`` candles,
        the first ones after ``start`` when given, else the newest ones up to ``end``."""
        last = self.last_index()
        if end_ms is not None:
            last = min(last, self._first_at_or_after(end_ms + 1) - 1)
        if start_ms is not None:
            first = self._first_at_or_after(start_ms)
            last = min(last, first + limit - 1)
        else:
            first = max(0, last - limit + 1)
        if last < first:
            return EMPTY
        return self.gather(np.arange(first, last + 1, dtype=np.int64))

    def gather(self, g: np.ndarray) -> Served:
        """Served candles for global indices ``g`` (scaled, rounded, partial last candle)."""
        if self.mode is Mode.HISTORIC:
            return self._gather_historic(g)
        c = self.candles
        cycle, i = np.divmod(g, self._n)
        opens = c.open_ms[i] + self.shift_ms + cycle * self.span_ms
        o, h, low, close = c.open[i], c.high[i], c.low[i], c.close[i]
        if self.mode is Mode.REPLAY and np.any(cycle > 0):
            factor = np.power(self.growth, cycle.astype(np.float64))
            o, h, low, close = (np.round(p * factor, self._decimals) for p in (o, h, low, close))
        served = Served(opens, o, h, low, close, c.volume[i].copy())
        if self.mode is Mode.REPLAY and len(g):
            self._make_partial(served)
        return served

    def _gather_historic(self, g: np.ndarray) -> Served:
        c = self.candles
        stored = g[g < self._n]
        served = Served(
            c.open_ms[stored], c.open[stored], c.high[stored], c.low[stored], c.close[stored],
            c.volume[stored],
        )  # fmt: skip
        if len(stored) == len(g):
            return served
        last = float(c.close[-1])  # the forming candle: flat at the last close, no volume
        return Served(
            np.append(served.open_ms, c.end_ms),
            np.append(served.open, last),
            np.append(served.high, last),
            np.append(served.low, last),
            np.append(served.close, last),
            np.append(served.volume, 0.0),
        )

    def _make_partial(self, s: Served) -> None:
        """Turn the last candle into the candle in progress when it has not closed yet."""
        tf = self.candles.timeframe_ms
        elapsed = self._now_ms() - int(s.open_ms[-1])
        if elapsed >= tf:
            return
        frac = max(elapsed, 0) / tf
        o, h, low, c = (float(a[-1]) for a in (s.open, s.high, s.low, s.close))
        close = round(o + (c - o) * frac, self._decimals)
        s.close[-1] = close
        s.high[-1] = max(o, close, round(o + (h - o) * frac, self._decimals))
        s.low[-1] = min(o, close, round(o + (low - o) * frac, self._decimals))
        s.volume[-1] = s.volume[-1] * frac
