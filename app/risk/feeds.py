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

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
from freqtrade.persistence import LocalTrade, Trade

from app.risk.snapshot import Candle, utc_midnight

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
        """Changes whenever trades opened or closed (cache key for the snapshot)."""
        ...


class BacktestTradeFeed:
    """Reads ``LocalTrade``'s lists; each closed trade is looked at once."""

    def __init__(self) -> None:
        self._closed: list[Any] | None = None
        self._seen = 0
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
        day = utc_midnight(now)
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

    def last_close(self, pair: str, now: datetime) -> float | None:
        """Only the close (cheaper; used to value open trades)."""
        ...


def unrealised_pnl(trade: Any, rate: float) -> float:  # a Freqtrade trade
    """Profit of an open trade closed at ``rate``, fees included, in stake currency.

    The same formula as Freqtrade's ``Trade.calculate_profit`` for spot and futures, in
    plain floats (about 20x cheaper: this runs for every open trade on every snapshot);
    margin trades (interest) use Freqtrade's own method.
    """
    mode = str(trade.trading_mode or "spot")
    if mode not in ("spot", "futures"):
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


# Per-process cache (hyperopt workers keep it across epochs): key -> (dates ns, closes).
_ARRAYS: dict[tuple[str, ...], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}


class BacktestPriceFeed:
    """Closes from the candles the backtest loaded (``DataProvider.historic_ohlcv``)."""

    def __init__(self, dp: Any, timeframe: str, timeframe_sec: int) -> None:
        # dp is Freqtrade's DataProvider (untyped for mypy)
        self.dp = dp
        self.timeframe = timeframe
        self.timeframe_ns = timeframe_sec * 1_000_000_000
        self._pairs: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Hyperopt workers rebuild the arrays from their own per-process cache."""
        state = self.__dict__.copy()
        state["_pairs"] = {}
        return state

    def _arrays(self, pair: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        arrays = self._pairs.get(pair)
        if arrays is None:
            arrays = self._pairs[pair] = self._load(pair)
        return arrays

    def _load(self, pair: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        config = self.dp._config  # the provider's own config: datadir, timerange
        key = (
            str(config.get("datadir")),
            pair,
            self.timeframe,
            str(config.get("candle_type_def")),
            str(config.get("timerange")),
        )
        arrays = _ARRAYS.get(key)
        if arrays is None:
            frame = self.dp.historic_ohlcv(pair, self.timeframe)
            dates = frame["date"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
            arrays = (dates, frame["close"].to_numpy(dtype=np.float64))
            _ARRAYS[key] = arrays
        return arrays

    def _index(self, dates: np.ndarray[Any, Any], now: datetime) -> int:
        target = int(now.timestamp() * 1_000_000) * 1000 - self.timeframe_ns
        return int(dates.searchsorted(target, side="right")) - 1

    def last_closed(self, pair: str, now: datetime) -> Candle | None:
        """The candle with the latest open time <= ``now - timeframe``."""
        dates, closes = self._arrays(pair)
        index = self._index(dates, now)
        if index < 0:
            return None
        moment = datetime.fromtimestamp(int(dates[index]) / 1e9, tz=UTC)
        return Candle(date=moment, close=float(closes[index]))

    def last_close(self, pair: str, now: datetime) -> float | None:
        """Only the close of that candle."""
        dates, closes = self._arrays(pair)
        index = self._index(dates, now)
        return None if index < 0 else float(closes[index])


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

    def last_close(self, pair: str, now: datetime) -> float | None:
        """Only the close of that candle."""
        candle = self.last_closed(pair, now)
        return None if candle is None else candle.close
