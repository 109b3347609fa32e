"""Faults on their own: a real offline exchange on 127.0.0.1, queried by ccxt itself.

Each answer fault raises the ccxt exception Freqtrade sees against the real Binance; data
faults change what the replayed market shows. Time is a manual clock, so fault windows open
and close exactly when the test says.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as accxt
import numpy as np
import pytest

from app.offline_exchange.fault_injector import FAULT_HEADER, DataEffect, FaultInjector, endpoint_of
from app.offline_exchange.faults import Endpoint, FaultSchedule
from app.offline_exchange.overlay import ccxt_overlay
from app.offline_exchange.replay import Mode, Served
from app.offline_exchange.server import OfflineExchange
from tests.unit.offline_exchange.candles import write_candles

T0 = 1_900_000_000_000  # the manual clock's start (epoch ms)
MINUTE = 60_000


class ManualClock:
    """Epoch milliseconds that move only when the test says so."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture(scope="module")
def datadir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("candles")
    write_candles(folder / "ETH_BTC-1m.feather", 3000, timeframe="1m", price=0.05)
    return folder


def serve(datadir: Path, events: list[dict[str, Any]], clock: ManualClock) -> OfflineExchange:
    return OfflineExchange(
        datadir, mode=Mode.REPLAY, clock=clock, faults=FaultSchedule.parse(events)
    )


def client(exchange: OfflineExchange, timeout_ms: int = 10_000) -> ccxt.binance:
    config = ccxt_overlay(exchange.url)["exchange"]["ccxt_config"]
    return ccxt.binance({**config, "enableRateLimit": False, "timeout": timeout_ms})


def async_error(exchange: OfflineExchange, timeout_ms: int) -> type[BaseException] | None:
    """What ccxt's async client (Freqtrade's candle path) raises for one kline request."""

    async def fetch() -> type[BaseException] | None:
        config = ccxt_overlay(exchange.url)["exchange"]["ccxt_config"]
        api = accxt.binance({**config, "enableRateLimit": False, "timeout": timeout_ms})
        try:
            await api.load_markets()
            await api.fetch_ohlcv("ETH/BTC", "1m", limit=3)
        except ccxt.BaseError as exc:
            return type(exc)
        finally:
            await api.close()
        return None

    return asyncio.run(fetch())


def fault(name: str, endpoint: str = "klines", **extra: Any) -> dict[str, Any]:
    return {"at_s": 60, "for_s": 30, "fault": name, "endpoint": endpoint, **extra}


# -- ANSWER FAULTS, AS CCXT SEES THEM ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        ("http_500", {}, ccxt.OperationFailed),
        ("http_503", {}, ccxt.ExchangeNotAvailable),
        ("http_429", {}, ccxt.DDoSProtection),
        ("http_418", {}, ccxt.DDoSProtection),
        ("reset", {}, ccxt.NetworkError),
        ("timeout", {"ms": 5_000}, ccxt.RequestTimeout),
    ],
)
def test_answer_fault_when_active_then_ccxt_raises_and_other_endpoints_answer(
    datadir: Path, name: str, extra: dict[str, Any], expected: type[Exception]
) -> None:
    """Inside its window a fault on klines makes ccxt (sync and async) raise the exception
    it raises against Binance; tickers still answer; before and after, klines answer."""
    clock = ManualClock()
    with serve(datadir, [fault(name, **extra)], clock) as exchange:
        api = client(exchange, timeout_ms=400)
        api.load_markets()
        assert len(api.fetch_ohlcv("ETH/BTC", "1m", limit=3)) == 3  # before: fine

        clock.now = T0 + 61_000
        with pytest.raises(expected):
            api.fetch_ohlcv("ETH/BTC", "1m", limit=3)
        assert issubclass(async_error(exchange, 400) or type(None), expected)
        assert api.fetch_ticker("ETH/BTC")["last"] > 0  # another endpoint

        clock.now = T0 + 90_000  # the window is [60 s, 90 s)
        assert len(api.fetch_ohlcv("ETH/BTC", "1m", limit=3)) == 3
        assert exchange.faults is not None
        assert exchange.faults.hits[0] >= 2


