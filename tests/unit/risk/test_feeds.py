"""Trade and price feeds (app/risk/feeds.py) on Freqtrade's real trade and data classes."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType, RunMode, TradingMode
from freqtrade.persistence import LocalTrade, Order, Trade, init_db
from hypothesis import given, settings
from hypothesis import strategies as st

from app.risk import feeds
from app.risk.feeds import (
    BacktestPriceFeed,
    BacktestTradeFeed,
    LivePriceFeed,
    LiveTradeFeed,
    unrealised_pnl,
)
from app.risk.snapshot import Candle

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


# -- ROUND 3 OF MUTATION TESTING: what the survivors showed untested -------------------------

T0 = datetime(2025, 8, 17, 10, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)
MICRO = timedelta(microseconds=1)


@pytest.fixture
def fresh_series() -> Iterator[None]:
    """The per-process series cache emptied before and after (synthetic frames)."""
    feeds._SERIES.clear()
    yield
    feeds._SERIES.clear()


def _backtest_dp(frames: dict[str, tuple[list[datetime], list[float]]]) -> DataProvider:
    """A backtest provider whose cache holds these frames, as the backtest leaves it."""
    config = {"runmode": RunMode.BACKTEST, "candle_type_def": CandleType.SPOT}
    dp = DataProvider(config, None)
    for pair, (dates, closes) in frames.items():
        frame = pd.DataFrame({"date": pd.to_datetime(dates, utc=True), "close": closes})
        dp._set_cached_df(pair, "5m", frame, CandleType.SPOT)
    return dp


FOUR_CANDLES = ([T0, T0 + FIVE, T0 + 2 * FIVE, T0 + 3 * FIVE], [1.0, 2.0, 3.0, 4.0])


@pytest.mark.usefixtures("fresh_series")
@pytest.mark.parametrize(
    ("now", "close"),
    [
        (T0 + 2 * FIVE, 2.0),  # the 10:05 candle closed at 10:10 exactly
        (T0 + 2 * FIVE - timedelta(microseconds=1), 1.0),  # a microsecond before: not yet
        (T0 + 2 * FIVE + timedelta(minutes=2), 2.0),  # mid-candle: never the forming one
        (T0 + FIVE, 1.0),  # the data's first candle has just closed: it counts
    ],
    ids=["on-the-close", "just-before", "mid-candle", "first-candle"],
)
@pytest.mark.parametrize("method", ["last_closed", "last_closes", "unrealised"])
def test_backtest_prices_when_each_method_asked_first_then_last_closed_candle_exactly(
    now: datetime, close: float, method: str
) -> None:
    """Each lookup, as the first call at that moment on a fresh feed, takes the candle that
    closed by ``now`` to the microsecond, and never the one still forming (no look-ahead)."""
    feed = BacktestPriceFeed(_backtest_dp({"ETH/BTC": FOUR_CANDLES}), "5m", 300)
    trade = _trade(LocalTrade, "ETH/BTC")

    if method == "last_closed":
        candle = feed.last_closed("ETH/BTC", now)
        assert candle is not None and candle.close == close
        assert candle.date + FIVE <= now < candle.date + 2 * FIVE
    elif method == "last_closes":
        assert feed.last_closes(["ETH/BTC"], now) == [close]
    else:
        assert feed.unrealised([trade], now) == unrealised_pnl(trade, close)


_ZONES = (
    UTC,
    ZoneInfo("UTC"),
    ZoneInfo("Etc/UTC"),
    ZoneInfo("Europe/Berlin"),  # DST: an offset that changes
    ZoneInfo("America/New_York"),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(0), "Z"),  # zero offset, but not one of the UTC zones
)


@settings(max_examples=300, deadline=None)
@given(
    micros=st.integers(min_value=-FIVE // MICRO, max_value=6 * FIVE // MICRO),
    zones=st.lists(st.sampled_from(_ZONES), min_size=1, max_size=4),
)
def test_backtest_prices_when_now_in_any_zone_then_the_candle_closed_by_that_instant(
    micros: int, zones: list[Any]
) -> None:
    """Whatever ``now``'s tzinfo, to the microsecond: the candle that closed by that
    instant (none before the first one closed), its open time the same instant as the
    data's, in ``now``'s own tzinfo when that is a UTC zone (cheap to compare). One feed
    asked at later and later moments, each in the next zone (as a backtest moves on)."""
    feeds._SERIES.clear()
    feed = BacktestPriceFeed(_backtest_dp({"ETH/BTC": FOUR_CANDLES}), "5m", 300)
    dates, closes = FOUR_CANDLES
    for step, zone in enumerate(zones):
        now = (T0 + timedelta(microseconds=micros) + step * FIVE / 3).astimezone(zone)
        closed = [k for k, date in enumerate(dates) if date + FIVE <= now]

        candle = feed.last_closed("ETH/BTC", now)

        if not closed:
            assert candle is None
            assert feed.last_closes(["ETH/BTC"], now) is None
            continue
        assert candle == Candle(date=dates[closed[-1]], close=closes[closed[-1]])
        assert feed.last_closes(["ETH/BTC"], now) == [closes[closed[-1]]]
        if any(zone is utc for utc in _ZONES[:3]):  # ``==`` would take "Z" for UTC
            assert candle.date.tzinfo is zone


@pytest.mark.usefixtures("fresh_series")
def test_backtest_prices_when_same_pair_loaded_with_other_candles_then_never_confused() -> None:
    """The per-process cache tells apart two loads of a pair with as many candles and the
    same first (or last) candle, e.g. data with a gap: each run gets its own closes."""
    gap_at_end = ([T0, T0 + FIVE, T0 + 4 * FIVE], [1.0, 2.0, 9.0])
    no_gap = ([T0, T0 + FIVE, T0 + 2 * FIVE], [1.0, 2.0, 3.0])
    late_start = ([T0 + FIVE, T0 + 2 * FIVE, T0 + 4 * FIVE], [5.0, 6.0, 7.0])
    now = T0 + 5 * FIVE

    got = [
        BacktestPriceFeed(_backtest_dp({"ETH/BTC": frame}), "5m", 300).last_closes(["ETH/BTC"], now)
        for frame in (no_gap, gap_at_end, late_start)
    ]
    early = BacktestPriceFeed(_backtest_dp({"ETH/BTC": late_start}), "5m", 300)

    assert got == [[3.0], [9.0], [7.0]]
    assert early.last_closes(["ETH/BTC"], T0 + 2 * FIVE) == [5.0]
    # As many candles, the same second and last candle, another first one.
    from_start = ([T0, T0 + 2 * FIVE, T0 + 3 * FIVE], [4.0, 5.0, 6.0])
    from_later = ([T0 + FIVE, T0 + 2 * FIVE, T0 + 3 * FIVE], [7.0, 8.0, 9.0])
    firsts = [
        BacktestPriceFeed(_backtest_dp({"ETH/BTC": frame}), "5m", 300).last_closes(
            ["ETH/BTC"], T0 + 2 * FIVE
        )
        for frame in (from_start, from_later)
    ]
    assert firsts == [[4.0], [7.0]]


@pytest.mark.usefixtures("bt_trades")
def test_backtest_feed_when_new_run_starts_empty_after_an_empty_one_then_position_moved() -> None:
    """The first candle of a new run (a new, empty list) is not the old run's position,
    even though both lists are empty."""
    feed = BacktestTradeFeed()
    closed, count = feed.position()
    LocalTrade.reset_trades()

    assert feed.open_since(closed, count) is None
    LocalTrade.bt_trades.append(_trade(LocalTrade, "A/B", closed_at=DAY, profit=1.0))
    assert feed.open_since(closed, count) is None


def test_live_prices_when_only_row_still_forming_then_none() -> None:
    """A frame of one candle that has not closed yet gives no price (no previous row)."""
    dp = DataProvider({"runmode": RunMode.DRY_RUN, "candle_type_def": CandleType.SPOT}, None)
    frame = pd.DataFrame({"date": pd.to_datetime([T0], utc=True), "close": [1.0]})
    dp._set_cached_df("ETH/BTC", "5m", frame, CandleType.SPOT)
    feed = LivePriceFeed(dp, "5m", 300)

    assert feed.last_closed("ETH/BTC", T0 + timedelta(minutes=4)) is None
    assert feed.last_closed("ETH/BTC", T0 + FIVE) is not None


@pytest.mark.usefixtures("trade_db")
def test_live_feed_when_refreshed_then_never_a_new_run_and_always_a_new_version() -> None:
    """Live has no backtest runs (refresh is never a new run) and every snapshot is new."""
    feed = LiveTradeFeed(streak_window=3)

    assert feed.refresh(datetime.now(UTC)) is False
    versions = [feed.version() for _ in range(3)]
    assert len(set(versions)) == 3


@pytest.mark.usefixtures("fresh_series")
def test_backtest_prices_when_walked_forward_then_each_moment_as_a_fresh_feed() -> None:
    """One feed asked candle after candle (the backtest's order) answers as a fresh feed
    would at each moment: nothing of the previous moment is kept by mistake."""
    feed = BacktestPriceFeed(_backtest_dp({"ETH/BTC": FOUR_CANDLES}), "5m", 300)
    trade = _trade(LocalTrade, "ETH/BTC")

    values = [feed.unrealised([trade], T0 + k * FIVE) for k in (1, 2, 3, 4)]

    assert values == [unrealised_pnl(trade, close) for close in (1.0, 2.0, 3.0, 4.0)]


@pytest.mark.usefixtures("fresh_series")
def test_backtest_prices_when_daily_candles_then_exact_to_the_microsecond() -> None:
    """With 1d candles the day's candle counts from its close on, not a microsecond before
    (the timeframe is exactly 86400 s in nanoseconds)."""
    days = ([T0, T0 + timedelta(days=1)], [1.0, 2.0])
    feed = BacktestPriceFeed(_backtest_dp_tf({"ETH/BTC": days}, "1d"), "1d", 86400)
    close = T0 + timedelta(days=2)

    assert feed.last_closes(["ETH/BTC"], close - timedelta(microseconds=1)) == [1.0]
    assert feed.last_closes(["ETH/BTC"], close) == [2.0]


def _backtest_dp_tf(frames: dict[str, tuple[list[datetime], list[float]]], tf: str) -> Any:
    config = {"runmode": RunMode.BACKTEST, "candle_type_def": CandleType.SPOT}
    dp = DataProvider(config, None)
    for pair, (dates, closes) in frames.items():
        frame = pd.DataFrame({"date": pd.to_datetime(dates, utc=True), "close": closes})
        dp._set_cached_df(pair, tf, frame, CandleType.SPOT)
    return dp


@pytest.mark.parametrize(
    ("mode", "is_short"), [("spot", False), ("futures", False), ("futures", True)]
)
def test_unrealised_pnl_when_no_fee_and_no_funding_yet_then_equals_freqtrade(
    mode: str, is_short: bool
) -> None:
    """A zero close fee (a fee-free pair) and zero funding so far are zero, not missing."""
    trade = LocalTrade(
        pair="XRP/USDT:USDT" if mode == "futures" else "ETH/BTC",
        stake_amount=10.0,
        open_rate=0.05,
        amount=600.0,
        fee_open=0.0,
        fee_close=0.0,
        open_date=DAY,
        is_open=True,
        exchange="binance",
        is_short=is_short,
        leverage=3.0 if mode != "spot" else 1.0,
        trading_mode=TradingMode(mode),
    )
    trade.funding_fees = 0.0

    assert unrealised_pnl(trade, 0.06) == pytest.approx(
        trade.calculate_profit(0.06).profit_abs, abs=1e-12
    )


@pytest.mark.usefixtures("bt_trades")
def test_backtest_feed_when_list_grows_then_same_run_and_when_replaced_empty_then_new_run() -> None:
    """More closed trades in the same list are the same run; a new list is a new run even
    when both are empty (an epoch without closed trades, then the next), and the version
    says so."""
    feed = BacktestTradeFeed()
    assert feed.refresh(DAY) is True
    LocalTrade.bt_trades.append(_trade(LocalTrade, "A/B", closed_at=DAY, profit=1.0))
    assert feed.refresh(DAY) is False

    LocalTrade.reset_trades()
    assert feed.refresh(DAY) is True
    before = feed.version()
    LocalTrade.reset_trades()
    assert feed.refresh(DAY) is True
    assert feed.version() != before


@pytest.mark.usefixtures("bt_trades")
def test_backtest_feed_when_break_even_small_or_midnight_trades_then_counted_as_documented() -> (
    None
):
    """Break-even (0) is no loss and ends a streak; a fraction of a coin lost is a loss and
    won ends a streak; a trade closed at 00:00 exactly counts for the new day."""
    feed = BacktestTradeFeed()
    for profit in (-0.5, -0.5):
        LocalTrade.bt_trades.append(_trade(LocalTrade, "A/B", closed_at=DAY, profit=profit))
    feed.refresh(DAY)
    assert (feed.loss_streak, feed.realised_today) == (2, -1.0)

    LocalTrade.bt_trades.append(_trade(LocalTrade, "A/B", closed_at=DAY, profit=0.0))
    feed.refresh(DAY)
    assert (feed.loss_streak, feed.realised_today) == (0, -1.0)

    LocalTrade.bt_trades.append(_trade(LocalTrade, "A/B", closed_at=DAY, profit=-0.5))
    LocalTrade.bt_trades.append(_trade(LocalTrade, "A/B", closed_at=DAY, profit=0.5))
    feed.refresh(DAY)
    assert (feed.loss_streak, feed.realised_today) == (0, -1.0)


@pytest.mark.usefixtures("trade_db")
def test_live_feed_when_last_trades_break_even_or_small_then_streak_as_documented() -> None:
    """Live: a break-even last trade ends the streak and adds nothing today; a small win
    ends it too; small losses count."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [
        _trade(Trade, "A/B", closed_at=midnight + timedelta(seconds=1), profit=-0.5),
        _trade(Trade, "A/B", closed_at=midnight + timedelta(seconds=2), profit=0.5),
        _trade(Trade, "A/B", closed_at=midnight + timedelta(seconds=3), profit=-0.5),
        _trade(Trade, "A/B", closed_at=midnight + timedelta(seconds=4), profit=-0.25),
        _trade(Trade, "A/B", closed_at=midnight + timedelta(seconds=5), profit=0.0),
    ]
    for row in rows:
        row.close_date = row.close_date.replace(tzinfo=None) if row.close_date else None
        row.open_date = row.open_date.replace(tzinfo=None)
        Trade.session.add(row)
    Trade.commit()
    feed = LiveTradeFeed(streak_window=5)

    feed.refresh(now)
    assert (feed.loss_streak, feed.realised_today) == (0, -0.75)

    Trade.session.delete(rows[-1])
    Trade.commit()
    feed.refresh(now)
    assert (feed.loss_streak, feed.last_loss_at) == (2, midnight + timedelta(seconds=4))
    Trade.session.delete(rows[-2])
    Trade.session.delete(rows[-3])
    Trade.commit()
    feed.refresh(now)
    assert feed.loss_streak == 0  # the last trade is a small win


