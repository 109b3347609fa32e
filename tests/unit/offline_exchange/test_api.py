"""The offline exchange over real HTTP on 127.0.0.1, queried by ccxt itself."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest

from app.errors import ConfigError, OfflineExchangeError
from app.offline_exchange.overlay import BINANCE_API_PATHS, ccxt_overlay
from app.offline_exchange.server import OfflineExchange
from tests.unit.offline_exchange.candles import START, write_candles

N = 600


@pytest.fixture(scope="module")
def datadir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("candles")
    write_candles(folder / "ETH_BTC-5m.feather", N, price=0.05)
    write_candles(folder / "XRP_USDT-5m.feather", N, price=1.2)
    write_candles(folder / "futures" / "XRP_USDT_USDT-5m-futures.feather", N, price=1.2)
    return folder


@pytest.fixture(scope="module")
def exchange(datadir: Path) -> Iterator[OfflineExchange]:
    with OfflineExchange(datadir) as ex:
        yield ex


def _client(exchange: OfflineExchange, futures: bool = False) -> ccxt.binance:
    config: dict[str, Any] = ccxt_overlay(exchange.url, futures=futures)["exchange"]["ccxt_config"]
    return ccxt.binance({**config, "enableRateLimit": False})


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_load_markets_when_ccxt_asks_then_markets_with_precision_and_limits(
    exchange: OfflineExchange,
) -> None:
    """ccxt parses exchangeInfo into markets with tick, step and minimum cost."""
    markets = _client(exchange).load_markets()

    assert set(markets) == {"ETH/BTC", "XRP/USDT"}
    eth = markets["ETH/BTC"]
    assert eth["spot"] and eth["active"]
    assert eth["precision"]["price"] == 1e-6
    assert eth["limits"]["cost"]["min"] == 0.0001
    assert eth["limits"]["amount"]["min"] == eth["precision"]["amount"]


def test_fetch_ohlcv_when_since_given_then_candles_equal_the_file(
    exchange: OfflineExchange, datadir: Path
) -> None:
    """Candles come back exactly as stored (times and float values)."""
    import pandas as pd

    frame = pd.read_feather(datadir / "ETH_BTC-5m.feather")
    since = int(START.timestamp() * 1000)

    rows = _client(exchange).fetch_ohlcv("ETH/BTC", "5m", since=since, limit=100)

    assert len(rows) == 100
    assert [r[4] for r in rows] == frame["close"].iloc[:100].tolist()
    assert rows[0][0] == since


def test_fetch_ohlcv_when_interval_coarser_than_file_then_aggregated(
    exchange: OfflineExchange,
) -> None:
    """A 1h request is served from 5m candles."""
    since = int(START.timestamp() * 1000)
    rows = _client(exchange).fetch_ohlcv("ETH/BTC", "1h", since=since, limit=3)

    assert [r[0] - since for r in rows] == [0, 3_600_000, 7_200_000]


def test_ticker_book_and_time_when_requested_then_consistent_quotes(
    exchange: OfflineExchange,
) -> None:
    """Bid < last < ask within a few ticks; the book is sorted and has the asked depth."""
    client = _client(exchange)
    ticker = client.fetch_ticker("ETH/BTC")
    book = client.fetch_order_book("ETH/BTC", limit=20)

    assert ticker["bid"] < ticker["ask"]
    assert ticker["bid"] <= ticker["last"] <= ticker["ask"]
    assert len(book["bids"]) == len(book["asks"]) == 20
    assert book["bids"][0][0] == ticker["bid"] and book["asks"][0][0] == ticker["ask"]
    assert all(a[0] < b[0] for a, b in zip(book["asks"], book["asks"][1:], strict=False))
    assert abs(client.fetch_time() - client.milliseconds()) < 60_000


def test_unknown_symbol_when_requested_then_ccxt_raises_bad_symbol(
    exchange: OfflineExchange,
) -> None:
    """An unknown market id answers Binance's own -1121 "Invalid symbol." error."""
    status, body = _get(f"{exchange.url}/api/v3/klines?symbol=FOOBTC&interval=5m")

    assert status == 400
    assert body == {"code": -1121, "msg": "Invalid symbol."}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("symbol=ETHBTC&interval=7m", -1120),
        ("symbol=ETHBTC", -1102),
        ("symbol=ETHBTC&interval=5m&limit=abc", -1100),
    ],
)
def test_klines_when_bad_parameters_then_binance_error_codes(
    exchange: OfflineExchange, query: str, code: int
) -> None:
    """Bad parameters answer 400 with Binance's own error codes."""
    status, body = _get(f"{exchange.url}/api/v3/klines?{query}")

    assert status == 400
    assert body["code"] == code


def test_unknown_endpoint_when_requested_then_404_in_binance_shape(
    exchange: OfflineExchange,
) -> None:
    """Private or unknown endpoints answer 404 with a JSON error, never reach the internet."""
    status, body = _get(f"{exchange.url}/sapi/v1/capital/config/getall")

    assert status == 404
    assert body["code"] == -1000
    assert "public market data only" in body["msg"]


def test_futures_when_ccxt_loads_linear_markets_then_perpetual_served(
    exchange: OfflineExchange,
) -> None:
    """USD-M futures: the perpetual is listed and its candles and funding are served."""
    client = _client(exchange, futures=True)
    markets = client.load_markets()

    assert list(markets) == ["XRP/USDT:USDT"]
    assert markets["XRP/USDT:USDT"]["swap"] and markets["XRP/USDT:USDT"]["linear"]
    rows = client.fetch_ohlcv("XRP/USDT:USDT", "5m", limit=5)
    assert len(rows) == 5


def test_overlay_when_compared_with_ccxt_then_every_api_url_is_redirected() -> None:
    """No ccxt Binance API URL is left pointing at the internet."""
    assert set(ccxt.binance().urls["api"]) <= set(BINANCE_API_PATHS)


def test_start_when_port_in_use_then_error_names_the_address(datadir: Path) -> None:
    """A taken port fails at once with the address and the fix."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OfflineExchangeError, match=rf"127\.0\.0\.1:{port}.*--port"):
            OfflineExchange(datadir, port=port).start()


def test_start_when_host_not_loopback_then_refused_unless_allowed(datadir: Path) -> None:
    """Binding another interface needs --allow-remote."""
    with pytest.raises(ConfigError, match="not a loopback address"):
        OfflineExchange(datadir, host="0.0.0.0")
