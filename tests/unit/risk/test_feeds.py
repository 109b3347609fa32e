"""Trade and price feeds (app/risk/feeds.py) on Freqtrade's real trade and data classes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType, RunMode, TradingMode
from freqtrade.persistence import LocalTrade, Trade, init_db

from app.risk.feeds import (
    BacktestPriceFeed,
    BacktestTradeFeed,
    LivePriceFeed,
    LiveTradeFeed,
    unrealised_pnl,
)

DAY = datetime(2018, 1, 12, tzinfo=UTC)


def _trade(cls: Any, pair: str, *, closed_at: datetime | None = None, profit: float = 0.0) -> Any:
    trade = cls(
        pair=pair,
        stake_amount=0.01,
        open_rate=0.05,
        amount=0.2,
        fee_open=0.001,
        fee_close=0.001,
        open_date=(closed_at or DAY) - timedelta(hours=1),
        is_open=closed_at is None,
        exchange="binance",
        leverage=1.0,
        is_short=False,
    )
    if closed_at is not None:
        trade.close_date = closed_at
        trade.close_profit_abs = profit
        trade.close_rate = 0.05
    return trade


@pytest.fixture
def bt_trades() -> Iterator[None]:
    """Freqtrade's in-memory backtest trade lists, emptied before and after."""
    LocalTrade.reset_trades()
    yield
    LocalTrade.reset_trades()


@pytest.fixture
def trade_db() -> Iterator[None]:
    """Freqtrade's trade database in memory (as in dry-run), detached afterwards."""
    init_db("sqlite://")
    yield
    Trade.session.remove()
    Trade.use_db = False


@pytest.mark.usefixtures("bt_trades")
def test_backtest_feed_when_trades_close_then_realised_today_and_streak() -> None:
    """Closed trades are consumed once; realised PnL counts today only; a win ends a streak."""
    feed = BacktestTradeFeed()
    LocalTrade.bt_trades.append(
        _trade(LocalTrade, "A/B", closed_at=DAY - timedelta(hours=1), profit=-5.0)
    )
    LocalTrade.bt_trades.append(
        _trade(LocalTrade, "A/B", closed_at=DAY + timedelta(hours=1), profit=-2.0)
    )
    feed.refresh(DAY + timedelta(hours=2))
    assert feed.realised_today == -2.0
    assert (feed.loss_streak, feed.last_loss_at) == (2, DAY + timedelta(hours=1))

    LocalTrade.bt_trades.append(
        _trade(LocalTrade, "C/B", closed_at=DAY + timedelta(hours=3), profit=4.0)
    )
    feed.refresh(DAY + timedelta(hours=3))
    assert feed.realised_today == 2.0
    assert feed.loss_streak == 0

    feed.refresh(DAY + timedelta(days=1))
    assert feed.realised_today == 0.0


@pytest.mark.usefixtures("bt_trades")
def test_backtest_feed_when_trades_reset_then_new_run_detected() -> None:
    """Freqtrade resets its lists for each backtest/epoch; the feed starts afresh."""
    feed = BacktestTradeFeed()
    LocalTrade.bt_trades.append(_trade(LocalTrade, "A/B", closed_at=DAY, profit=-1.0))
    assert feed.refresh(DAY) is True  # first run
    assert feed.refresh(DAY) is False
    version = feed.version()
    LocalTrade.reset_trades()
    assert feed.refresh(DAY) is True
    assert feed.loss_streak == 0
    assert feed.version() != version


@pytest.mark.usefixtures("bt_trades")
def test_backtest_feed_when_trade_opened_then_listed_and_version_changes() -> None:
    """Open trades come straight from Freqtrade's list."""
    feed = BacktestTradeFeed()
    feed.refresh(DAY)
    before = feed.version()
    LocalTrade.add_bt_trade(_trade(LocalTrade, "A/B"))
    assert [t.pair for t in feed.open_trades()] == ["A/B"]
    assert feed.version() != before