def test_backtest_prices_when_same_ends_but_other_candles_then_closes_of_the_new_frame() -> None:
    """The per-process series cache never hands out another frame's closes: same pair,
    count and first/last open times, but other candles in between or other closes."""
    day = datetime(2018, 1, 12, 10, 0, tzinfo=UTC)
    now = day + timedelta(minutes=15)  # the last closed 5m candle opened at or before 10:10
    minutes_a, minutes_b = (0, 5, 20), (0, 10, 20)
    frames = [
        (minutes_a, (1.0, 2.0, 9.0), 2.0),
        (minutes_b, (4.0, 5.0, 6.0), 5.0),  # other dates inside the same ends
        (minutes_a, (1.5, 2.5, 9.5), 2.5),  # the first dates, other closes
        (minutes_a, (1.0, 2.0, 9.0), 2.0),  # the first frame again: served from the cache
    ]
    for minutes, closes, expected in frames:
        config = {"runmode": RunMode.BACKTEST, "candle_type_def": CandleType.SPOT}
        dp = DataProvider(config, None)
        dates = [day + timedelta(minutes=m) for m in minutes]
        frame = pd.DataFrame({"date": pd.to_datetime(dates, utc=True), "close": list(closes)})
        dp._set_cached_df("COLLIDE/BTC", "5m", frame, CandleType.SPOT)
        feed = BacktestPriceFeed(dp, "5m", 300)

        assert feed.last_closes(["COLLIDE/BTC"], now) == [expected], (minutes, closes)