@pytest.mark.parametrize(("name", "status"), [("http_429", 429), ("http_418", 418)])
def test_rate_limit_fault_when_hit_then_binance_1003_with_retry_after_until_window_end(
    datadir: Path, name: str, status: int
) -> None:
    """429 and 418 carry Binance's -1003 and a Retry-After of the seconds left in the window."""
    clock = ManualClock()
    with serve(datadir, [fault(name, endpoint="*")], clock) as exchange:
        clock.now = T0 + 72_500  # 17.5 s left
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{exchange.url}/api/v3/time", timeout=5)
    answer = caught.value
    assert answer.code == status
    assert answer.headers["Retry-After"] == "18"
    assert answer.headers[FAULT_HEADER] == name
    body = answer.read().decode()
    assert '"code": -1003' in body or '"code":-1003' in body
    if name == "http_418":
        assert f"banned until {T0 + 90_000}" in body


def test_latency_when_active_then_answer_delayed_and_short_client_timeout_expires(
    datadir: Path,
) -> None:
    """latency delays the answer by `ms` (it still arrives); a client with a shorter timeout
    gives up with RequestTimeout."""
    clock = ManualClock()
    with serve(datadir, [fault("latency", endpoint="*", ms=600)], clock) as exchange:
        clock.now = T0 + 60_000
        patient = client(exchange, timeout_ms=5_000)
        started = time.monotonic()
        patient.load_markets()
        assert time.monotonic() - started >= 0.6
        with pytest.raises(ccxt.RequestTimeout):
            client(exchange, timeout_ms=200).fetch_time()


def test_timeout_when_server_stops_then_held_request_released(datadir: Path) -> None:
    """A request held by `timeout` does not keep the server from stopping: it is dropped."""
    clock = ManualClock()
    outcome: list[BaseException] = []
    exchange = serve(datadir, [fault("timeout", endpoint="time", ms=600_000)], clock).start()
    clock.now = T0 + 60_000

    def ask() -> None:
        try:
            urllib.request.urlopen(f"{exchange.url}/api/v3/time", timeout=300)
        except Exception as exc:  # the connection is dropped, whatever the client calls it
            outcome.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    deadline = time.monotonic() + 10
    while exchange.faults is not None and exchange.faults.hits[0] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    exchange.stop()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert len(outcome) == 1


def test_schedule_when_not_armed_then_no_fault_until_armed(datadir: Path) -> None:
    """With arm_faults=False nothing happens until arm(); at_s then counts from the origin."""
    clock = ManualClock()
    events = [{"at_s": 0, "for_s": 10, "fault": "http_500", "endpoint": "time"}]
    exchange = OfflineExchange(
        datadir, mode=Mode.REPLAY, clock=clock, faults=FaultSchedule.parse(events), arm_faults=False
    )
    with exchange:
        api = client(exchange)
        assert api.fetch_time() == T0
        assert exchange.faults is not None
        exchange.faults.arm(T0 + 5_000)
        clock.now = T0 + 5_000
        with pytest.raises(ccxt.OperationFailed):
            api.fetch_time()
        clock.now = T0 + 15_000
        assert api.fetch_time() == T0 + 15_000


# -- DATA FAULTS ---------------------------------------------------------------------------


def test_stale_when_active_then_newest_candle_and_prices_stop_advancing(datadir: Path) -> None:
    """During `stale` klines end with the last candle closed at the fault's start (the one
    forming then is not served) and the ticker stays as it was; afterwards the series has
    advanced with the clock, forming candle included."""
    clock = ManualClock()
    with serve(datadir, [fault("stale", endpoint="*", for_s=300)], clock) as exchange:
        api = client(exchange)
        api.load_markets()
        clock.now = T0 + 60_000
        frozen = api.fetch_ohlcv("ETH/BTC", "1m", limit=5)
        frozen_ticker = api.fetch_ticker("ETH/BTC")
        clock.now = T0 + 60_000 + 4 * MINUTE
        assert api.fetch_ohlcv("ETH/BTC", "1m", limit=5) == frozen
        assert api.fetch_ticker("ETH/BTC")["last"] == frozen_ticker["last"]
        clock.now = T0 + 360_000
        after = api.fetch_ohlcv("ETH/BTC", "1m", limit=5)
    freeze = T0 + 60_000
    assert frozen[-1][0] + MINUTE <= freeze < frozen[-1][0] + 2 * MINUTE
    assert after[-1][0] == (T0 + 360_000) // MINUTE * MINUTE  # forming again