@pytest.mark.usefixtures("bt_trades")
def test_backtest_feed_when_trade_closes_or_run_resets_then_position_moves() -> None:
    """Same list and length until a trade closes; a new run brings a new list; open_since
    gives the open trades only while the position holds."""
    feed = BacktestTradeFeed()
    closed, count = feed.position()
    assert closed is LocalTrade.bt_trades
    assert count == 0
    LocalTrade.add_bt_trade(_trade(LocalTrade, "A/B"))  # an opened trade is no close
    assert feed.position()[1] == 0
    assert [t.pair for t in feed.open_since(closed, 0) or []] == ["A/B"]
    LocalTrade.bt_trades.append(_trade(LocalTrade, "A/B", closed_at=DAY, profit=1.0))
    assert feed.position() == (closed, 1)
    assert feed.open_since(closed, 0) is None  # a trade closed since
    assert feed.open_since(closed, 1) is not None
    LocalTrade.reset_trades()
    assert feed.position()[0] is not closed
    assert feed.position()[1] == 0
    assert feed.open_since(closed, 1) is None  # a new run: a new list
    assert feed.open_since(closed, 0) is None


def _priced_trades() -> list[Any]:
    long = _trade(LocalTrade, "ETH/BTC")
    short = _trade(LocalTrade, "LTC/BTC")
    short.is_short = True
    return [long, short]


def test_backtest_prices_when_trades_valued_then_sum_of_pnl_at_last_closes(
    shared_data: Path,
) -> None:
    """One pass over the open trades equals unrealised_pnl at last_closes, summed."""
    config = {
        "runmode": RunMode.BACKTEST,
        "datadir": shared_data,
        "dataformat_ohlcv": "feather",
        "candle_type_def": CandleType.SPOT,
        "timerange": None,
    }
    dp = DataProvider(config, None)
    moment = dp.historic_ohlcv("ETH/BTC", "5m")["date"].iloc[500].to_pydatetime()
    feed = BacktestPriceFeed(dp, "5m", 300)
    trades = _priced_trades()
    closes = feed.last_closes(["ETH/BTC", "LTC/BTC"], moment)
    assert closes is not None

    value = feed.unrealised(trades, moment)

    assert value == unrealised_pnl(trades[0], closes[0]) + unrealised_pnl(trades[1], closes[1])
    assert value != 0.0
    assert feed.unrealised([], moment) == 0.0
    early = dp.historic_ohlcv("LTC/BTC", "5m")["date"].iloc[0].to_pydatetime()
    assert feed.unrealised(trades[1:], early) is None  # no closed LTC/BTC candle yet


def test_live_prices_when_trades_valued_then_sum_of_pnl_or_none_when_pair_missing() -> None:
    """Live valuation: the same sum; None when a pair has no frame."""
    dp = DataProvider({"runmode": RunMode.DRY_RUN, "candle_type_def": CandleType.SPOT}, None)
    start = datetime(2025, 8, 17, 10, 0, tzinfo=UTC)
    for pair, close in (("ETH/BTC", 0.06), ("LTC/BTC", 0.045)):
        frame = pd.DataFrame({"date": pd.to_datetime([start], utc=True), "close": [close]})
        dp._set_cached_df(pair, "5m", frame, CandleType.SPOT)
    feed = LivePriceFeed(dp, "5m", 300)
    trades = _priced_trades()
    now = start + timedelta(minutes=5)

    value = feed.unrealised(trades, now)

    assert value == unrealised_pnl(trades[0], 0.06) + unrealised_pnl(trades[1], 0.045)
    assert value != 0.0
    missing = _trade(LocalTrade, "XRP/BTC")
    assert feed.unrealised([*trades, missing], now) is None