# -- THE PER-PROCESS SERIES CACHE (after its fix: a hit needs equal candles) -----------------


def _series_of(frame: tuple[list[datetime], list[float]]) -> tuple[list[int], list[float]]:
    """The series a fresh feed of a fresh provider gets for ``frame`` (as each epoch)."""
    return BacktestPriceFeed(_backtest_dp({"ETH/BTC": frame}), "5m", 300)._series("ETH/BTC")


@pytest.mark.usefixtures("fresh_series")
def test_series_cache_when_identical_candles_loaded_again_then_series_reused() -> None:
    """Each hyperopt epoch loads the same candles into new frames: the second load reuses
    the first one's series (the same lists, nothing rebuilt), a NaN close included."""
    candles = ([T0, T0 + FIVE, T0 + 2 * FIVE], [1.0, float("nan"), 3.0])
    first = _series_of(candles)
    again = _series_of((list(candles[0]), list(candles[1])))

    assert again[0] is first[0] and again[1] is first[1]


@pytest.mark.usefixtures("fresh_series")
def test_series_cache_when_data_sets_alternate_then_each_keeps_its_series() -> None:
    """Three data sets of as many candles, two with the same first and two with the same
    last candle, loaded in turn: each keeps its own entry (none pushes another out)."""
    base = ([T0, T0 + FIVE, T0 + 2 * FIVE], [1.0, 2.0, 3.0])
    same_first = ([T0, T0 + FIVE, T0 + 3 * FIVE], [1.0, 2.0, 4.0])
    same_last = ([T0 - FIVE, T0 + FIVE, T0 + 2 * FIVE], [0.5, 2.0, 3.0])
    loaded = [_series_of(frame) for frame in (base, same_first, same_last)]

    assert [_series_of(frame)[1] for frame in (base, same_first, same_last)] == [
        [1.0, 2.0, 3.0],
        [1.0, 2.0, 4.0],
        [0.5, 2.0, 3.0],
    ]
    assert _series_of(base)[0] is loaded[0][0]
    assert len(feeds._SERIES) == 3


