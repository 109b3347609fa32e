"""Where the guard's numbers come from inside Freqtrade: trades, closed-trade PnL, prices.

Two implementations each, chosen by run mode:

* live / dry-run: Freqtrade's trade database (``Trade`` queries, a few per loop) and the
  analyzed dataframes of the data provider;
* backtest / hyperopt: Freqtrade's in-memory trade lists (``LocalTrade.bt_trades*``),
  consumed incrementally (nothing quadratic), and per-process numpy arrays of closes
  built once per pair from the candles the backtest loaded.

Nothing here is a rule: these classes only read. Prices are always the close of the last
*closed* candle at ``now`` (no look-ahead in backtests).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
from freqtrade.persistence import LocalTrade, Trade

from app.risk.snapshot import Candle, DayClock, is_utc, utc_midnight

# -- TRADES -----------------------------------------------------------------------------


class TradeFeed(Protocol):
    """Open trades, today's realised PnL and the losing streak."""

    realised_today: float
    loss_streak: int
    last_loss_at: datetime | None

    def refresh(self, now: datetime) -> bool:
        """Bring the numbers up to ``now``; True when a new backtest run was detected."""
        ...

    def open_trades(self) -> Sequence[Any]:
        """Freqtrade's open trades (``Trade`` or ``LocalTrade``)."""
        ...

    def version(self) -> tuple[int, int, int]:
        """(run, closed count, open count): changes whenever trades opened or closed."""
        ...


class BacktestTradeFeed:
    """Reads ``LocalTrade``'s lists; each closed trade is looked at once."""

    def __init__(self) -> None:
        self._closed: list[Any] | None = None
        self._seen = 0
        self._clock = DayClock()
        self._day: datetime | None = None
        self._runs = 0
        self.realised_today = 0.0
        self.loss_streak = 0
        self.last_loss_at: datetime | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Hyperopt pickles the strategy: the trade list stays behind (a new run begins)."""
        state = self.__dict__.copy()
        state["_closed"] = None
        return state

    def refresh(self, now: datetime) -> bool:
        """Consume trades closed since the last call; detect a reset (new run)."""
        closed: list[Any] = LocalTrade.bt_trades
        new_run = closed is not self._closed or len(closed) < self._seen
        if new_run:
            self._closed = closed
            self._seen = 0
            self._day = None
            self._runs += 1
            self.loss_streak = 0
            self.last_loss_at = None
        day = self._clock.day(now)
        if day != self._day:
            self._day = day
            self.realised_today = 0.0
        if len(closed) > self._seen:
            for trade in closed[self._seen :]:
                profit = float(trade.close_profit_abs or 0.0)
                closed_at = trade.close_date_utc
                if closed_at is not None and closed_at >= day:
                    self.realised_today += profit
                if profit < 0:
                    self.loss_streak += 1
                    self.last_loss_at = closed_at
                else:
                    self.loss_streak = 0
            self._seen = len(closed)
        return new_run

    def position(self) -> tuple[list[Any], int]:
        """Where the closed-trade list stands: (the list, its length). The same list and
        length later mean that no trade closed in between, in the same run (a new run
        brings a new list). Cheaper than :meth:`refresh`, which the caller may skip then.
        """
        closed: list[Any] = LocalTrade.bt_trades
        return closed, len(closed)

    def open_since(self, closed: list[Any], count: int) -> Sequence[Any] | None:
        """The open trades if the position is still ``(closed, count)`` (see
        :meth:`position`), else None: one call on every backtest candle."""
        current: list[Any] = LocalTrade.bt_trades
        if current is not closed or len(current) != count:
            return None
        trades: Sequence[Any] = LocalTrade.bt_trades_open
        return trades

    def open_trades(self) -> Sequence[Any]:
        """The backtest's open trades (Freqtrade's own list: do not modify)."""
        trades: Sequence[Any] = LocalTrade.bt_trades_open
        return trades

    def version(self) -> tuple[int, int, int]:
        """(run, closed count, open count)."""
        return (self._runs, len(LocalTrade.bt_trades), LocalTrade.bt_open_open_trade_count)


class LiveTradeFeed:
    """Queries Freqtrade's trade database (live and dry-run)."""

    def __init__(self, streak_window: int) -> None:
        self.streak_window = streak_window
        self.realised_today = 0.0
        self.loss_streak = 0
        self.last_loss_at: datetime | None = None
        self._version = 0

    def refresh(self, now: datetime) -> bool:
        """Sum today's closed trades; read the last ``streak_window`` closed trades."""
        since = utc_midnight(now).replace(tzinfo=None)  # the trade table stores naive UTC
        closed_today = Trade.get_trades_proxy(is_open=False, close_date=since)
        self.realised_today = float(sum(t.close_profit_abs or 0.0 for t in closed_today))
        self.loss_streak, self.last_loss_at = 0, None
        if self.streak_window:
            stmt = (
                Trade.get_trades_query([Trade.is_open.is_(False)], include_orders=False)
                .order_by(Trade.close_date.desc())
                .limit(self.streak_window)
            )
            for trade in Trade.session.scalars(stmt).all():
                if (trade.close_profit_abs or 0.0) >= 0:
                    break
                if self.last_loss_at is None:
                    self.last_loss_at = trade.close_date_utc
                self.loss_streak += 1
        self._version += 1
        return False

    def open_trades(self) -> Sequence[Any]:
        """Open trades from the database."""
        trades: Sequence[Any] = Trade.get_open_trades()
        return trades

    def version(self) -> tuple[int, int, int]:
        """Always new: live snapshots are rebuilt on every call."""
        self._version += 1
        return (0, self._version, 0)


