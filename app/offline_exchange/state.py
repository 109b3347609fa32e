"""The exchange's state: markets, their trading rules, timelines and synthetic quotes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.offline_exchange.markets import MarketSpec, derive_spec
from app.offline_exchange.replay import Mode, Served, Timeline
from app.offline_exchange.store import Candles, CandleStore, CandleType, Market

DAY_MS = 86_400_000
# Synthetic quotes: the spread is 2 bps (at least one tick); book levels are 1 bp apart.
SPREAD_RATIO = 0.0002
LEVEL_GAP_RATIO = 0.0001


# Builds the timeline of one price series; a fault injector passes its own.
TimelineFactory = Callable[[Candles, Mode, int, Callable[[], int], int], Timeline]


def wall_clock_ms() -> int:
    """Current Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Quote:
    """Best bid/ask and last price synthesised around the newest close."""

    last: float
    bid: float
    ask: float
    bid_qty: float
    ask_qty: float
    tick: float
    step: float


class ExchangeState:
    """Everything the HTTP handlers read. Built once; lazily fills its caches."""

    def __init__(
        self,
        store: CandleStore,
        mode: Mode = Mode.HISTORIC,
        clock: Callable[[], int] = wall_clock_ms,
        price_timeline: TimelineFactory = Timeline,
    ) -> None:
        self.store = store
        self._price_timeline = price_timeline
        self.mode = mode
        self.clock = clock
        self.anchor_ms = clock()
        self._specs: dict[tuple[bool, str], MarketSpec] = {}
        self._timelines: dict[tuple[bool, str, str, CandleType], Timeline] = {}

    def market(self, symbol_id: str, futures: bool) -> Market | None:
        return self.store.markets(futures).get(symbol_id)

    def base_timeframe(self, market: Market, kind: CandleType | None = None) -> str:
        """The finest stored timeframe of ``market`` for ``kind`` (default: trade candles)."""
        return self.store.timeframes(market, kind or market.trade_type)[0]

    def spec(self, market: Market) -> MarketSpec:
        key = (market.is_futures, market.symbol_id)
        spec = self._specs.get(key)
        if spec is None:
            candles = self.store.candles(market, self.base_timeframe(market))
            spec = derive_spec(market, candles)
            self._specs[key] = spec
        return spec

    def timeline(self, market: Market, interval: str, kind: CandleType | None = None) -> Timeline:
        kind = kind or market.trade_type
        key = (market.is_futures, market.symbol_id, interval, kind)
        line = self._timelines.get(key)
        if line is None:
            candles = self.store.candles(market, interval, kind)
            decimals = self.spec(market).price_decimals
            factory = Timeline if kind is CandleType.FUNDING_RATE else self._price_timeline
            line = factory(candles, self.mode, self.anchor_ms, self.clock, decimals)
            self._timelines[key] = line
        return line

    def now_ms(self, market: Market) -> int:
        """The market's "now": wall clock in replay, newest close when historic."""
        return self.timeline(market, self.base_timeframe(market)).now_ms()

    def last_day(self, market: Market) -> Served:
        """Candles of the rolling 24 hours up to the market's now (finest timeframe)."""
        line = self.timeline(market, self.base_timeframe(market))
        now = line.now_ms()
        per_day = DAY_MS // line.candles.timeframe_ms + 1
        return line.window(now - DAY_MS, now - 1, per_day)

    def quote(self, market: Market) -> Quote:
        """Best bid/ask around the newest close, with sizes from the recent volume."""
        spec = self.spec(market)
        day = self.last_day(market)
        tick, step = spec.tick_size, spec.step_size
        last = float(day.close[-1]) if len(day) else 0.0
        spread_ticks = max(1, math.ceil(last * SPREAD_RATIO / tick))
        bid = max(tick, math.floor(last / tick - spread_ticks / 2) * tick)
        ask = bid + spread_ticks * tick
        avg_volume = float(np.mean(day.volume)) if len(day) else 0.0
        qty = max(step, math.floor(avg_volume / 20 / step) * step)
        return Quote(
            last=last,
            bid=round(bid, spec.price_decimals),
            ask=round(ask, spec.price_decimals),
            bid_qty=qty,
            ask_qty=qty,
            tick=tick,
            step=step,
        )

    def book(self, market: Market, levels: int) -> tuple[list[list[str]], list[list[str]]]:
        """A synthetic order book: ``levels`` bids and asks, one basis point apart, deepening."""
        spec = self.spec(market)
        q = self.quote(market)
        gap = max(1, round(q.last * LEVEL_GAP_RATIO / q.tick)) * q.tick
        bids: list[list[str]] = []
        asks: list[list[str]] = []
        for j in range(levels):
            qty = _fmt(round(q.bid_qty * (1 + j / 10) / q.step) * q.step, spec.amount_decimals)
            bid_price = q.bid - j * gap
            if bid_price > 0:
                bids.append([_fmt(bid_price, spec.price_decimals), qty])
            asks.append([_fmt(q.ask + j * gap, spec.price_decimals), qty])
        return bids, asks


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{max(decimals, 0)}f}"