@pytest.mark.usefixtures("fresh_series")
def test_backtest_prices_when_one_candle_or_none_then_answer_without_error() -> None:
    """A pair with a single candle (or none: a pair listed after the test range) is
    valued from that candle (or not at all), never an IndexError."""
    one = BacktestPriceFeed(_backtest_dp({"ETH/BTC": ([T0], [7.0])}), "5m", 300)
    empty = BacktestPriceFeed(_backtest_dp({"ETH/BTC": ([], [])}), "5m", 300)

    assert one.last_closes(["ETH/BTC"], T0 + FIVE) == [7.0]
    assert one.last_closes(["ETH/BTC"], T0) is None
    assert empty.last_closes(["ETH/BTC"], T0 + FIVE) is None


# -- CALM BLOCKS: how long open trades provably stay within a room (backtests) ---------------

CALM_PAIRS = ("ETH/BTC", "LTC/BTC")
MICRO = timedelta(microseconds=1)


def _walk_frames(walks: list[list[float]], nan_at: int | None) -> DataProvider:
    """One random walk of closes per pair from T0; a NaN close at ``nan_at`` of the first."""
    frames = {}
    for number, (pair, steps) in enumerate(zip(CALM_PAIRS, walks, strict=False)):
        closes, price = [], 1.0
        for step in steps:
            price *= 1 + step
            closes.append(price)
        if number == 0 and nan_at is not None:
            closes[nan_at] = float("nan")
        frames[pair] = ([T0 + index * FIVE for index in range(len(closes))], closes)
    return _backtest_dp(frames)