@pytest.mark.usefixtures("trade_db")
def test_live_feed_when_database_has_trades_then_today_and_streak_queried() -> None:
    """Dry-run/live: today's realised PnL and the last N closed trades come from the DB."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [
        _trade(Trade, "A/B", closed_at=midnight - timedelta(hours=2), profit=-9.0),
        _trade(Trade, "A/B", closed_at=midnight - timedelta(hours=1), profit=3.0),
        _trade(Trade, "A/B", closed_at=midnight + timedelta(seconds=1), profit=-1.0),
        _trade(Trade, "C/B", closed_at=midnight + timedelta(seconds=2), profit=-2.0),
        _trade(Trade, "D/B"),
    ]
    for row in rows:
        row.close_date = row.close_date.replace(tzinfo=None) if row.close_date else None
        row.open_date = row.open_date.replace(tzinfo=None)
        Trade.session.add(row)
    Trade.commit()

    feed = LiveTradeFeed(streak_window=5)
    feed.refresh(now)

    assert feed.realised_today == -3.0
    assert feed.loss_streak == 2
    assert feed.last_loss_at == midnight + timedelta(seconds=2)
    assert [t.pair for t in feed.open_trades()] == ["D/B"]


def test_backtest_prices_when_asked_then_last_closed_candle_only(shared_data: Path) -> None:
    """The close of the candle that closed at ``now``: never the one still forming."""
    config = {
        "runmode": RunMode.BACKTEST,
        "datadir": shared_data,
        "dataformat_ohlcv": "feather",
        "candle_type_def": CandleType.SPOT,
        "timerange": None,
    }
    dp = DataProvider(config, None)
    candles = dp.historic_ohlcv("ETH/BTC", "5m")
    feed = BacktestPriceFeed(dp, "5m", 300)
    moment = candles["date"].iloc[100].to_pydatetime()

    candle = feed.last_closed("ETH/BTC", moment)

    assert candle is not None
    assert candle.date == moment - timedelta(minutes=5)
    assert candle.close == candles["close"].iloc[99]
    assert feed.last_closes(["ETH/BTC", "ETH/BTC"], moment) == [candle.close] * 2
    assert feed.last_closes(["ETH/BTC"], candles["date"].iloc[0].to_pydatetime()) is None
    assert feed.last_closed("ETH/BTC", candles["date"].iloc[0].to_pydatetime()) is None


def test_live_prices_when_last_row_still_open_then_previous_row() -> None:
    """Live frames end with closed candles; a forming one is skipped anyway."""
    dp = DataProvider({"runmode": RunMode.DRY_RUN, "candle_type_def": CandleType.SPOT}, None)
    start = datetime(2025, 8, 17, 10, 0, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime([start, start + timedelta(minutes=5)], utc=True),
            "close": [1.0, 2.0],
        }
    )
    dp._set_cached_df("ETH/BTC", "5m", frame, CandleType.SPOT)
    feed = LivePriceFeed(dp, "5m", 300)

    closed = feed.last_closed("ETH/BTC", start + timedelta(minutes=10))
    forming = feed.last_closed("ETH/BTC", start + timedelta(minutes=9))

    assert closed is not None
    assert (closed.close, forming.close if forming else None) == (2.0, 1.0)
    assert feed.last_closed("LTC/BTC", start) is None
    assert feed.last_closes(["ETH/BTC"], start + timedelta(minutes=10)) == [2.0]
    assert feed.last_closes(["ETH/BTC", "LTC/BTC"], start + timedelta(minutes=10)) is None


@pytest.mark.parametrize(
    ("mode", "is_short"),
    [("spot", False), ("futures", False), ("futures", True), ("margin", False), ("margin", True)],
)
@pytest.mark.parametrize("rate", [0.04, 0.05, 0.0613])
def test_unrealised_pnl_when_compared_then_equals_freqtrade_calculate_profit(
    is_short: bool, mode: str, rate: float
) -> None:
    """The fast float valuation matches Freqtrade's own (fees and funding included)."""
    trade = LocalTrade(
        pair="XRP/USDT:USDT" if mode == "futures" else "ETH/BTC",
        stake_amount=10.0,
        open_rate=0.05,
        amount=600.0,
        fee_open=0.0005,
        fee_close=0.0007,
        open_date=DAY,
        is_open=True,
        exchange="binance",
        is_short=is_short,
        leverage=3.0 if mode != "spot" else 1.0,
        trading_mode=TradingMode(mode),
        interest_rate=0.0005,
    )
    trade.funding_fees = -0.12 if mode == "futures" else None
    expected = trade.calculate_profit(rate).profit_abs
    assert unrealised_pnl(trade, rate) == pytest.approx(expected, abs=1e-8)