# -- PRICES -----------------------------------------------------------------------------


class PriceFeed(Protocol):
    """The last closed candle of a pair at ``now``."""

    def last_closed(self, pair: str, now: datetime) -> Candle | None:
        """None when there is no candle."""
        ...

    def last_closes(self, pairs: Sequence[str], now: datetime) -> list[float] | None:
        """The last closes of several pairs (to value open trades); None if one is missing."""
        ...

    def unrealised(self, trades: Sequence[Any], now: datetime) -> float | None:
        """Open ``trades`` valued at those closes (:func:`unrealised_pnl`, summed); None
        when a pair has no candle."""
        ...

    def reset(self) -> None:
        """A new run starts (backtests: forget per-run caches)."""
        ...


def unrealised_pnl(trade: Any, rate: float) -> float:  # a Freqtrade trade
    """Profit of an open trade closed at ``rate``, fees included, in stake currency.

    The same formula as Freqtrade's ``Trade.calculate_profit`` for spot and futures, in
    plain floats (about 20x cheaper: this runs for every open trade on every snapshot);
    margin trades (interest) use Freqtrade's own method.
    """
    mode = trade.trading_mode or "spot"
    if mode not in ("spot", "futures"):  # TradingMode is a StrEnum: compares as text
        return float(trade.calculate_profit(rate).profit_abs)
    close_value = trade.amount * rate
    fees = close_value * (trade.fee_close or 0.0)
    if trade.is_short:
        close_total = close_value + fees
        if mode == "futures":
            close_total -= trade.funding_fees or 0.0
        return float(trade.open_trade_value - close_total)
    close_total = close_value - fees
    if mode == "futures":
        close_total += trade.funding_fees or 0.0
    return float(close_total - trade.open_trade_value)


# Per-process cache (hyperopt workers keep it across epochs): (pair, timeframe, candle
# type, the date column's dtype, candles, first and last open time) -> (the frame's open
# times and closes as numpy arrays, to check a hit against, and as plain lists).
_SERIES: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, list[int], list[float]]] = {}

# How far ahead calm_until looks, in candles: blocks end at the next trade opened or
# closed anyway (about every ten candles in a hyperopt epoch), and a longer scan costs more
# than it saves.
HORIZON = 48