def _spot(pair: str, amount: float, *, short: bool = False, mode: str = "spot") -> LocalTrade:
    return LocalTrade(
        pair=pair,
        stake_amount=amount,
        open_rate=1.0,
        amount=amount,
        fee_open=0.001,
        fee_close=0.001,
        open_date=T0,
        is_open=True,
        exchange="binance",
        leverage=1.0,
        is_short=short,
        trading_mode=TradingMode(mode),
    )


@pytest.mark.usefixtures("fresh_series")
@settings(max_examples=150, deadline=None)
@given(
    walks=st.lists(
        st.lists(st.floats(min_value=-0.02, max_value=0.02), min_size=90, max_size=90),
        min_size=2,
        max_size=2,
    ),
    nan_at=st.none() | st.integers(min_value=0, max_value=89),
    positions=st.lists(
        st.tuples(st.sampled_from(CALM_PAIRS), st.floats(0.5, 50.0), st.booleans()),
        min_size=1,
        max_size=3,
    ),
    start=st.integers(min_value=0, max_value=85),
    rise=st.just(0.0) | st.floats(min_value=1e-4, max_value=0.5),
    fall=st.floats(min_value=1e-4, max_value=0.5),
)
def test_calm_until_when_proven_then_every_candle_before_stays_within_the_room(
    walks: list[list[float]],
    nan_at: int | None,
    positions: list[tuple[str, float, bool]],
    start: int,
    rise: float,
    fall: float,
) -> None:
    """Every candle that becomes the last closed one before the answer values the trades
    within ``rise`` above and ``fall`` below their value now (``rise`` 0: never above it,
    to the bit; then None with a short trade); the answer is a microsecond before a
    candle's close, in ``now``'s tzinfo; with one pair, the candle after the block leaves
    that room (or is NaN, or the horizon ended the block)."""
    feed = BacktestPriceFeed(_walk_frames(walks, nan_at), "5m", 300)
    trades = [_spot(pair, amount, short=short) for pair, amount, short in positions]
    now = (T0 + (start + 1) * FIVE).astimezone(ZoneInfo("UTC"))  # candle ``start`` closed
    value = feed.unrealised(trades, now)
    until = feed.calm_until(trades, now, rise, fall)
    if rise == 0.0 and any(short for _, _, short in positions):
        assert until is None
        return
    if value is None or value != value:  # a NaN close now proves nothing
        assert until is None or until == now - MICRO + FIVE
        return
    assert until is not None
    assert until.tzinfo is now.tzinfo
    moment, inside = now + FIVE, 0
    while moment < until and moment <= T0 + 90 * FIVE:
        later = feed.unrealised(trades, moment)
        assert later is not None
        assert value - fall <= later <= value + rise, (moment, value, later)
        moment, inside = moment + FIVE, inside + 1
    if until == feeds.FOREVER.replace(tzinfo=now.tzinfo):
        assert start + 1 + inside == 90  # every candle after now was proven
        return
    assert ((until + MICRO) - T0) % FIVE == timedelta(0)
    assert until + MICRO == moment
    if len({pair for pair, _, _ in positions}) == 1 and inside < feeds.HORIZON:
        after = feed.unrealised(trades, moment)
        assert after is None or after != after or not value - fall <= after <= value + rise


