"""CandleStore: discovering markets in a datadir, reading and aggregating candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.errors import DataError
from app.offline_exchange.store import CandleStore, CandleType, aggregate, read_candles
from tests.unit.offline_exchange.candles import write_candles


def test_scan_when_spot_and_futures_files_then_one_market_each(tmp_path: Path) -> None:
    """Spot and futures files become markets with Binance ids; mark-only pairs do not."""
    write_candles(tmp_path / "ETH_BTC-5m.feather", 10)
    write_candles(tmp_path / "futures" / "XRP_USDT_USDT-5m-futures.feather", 10)
    write_candles(tmp_path / "futures" / "XRP_USDT_USDT-1h-mark.feather", 10, timeframe="60m")
    write_candles(tmp_path / "futures" / "ADA_USDT_USDT-1h-mark.feather", 10, timeframe="60m")
    (tmp_path / "notes.txt").write_text("not candles")

    store = CandleStore(tmp_path)

    assert sorted(store.spot) == ["ETHBTC"]
    assert sorted(store.futures) == ["XRPUSDT"]
    assert store.spot["ETHBTC"].pair == "ETH/BTC"
    assert store.futures["XRPUSDT"].pair == "XRP/USDT:USDT"
    assert store.timeframes(store.futures["XRPUSDT"], CandleType.MARK) == ["1h"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("file", "is not a folder"),
        ("empty", "has no candle files"),
    ],
)
def test_store_when_datadir_unusable_then_data_error_names_it(
    tmp_path: Path, setup: str, message: str
) -> None:
    """A missing, non-folder or empty datadir is refused with its path in the message."""
    target = tmp_path / "data"
    if setup == "file":
        target.write_text("x")
    elif setup == "empty":
        target.mkdir()

    with pytest.raises(DataError, match=message) as info:
        CandleStore(target)

    assert str(target) in str(info.value)


def test_validate_when_file_is_corrupt_then_data_error_names_the_file(tmp_path: Path) -> None:
    """An unreadable candle file fails at start-up, naming the file."""
    write_candles(tmp_path / "ETH_BTC-5m.feather", 10)
    bad = tmp_path / "LTC_BTC-5m.feather"
    bad.write_bytes(b"this is not arrow")
    store = CandleStore(tmp_path)

    with pytest.raises(DataError, match=r"LTC_BTC-5m\.feather"):
        store.validate()


def test_read_when_dates_not_increasing_then_refused(tmp_path: Path) -> None:
    """Out-of-order candles are refused rather than served in a wrong order."""
    frame = write_candles(tmp_path / "ETH_BTC-5m.feather", 5)
    frame.iloc[::-1].reset_index(drop=True).to_feather(tmp_path / "ETH_BTC-5m.feather")

    with pytest.raises(DataError, match="not strictly increasing"):
        read_candles(tmp_path / "ETH_BTC-5m.feather", 300_000)


def test_read_when_file_written_by_pandas_then_values_and_ms_times_match(tmp_path: Path) -> None:
    """Candles are read exactly: open times in ms, prices as stored."""
    frame = write_candles(tmp_path / "ETH_BTC-5m.feather", 20)

    candles = read_candles(tmp_path / "ETH_BTC-5m.feather", 300_000)

    expected_ms = frame["date"].astype("int64").to_numpy() // 10**6
    if frame["date"].dt.unit == "us":
        expected_ms = frame["date"].astype("int64").to_numpy() // 10**3
    assert np.array_equal(candles.open_ms, expected_ms)
    assert np.array_equal(candles.close, frame["close"].to_numpy())
    assert candles.end_ms == int(expected_ms[-1]) + 300_000


def test_aggregate_when_5m_to_1h_then_ohlcv_rules_and_partial_edges_dropped(
    tmp_path: Path,
) -> None:
    """1h candles take first open, max high, min low, last close, summed volume."""
    start = write_candles(tmp_path / "A_B-5m.feather", 12 * 3 + 5)["date"].iloc[0]
    assert start.minute == 0
    source = read_candles(tmp_path / "A_B-5m.feather", 300_000)

    hourly = aggregate(source, 3_600_000)

    assert len(hourly) == 3  # the trailing five 5m candles make a partial hour: dropped
    assert hourly.open[0] == source.open[0]
    assert hourly.high[1] == source.high[12:24].max()
    assert hourly.low[2] == source.low[24:36].min()
    assert hourly.close[2] == source.close[35]
    assert hourly.volume[0] == pytest.approx(source.volume[:12].sum())


def test_candles_when_interval_has_no_file_then_aggregated_else_error(tmp_path: Path) -> None:
    """A 15m request is served from 5m; a 1m request (finer than any file) is refused."""
    write_candles(tmp_path / "ETH_BTC-5m.feather", 30)
    store = CandleStore(tmp_path)
    market = store.spot["ETHBTC"]

    assert len(store.candles(market, "15m")) == 10
    with pytest.raises(DataError, match="no spot candles for ETH/BTC at 1m"):
        store.candles(market, "1m")