def _span(closes: list[float], start: int, low: float, high: float) -> int:
    """How many closes from ``start`` on lie within [low, high], at most :data:`HORIZON`
    (a NaN close lies within no range)."""
    stop = min(start + HORIZON, len(closes))
    position = start
    while position < stop and low <= closes[position] <= high:
        position += 1
    return position - start


# The highest close fee for which a long spot trade's :func:`unrealised_pnl`, in floating
# point, never falls when its close rises: ``v - v * fee`` then grows with ``v`` (each
# rounding of ``v * fee`` moves it by at most a quarter of ``v``'s own step up).
MONOTONE_FEE = 0.25


def _weights(trades: Sequence[Any], *, at_peak: bool = False) -> dict[str, float] | None:
    """Per pair, how much the open spot ``trades``' PnL (:func:`unrealised_pnl`) moves per
    unit of its close; None when one is not a spot trade without open orders.

    ``at_peak``: also None unless every trade's PnL never falls as its close rises, to
    the last bit: long, with a close fee of at most :data:`MONOTONE_FEE`.
    """
    weights: dict[str, float] = {}
    for trade in trades:
        if (trade.trading_mode or "spot") != "spot" or trade.has_open_orders:
            return None
        fee = trade.fee_close or 0.0
        if at_peak and (trade.is_short or not 0.0 <= fee <= MONOTONE_FEE):
            return None
        weight = trade.amount * (1.0 - fee)
        if trade.is_short:
            weight = -trade.amount * (1.0 + fee)
        weights[trade.pair] = weights.get(trade.pair, 0.0) + weight
    return weights