def test_calm_until_when_flat_then_block_ends_at_the_horizon_or_at_the_data_end() -> None:
    """Unmoving closes: the block ends after HORIZON candles, or never when the data ends
    within it (the answer is then FOREVER, in ``now``'s tzinfo)."""
    flat = [0.0] * 300  # more candles than Python keeps as shared small ints
    feed = BacktestPriceFeed(_walk_frames([flat], None), "5m", 300)
    trades = [_spot("ETH/BTC", 2.0)]
    now = T0 + FIVE
    near_end = T0 + 290 * FIVE

    assert feed.calm_until(trades, now, 0.01, 0.01) == now + (feeds.HORIZON + 1) * FIVE - MICRO
    assert feed.calm_until(trades, near_end, 0.01, 0.01) == feeds.FOREVER
    zoned = near_end.astimezone(ZoneInfo("UTC"))
    assert feed.calm_until(trades, zoned, 0.01, 0.01).tzinfo is zoned.tzinfo  # type: ignore[union-attr]


def test_calm_until_when_nothing_can_be_proven_then_none() -> None:
    """No room below, no room above with a short trade, no trades, a trade that is not
    spot or has an open order, or no candle closed yet: None (the caller values every
    candle)."""
    feed = BacktestPriceFeed(_walk_frames([[0.0] * 10], None), "5m", 300)
    now = T0 + FIVE
    spot = _spot("ETH/BTC", 2.0)
    waiting = _spot("ETH/BTC", 2.0)
    waiting.orders.append(
        Order(
            ft_order_side="buy",
            ft_pair="ETH/BTC",
            ft_is_open=True,
            ft_amount=2.0,
            ft_price=1.0,
            order_id="entry-1",
            status="open",
        )
    )

    assert feed.calm_until([spot], now, 0.01, 0.01) is not None
    assert feed.calm_until([spot], now, 0.0, 0.01) is not None  # at the peak: long only
    assert feed.calm_until([spot, _spot("ETH/BTC", 1.0, short=True)], now, 0.0, 0.01) is None
    assert feed.calm_until([spot], now, 0.01, 0.0) is None
    assert feed.calm_until([], now, 0.01, 0.01) is None
    assert feed.calm_until([_spot("ETH/BTC", 2.0, mode="futures")], now, 0.01, 0.01) is None
    assert feed.calm_until([spot, waiting], now, 0.01, 0.01) is None
    assert feed.calm_until([spot], T0, 0.01, 0.01) is None


@pytest.mark.usefixtures("fresh_series")
def test_backtest_prices_when_freqtrade_gives_an_empty_frame_then_no_price_and_no_error() -> None:
    """``historic_ohlcv`` of a pair without candles is an empty frame whose date column is
    text (no int64 view): no price, never an AttributeError (the guard failed closed on
    every loop)."""
    config = {"runmode": RunMode.BACKTEST, "candle_type_def": CandleType.SPOT}
    dp = DataProvider(config, None)
    dp._set_cached_df("NEW/BTC", "5m", pd.DataFrame(columns=["date", "close"]), CandleType.SPOT)
    feed = BacktestPriceFeed(dp, "5m", 300)

    assert feed.last_closes(["NEW/BTC"], T0) is None
    assert feed.last_closed("NEW/BTC", T0) is None
    assert feed.calm_until([_spot("NEW/BTC", 1.0)], T0, 0.01, 0.01) is None


@pytest.mark.usefixtures("fresh_series")
def test_backtest_prices_when_hyperopt_then_series_kept_across_runs_backtest_reloads() -> None:
    """Hyperopt's epochs backtest the same candles: a new run keeps the series. A backtest
    run may use other candles: a new run loads them again."""
    dp = _backtest_dp({"ETH/BTC": FOUR_CANDLES})
    hyperopt = BacktestPriceFeed(dp, "5m", 300, same_data=True)
    backtest = BacktestPriceFeed(dp, "5m", 300)
    for feed in (hyperopt, backtest):
        feed.last_closes(["ETH/BTC"], T0 + 2 * FIVE)
        feed.reset()
    dp._set_cached_df(
        "ETH/BTC",
        "5m",
        pd.DataFrame({"date": pd.to_datetime(FOUR_CANDLES[0], utc=True), "close": [9.0] * 4}),
        CandleType.SPOT,
    )

    assert hyperopt.last_closes(["ETH/BTC"], T0 + 2 * FIVE) == [2.0]
    assert backtest.last_closes(["ETH/BTC"], T0 + 2 * FIVE) == [9.0]