def test_gap_when_window_passed_then_candles_opened_inside_are_missing(datadir: Path) -> None:
    """Candles that opened inside a `gap` window are missing from klines, also afterwards;
    tickers are not touched by a gap on klines."""
    clock = ManualClock()
    with serve(datadir, [fault("gap", for_s=180)], clock) as exchange:
        api = client(exchange)
        api.load_markets()
        clock.now = T0 + 10 * MINUTE
        opens = [row[0] for row in api.fetch_ohlcv("ETH/BTC", "1m", limit=30)]
    start, end = T0 + 60_000, T0 + 240_000
    missing = [t for t in range(opens[0], opens[-1] + 1, MINUTE) if t not in opens]
    assert missing
    assert all(start <= t < end for t in missing)
    assert len(missing) == 3
    assert endpoint_of("/api/v3/ticker/24hr") is Endpoint.TICKER


def test_price_jump_when_active_then_prices_move_at_once_and_return_after(datadir: Path) -> None:
    """`price_jump -0.2`: the ticker and the forming candle's close drop 20 % at once; the
    candles before the jump keep their prices; after the window prices are unscaled again."""
    clock = ManualClock()
    with serve(datadir, [fault("price_jump", endpoint="*", pct=-0.2)], clock) as exchange:
        clock.now = T0 + 59_000
        api = client(exchange)
        api.load_markets()
        before_ticker = api.fetch_ticker("ETH/BTC")["last"]
        before = api.fetch_ohlcv("ETH/BTC", "1m", limit=5)
        clock.now = T0 + 60_000
        during_ticker = api.fetch_ticker("ETH/BTC")["last"]
        during = api.fetch_ohlcv("ETH/BTC", "1m", limit=6)
        book = api.fetch_order_book("ETH/BTC", 5)
        clock.now = T0 + 100_000
        after_ticker = api.fetch_ticker("ETH/BTC")["last"]
    assert during_ticker == pytest.approx(before_ticker * 0.8, rel=2e-3)
    assert book["bids"][0][0] < before_ticker * 0.81
    closed_before = [row for row in before if row[0] + MINUTE <= T0 + 60_000]
    assert closed_before
    assert all(row in during for row in closed_before)  # closed before the jump: untouched
    assert during[-1][4] < before[-1][4] * 0.81  # the forming candle's close dropped at once
    assert after_ticker > during_ticker * 1.2


def test_data_effect_when_jump_inside_candle_then_close_scaled_and_bounds_hold() -> None:
    """A jump inside a candle scales its close, not its open; high/low still bound both."""
    served = Served(
        np.array([0, 60_000], dtype=np.int64),
        np.array([10.0, 10.0]),
        np.array([11.0, 11.0]),
        np.array([9.0, 9.0]),
        np.array([10.5, 10.5]),
        np.array([1.0, 1.0]),
    )
    effect = DataEffect(None, (), ((90_000, 10**12, -0.5),))
    out = effect.apply(served, 60_000, 200_000, 4)
    assert out.close.tolist() == [10.5, 5.25]
    assert out.open.tolist() == [10.0, 10.0]
    assert all(out.high >= np.maximum(out.open, out.close))
    assert all(out.low <= np.minimum(out.open, out.close))
    assert out.low[1] == 4.5


def test_pause_when_schedule_held_then_later_faults_move_and_running_ones_last_longer() -> None:
    """A pause at second 20 for 5 s: a fault already over stays put, one in progress ends
    5 s later, one that starts at or after second 20 starts 5 s later."""
    events = [
        {"at_s": 0, "for_s": 10, "fault": "http_500", "endpoint": "time"},
        {"at_s": 15, "for_s": 10, "fault": "http_503", "endpoint": "time"},
        {"at_s": 20, "for_s": 10, "fault": "reset", "endpoint": "depth"},
    ]
    injector = FaultInjector(FaultSchedule.parse(events), ManualClock())
    injector.arm(T0)
    injector.pause(20, 5_000)
    over, running, later = (injector.window_ms(e) for e in injector.schedule.events)
    assert over == (T0, T0 + 10_000)
    assert running == (T0 + 15_000, T0 + 30_000)
    assert later == (T0 + 25_000, T0 + 35_000)
    assert injector.shift_ms(20) == 5_000
    assert injector.shift_ms(20, strict=True) == 0