# calm_until's answer when no candle follows (the end of the data).
FOREVER = datetime.max.replace(tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BacktestPriceFeed:
    """Closes from the candles the backtest loaded (``DataProvider.historic_ohlcv``).

    Kept as plain lists searched with :func:`bisect.bisect_right`: cheaper per lookup than
    numpy calls, which matters because open trades are valued on every candle.
    """

    def __init__(
        self, dp: Any, timeframe: str, timeframe_sec: int, *, same_data: bool = False
    ) -> None:
        # dp is Freqtrade's DataProvider (untyped for mypy)
        self.dp = dp
        self.timeframe = timeframe
        self.timeframe_ns = timeframe_sec * 1_000_000_000
        # Hyperopt: every epoch (run) backtests the same candles, loaded once from the
        # hyperopt's data file, so the series stay from one run to the next.
        self.same_data = same_data
        self._pairs: dict[str, tuple[list[int], list[float]]] = {}
        # The last ``now`` asked about, the latest open time its last closed candle may
        # have (ns), and per pair the index of that candle once searched (:meth:`_target_at`):
        # valuing the open trades and proving calm candles at one ``now`` search once.
        self._now: datetime | None = None
        self._target = 0
        self._found: dict[str, int] = {}
        # 1970-01-01 in ``now``'s tzinfo when that is a UTC zone (else in datetime.UTC):
        # ``now - epoch`` is then exact integer arithmetic without an offset lookup.
        self._zone: Any = None
        self._epoch = _EPOCH

    def __getstate__(self) -> dict[str, Any]:
        """Hyperopt workers rebuild the series from their own per-process cache."""
        state = self.__dict__.copy()
        state.update(_pairs={}, _found={})
        return state

    def _target_at(self, now: datetime) -> int:
        """The latest open time (ns) of a candle closed at ``now``; a new ``now`` forgets
        the indices found for the last one."""
        if now != self._now:
            self._now = now
            span = now - self._epoch_for(now.tzinfo)
            micros = (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds
            self._target = micros * 1000 - self.timeframe_ns
            self._found.clear()
        return self._target

    def _epoch_for(self, zone: Any) -> datetime:
        """1970-01-01 00:00 UTC, in ``zone`` when that is a UTC zone: datetimes sharing a
        tzinfo subtract (and add) without asking it for offsets."""
        if zone is not self._zone:
            self._zone = zone
            self._epoch = _EPOCH.astimezone(zone) if is_utc(zone) else _EPOCH
        return self._epoch

    def _series(self, pair: str) -> tuple[list[int], list[float]]:
        series = self._pairs.get(pair)
        if series is None:
            series = self._pairs[pair] = self._load(pair)
        return series

    def _load(self, pair: str) -> tuple[list[int], list[float]]:
        config = self.dp._config  # the provider's own config
        candle_type = config.get("candle_type_def")
        # The backtest put its analysed frames in the provider's cache before its loop
        # started (private to Freqtrade, hence the fallback that reads the files again).
        cached = getattr(self.dp, "_DataProvider__cached_pairs", None)
        hit = cached.get((pair, self.timeframe, candle_type)) if cached else None
        frame = hit[0] if hit else self.dp.historic_ohlcv(pair, self.timeframe)
        if len(frame) == 0:
            # Freqtrade's empty frame has a text date column (no int64 view): no series.
            return [], []
        # Each hyperopt epoch loads every pair again: the key finds the series of an
        # earlier load from the ends of the date column's int64 view (no copy), and a hit
        # counts only if every open time and close is the same (two vectorised
        # comparisons; candles that differ inside the same ends once gave stale closes).
        # The dtype itself is in the key: its unit and zone tell what the int64s mean.
        column = frame["date"]
        stamps = column.array.asi8
        closes = frame["close"].to_numpy(dtype=np.float64)
        key = (
            pair,
            self.timeframe,
            str(candle_type),
            column.dtype,
            len(stamps),
            int(stamps[0]),
            int(stamps[-1]),
        )
        series = _SERIES.get(key)
        if (
            series is None
            or not np.array_equal(series[0], stamps)
            # Bit for bit (NaN equals NaN; -0.0 differs from 0.0: only a rebuild).
            or not np.array_equal(series[1].view(np.int64), closes.view(np.int64))
        ):
            dates = column.to_numpy(dtype="datetime64[ns]").astype(np.int64)
            series = _SERIES[key] = (stamps.copy(), closes.copy(), dates.tolist(), closes.tolist())
        return series[2], series[3]

    def reset(self) -> None:
        """Forget the series of the last run (a new backtest may use other data), unless
        every run uses the same data (``same_data``: hyperopt's epochs)."""
        if not self.same_data:
            self._pairs.clear()
        self._now = None  # and with it the indices found (see _target_at)

    def _index(self, pair: str, dates: list[int], target: int) -> int:
        """The index of ``pair``'s last candle open at or before ``target`` (-1: none)."""
        index = self._found.get(pair)
        if index is None:
            index = self._found[pair] = bisect.bisect_right(dates, target) - 1
        return index

    def last_closed(self, pair: str, now: datetime) -> Candle | None:
        """The candle with the latest open time <= ``now - timeframe``."""
        dates, closes = self._pairs.get(pair) or self._series(pair)
        index = self._index(pair, dates, self._target_at(now))
        if index < 0:
            return None
        # In ``now``'s zone when that is UTC (the stale-data rule subtracts one from the
        # other), to the microsecond below the open time's nanoseconds.
        moment = self._epoch_for(now.tzinfo) + timedelta(microseconds=dates[index] // 1000)
        return Candle(date=moment, close=closes[index])

    def last_closes(self, pairs: Sequence[str], now: datetime) -> list[float] | None:
        """The closes of those candles for several pairs, in one call (hot path)."""
        target, out = self._target_at(now), []
        for pair in pairs:
            dates, closes = self._pairs.get(pair) or self._series(pair)
            index = self._index(pair, dates, target)
            if index < 0:
                return None
            out.append(closes[index])
        return out

    def unrealised(self, trades: Sequence[Any], now: datetime) -> float | None:
        """:meth:`last_closes` and :func:`unrealised_pnl` in one pass (the per-candle path
        of every backtest candle with open trades: no intermediate lists)."""
        target, total, pairs, found = self._target_at(now), 0.0, self._pairs, self._found
        for trade in trades:
            pair = trade.pair
            dates, closes = pairs.get(pair) or self._series(pair)
            index = found.get(pair)
            if index is None:  # :meth:`_index`, inlined: this runs for every open trade
                index = found[pair] = bisect.bisect_right(dates, target) - 1
            if index < 0:
                return None
            total += unrealised_pnl(trade, closes[index])
        return total

    def calm_until(
        self, trades: Sequence[Any], now: datetime, rise: float, fall: float
    ) -> datetime | None:
        """Until when the open ``trades``, valued as :meth:`unrealised` values them at each
        candle after ``now``, provably stay within ``rise`` above and ``fall`` below their
        value at ``now``: the moment the first candle not proven becomes the last closed
        one (:data:`FOREVER` when every candle ahead is proven). None when nothing can be
        proven: a trade not on spot (funding, interest) or with an open order (its amount
        may still change), a pair without a candle at ``now``, no room.

        A proof, not an estimate: each pair gets an equal share of the room, and its closes
        ahead are checked against it, up to :data:`HORIZON` candles (a NaN close lies in no
        range). The caller leaves a margin for rounding: values are sums of products.

        No room above (``rise <= 0``: the value is the day's peak) still proves the candles
        on which no long trade's close rises above its close now: the value cannot rise
        then, to the last bit (see :data:`MONOTONE_FEE`). Not with a short trade.
        """
        if fall <= 0.0:
            return None
        at_peak = rise <= 0.0
        weights = _weights(trades, at_peak=at_peak)
        if not weights:
            return None
        target, end = self._target_at(now), None
        rise, fall = rise / len(weights), fall / len(weights)
        for pair, weight in weights.items():
            dates, closes = self._pairs.get(pair) or self._series(pair)
            index = self._index(pair, dates, target)
            if index < 0:
                return None
            close = closes[index]
            if weight > 0.0:
                low, high = close - fall / weight, close if at_peak else close + rise / weight
            elif weight < 0.0:
                low, high = close + rise / weight, close - fall / weight
            else:
                continue  # no amount: its price moves nothing
            after = index + 1 + _span(closes, index + 1, low, high)
            if after < len(dates):
                stop = dates[after] + self.timeframe_ns
                end = stop if end is None or stop < end else end
        if end is None:
            return FOREVER.replace(tzinfo=now.tzinfo)
        # From ``now`` (datetimes sharing a tzinfo compare cheaply), rounded down and one
        # microsecond early (the target is exact; the microsecond costs nothing: candles
        # are whole seconds apart).
        ahead = (end - target - self.timeframe_ns) // 1000 - 1
        return now + timedelta(microseconds=ahead)


class LivePriceFeed:
    """Closes from the strategy's analyzed dataframe (refreshed by Freqtrade each candle)."""

    def __init__(self, dp: Any, timeframe: str, timeframe_sec: int) -> None:
        # dp is Freqtrade's DataProvider (untyped for mypy)
        self.dp = dp
        self.timeframe = timeframe
        self.step = timedelta(seconds=timeframe_sec)

    def last_closed(self, pair: str, now: datetime) -> Candle | None:
        """The last row whose candle has closed by ``now``."""
        frame, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if frame is None or len(frame) == 0:
            return None
        for position in (-1, -2):
            if len(frame) < -position:
                return None
            moment = frame["date"].iat[position].to_pydatetime()
            if moment + self.step <= now:
                return Candle(date=moment, close=float(frame["close"].iat[position]))
        return None

    def reset(self) -> None:
        """Nothing to forget: live frames are read on every call."""

    def last_closes(self, pairs: Sequence[str], now: datetime) -> list[float] | None:
        """The last closes of several pairs; None if one is missing."""
        out = []
        for pair in pairs:
            candle = self.last_closed(pair, now)
            if candle is None:
                return None
            out.append(candle.close)
        return out

    def unrealised(self, trades: Sequence[Any], now: datetime) -> float | None:
        """Open ``trades`` valued at the last closes; None when a pair has no candle."""
        closes = self.last_closes([t.pair for t in trades], now)
        if closes is None:
            return None
        return sum(map(unrealised_pnl, trades, closes))