@settings(max_examples=300, deadline=None)
@given(
    amount=st.floats(min_value=1e-8, max_value=1e8),
    fee=st.floats(min_value=0.0, max_value=feeds.MONOTONE_FEE),
    open_value=st.floats(min_value=0.0, max_value=1e8),
    low=st.floats(min_value=1e-12, max_value=1e12),
    steps=st.integers(min_value=0, max_value=3) | st.floats(min_value=0.0, max_value=1e6),
)
def test_unrealised_pnl_when_close_rises_then_never_falls_to_the_bit(
    amount: float, fee: float, open_value: float, low: float, steps: int | float
) -> None:
    """A long spot trade (close fee up to MONOTONE_FEE) is worth at least as much at a
    higher close, in floating point too, from one representable step up (``steps`` as an
    int: that many steps) to far above: what the calm proof at the day's peak relies on."""
    trade = _spot("ETH/BTC", amount)
    trade.fee_close = fee
    trade.open_trade_value = open_value
    if isinstance(steps, int):
        high = low
        for _ in range(steps):
            high = math.nextafter(high, math.inf)
    else:
        high = low * (1.0 + steps)

    assert unrealised_pnl(trade, low) <= unrealised_pnl(trade, high)


@pytest.mark.usefixtures("fresh_series")
def test_calm_until_when_at_the_peak_then_block_ends_at_the_first_higher_close() -> None:
    """No room above (the day's peak): the block holds while every close stays at or
    below the close now and ends on the first one above it, even by one step; a close fee
    above MONOTONE_FEE proves nothing there."""
    closes = [1.0, 1.0, 0.99, 1.0, math.nextafter(1.0, 2.0), 0.9]
    feed = BacktestPriceFeed(
        _backtest_dp({"ETH/BTC": ([T0 + i * FIVE for i in range(6)], closes)}), "5m", 300
    )
    trade = _spot("ETH/BTC", 2.0)
    now = T0 + FIVE  # candle 0 closed

    assert feed.calm_until([trade], now, 0.0, 1.0) == T0 + 5 * FIVE - MICRO
    assert feed.calm_until([trade], now, -1e-12, 1.0) == T0 + 5 * FIVE - MICRO
    trade.fee_close = feeds.MONOTONE_FEE * 2
    assert feed.calm_until([trade], now, 0.0, 1.0) is None
    assert feed.calm_until([trade], now, 0.01, 1.0) is not None


@pytest.mark.usefixtures("fresh_series")
@pytest.mark.parametrize(("short", "step"), [(False, 0.01), (True, -0.01)])
def test_calm_until_when_close_fee_tips_the_move_over_the_room_then_block_ends_there(
    short: bool, step: float
) -> None:
    """The room is in PnL, fees included: 100 units moved by 0.01 gain 1.0 less the 0.1 %
    close fee long (0.999, inside a room of 1.0) and 1.0 plus the fee short (1.001,
    outside): the short's block ends at that candle, the long's goes on."""
    closes = [1.0, 1.0, 1.0 + step, 1.0 + step]
    feed = BacktestPriceFeed(
        _backtest_dp({"ETH/BTC": ([T0 + index * FIVE for index in range(4)], closes)}),
        "5m",
        300,
    )
    trades = [_spot("ETH/BTC", 100.0, short=short)]
    now = T0 + FIVE
    value, moved = feed.unrealised(trades, now), feed.unrealised(trades, T0 + 3 * FIVE)
    assert value is not None and moved is not None

    until = feed.calm_until(trades, now, 1.0, 1.0)

    if short:
        assert moved - value > 1.0
        assert until == T0 + 3 * FIVE - MICRO
    else:
        assert 0.0 < moved - value < 1.0
        assert until == feeds.FOREVER


@pytest.mark.usefixtures("fresh_series")
def test_calm_until_when_no_close_fee_or_no_amount_then_room_in_plain_price_moves() -> None:
    """A fee-free trade moves by its amount per unit of price (2 x 0.4 = 0.8 stays within
    a room of 1.0, 2 x 0.6 = 1.2 leaves it, at the fourth candle); a trade of no amount
    moves nothing (never limits), also when valued before a pair that does."""
    dates = [T0 + index * FIVE for index in range(4)]
    feed = BacktestPriceFeed(
        _backtest_dp(
            {"ETH/BTC": (dates, [1.0, 1.0, 1.4, 1.6]), "LTC/BTC": (dates, [1.0, 1.0, 1.0, 9.0])}
        ),
        "5m",
        300,
    )
    free = _spot("ETH/BTC", 2.0)
    free.fee_close = 0.0
    empty = _spot("ETH/BTC", 0.0)
    now = T0 + FIVE

    assert feed.calm_until([free], now, 1.0, 1.0) == T0 + 4 * FIVE - MICRO
    assert feed.calm_until([empty], now, 1.0, 1.0) == feeds.FOREVER
    assert feed.calm_until([_spot("ETH/BTC", 0.0, short=True)], now, 1.0, 1.0) == feeds.FOREVER
    assert feed.calm_until([empty, _spot("LTC/BTC", 1.0)], now, 1.0, 1.0) == now + 3 * FIVE - MICRO


@pytest.mark.usefixtures("fresh_series")
@pytest.mark.parametrize(
    ("close", "calm"),
    [
        (1.0 + 1.0 / 99.9, True),  # 100 x 0.01001 x 0.999 = 1.0: the room's very edge
        (1.01003, False),  # 100 x 0.01003 x 0.999 = 1.002: out
        (1.0 - 1.0 / 100.1, True),  # short 100: 100 x 0.00999 x 1.001 = 1.0, the edge
        (1.0 - 0.5, True),  # fee-free, 2 units: exactly the fall's share below
        (1.0 + 0.5, True),  # ... and exactly the rise's share above
    ],
    ids=["long-edge", "long-out", "short-edge", "free-low-edge", "free-high-edge"],
)
def test_calm_until_when_a_close_on_the_room_edge_then_inside(close: float, calm: bool) -> None:
    """The room is closed at both ends, fees counted exactly: a close on its edge is
    inside (the block goes on), a close just past it ends the block there."""
    dates = [T0 + index * FIVE for index in range(4)]
    feed = BacktestPriceFeed(_backtest_dp({"ETH/BTC": (dates, [1.0, 1.0, close, 1.0])}), "5m", 300)
    if abs(close - 1.0) > 0.1:
        trade = _spot("ETH/BTC", 2.0)
        trade.fee_close = 0.0
    else:
        trade = _spot("ETH/BTC", 100.0, short=close < 1.0)

    until = feed.calm_until([trade], T0 + FIVE, 1.0, 1.0)

    assert until == (feeds.FOREVER if calm else T0 + 3 * FIVE - MICRO)


@pytest.mark.usefixtures("fresh_series")
@pytest.mark.parametrize("first", CALM_PAIRS)
@pytest.mark.parametrize("move", [0.3, -0.3], ids=["up", "down"])
def test_calm_until_when_pairs_leave_their_share_at_different_candles_then_the_first(
    first: str, move: float
) -> None:
    """Each pair has half the room (above and below): ETH leaves its half at the third
    candle, LTC at the fourth; the block ends at the third, whichever pair is valued
    first."""
    dates = [T0 + index * FIVE for index in range(5)]
    moved = 1.0 + move
    feed = BacktestPriceFeed(
        _backtest_dp(
            {
                "ETH/BTC": (dates, [1.0, 1.0, moved, moved, moved]),
                "LTC/BTC": (dates, [1.0, 1.0, 1.0, moved, moved]),
            }
        ),
        "5m",
        300,
    )
    trades = [_spot(pair, 2.0) for pair in (first, *(p for p in CALM_PAIRS if p != first))]

    assert feed.calm_until(trades, T0 + FIVE, 1.0, 1.0) == T0 + 3 * FIVE - MICRO


@pytest.mark.usefixtures("fresh_series")
def test_backtest_prices_when_the_same_now_after_a_reset_or_a_copy_then_searched_again() -> None:
    """The index found for a pair at one ``now`` serves every question at that ``now``
    (valuing, the calm proof, the entry's candle), never the next run's data at the same
    time, nor a hyperopt worker's copy."""
    dp = _backtest_dp({"ETH/BTC": FOUR_CANDLES})
    feed = BacktestPriceFeed(dp, "5m", 300)
    trade = _spot("ETH/BTC", 1.0)
    now = T0 + 3 * FIVE  # the 10:10 candle (close 3.0) has closed

    assert feed.unrealised([trade], now) == unrealised_pnl(trade, 3.0)
    assert feed.last_closed("ETH/BTC", now) == Candle(date=T0 + 2 * FIVE, close=3.0)
    assert feed.last_closes(["ETH/BTC"], now + FIVE) == [4.0]
    assert feed.last_closes(["ETH/BTC"], now) == [3.0]

    # The next run backtests other candles (same_data is False): searched again.
    shifted = ([T0 + FIVE, T0 + 2 * FIVE], [7.0, 8.0])
    feed.dp = _backtest_dp({"ETH/BTC": shifted})
    feed.reset()
    assert feed.last_closes(["ETH/BTC"], now) == [8.0]

    clone = copy.copy(feed)  # as pickled for a worker: __getstate__
    clone.dp = _backtest_dp({"ETH/BTC": FOUR_CANDLES})
    assert clone.last_closed("ETH/BTC", now) == Candle(date=T0 + 2 * FIVE, close=3.0)
