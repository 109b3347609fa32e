"""Property-based tests of the offline exchange's parameter parsing, over real HTTP.

Arbitrary query strings (percent-encoded text, and raw bytes as a careless client
sends them) against every served endpoint of a real server on 127.0.0.1: the answer is
always JSON, its status is below 500, and an error has Binance's ``code``/``msg`` shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.offline_exchange.server import OfflineExchange
from tests.unit.offline_exchange.candles import write_candles
from tests.unit.offline_exchange.test_errors import exchange_answer

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ENDPOINTS = [
    "/api/v3/ping",
    "/api/v3/time",
    "/api/v3/exchangeInfo",
    "/api/v3/klines",
    "/api/v3/uiKlines",
    "/api/v3/ticker/24hr",
    "/api/v3/ticker/price",
    "/api/v3/ticker/bookTicker",
    "/api/v3/depth",
    "/fapi/v1/exchangeInfo",
    "/fapi/v1/klines",
    "/fapi/v1/markPriceKlines",
    "/fapi/v1/premiumIndex",
    "/fapi/v1/fundingRate",
    "/fapi/v1/ticker/24hr",
    "/fapi/v2/ticker/price",
    "/fapi/v1/depth",
]
NAMES = ["symbol", "symbols", "interval", "limit", "startTime", "endTime"]


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineExchange]:
    folder = tmp_path_factory.mktemp("candles")
    write_candles(folder / "ETH_BTC-5m.feather", 300, price=0.05)
    write_candles(folder / "futures" / "XRP_USDT_USDT-5m-futures.feather", 300, price=1.2)
    with OfflineExchange(folder) as ex:
        yield ex


def _assert_json_below_500(port: int, request: bytes) -> None:
    status, headers, body = exchange_answer(port, request)
    assert status < 500, (request[:300], body[:300])
    assert headers.get("content-type", "").startswith("application/json"), (status, body[:200])
    payload = json.loads(body)
    if status >= 400:
        assert isinstance(payload, dict) and set(payload) == {"code", "msg"}, payload
        assert isinstance(payload["code"], int) and payload["code"] < 0


values = (
    st.text(max_size=30)
    | st.integers(min_value=-(2**70), max_value=2**70).map(str)
    | st.sampled_from(["ETHBTC", "XRPUSDT", "5m", "1h", '["ETHBTC"]', "[]", "1000", "0"])
    | st.lists(st.sampled_from(['"ETHBTC"', "1", "[", "]", ",", "null", '"X"']), max_size=8).map(
        lambda parts: "[" + ",".join(parts) + "]"
    )
)
params = st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=8), values), max_size=6)


@SETTINGS
@given(path=st.sampled_from(ENDPOINTS), query=params)
def test_query_when_arbitrary_encoded_parameters_then_json_below_500(
    exchange: OfflineExchange, path: str, query: list[tuple[str, str]]
) -> None:
    """Any parameters, correctly percent-encoded: JSON, never a server error."""
    encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    request = f"GET {path}?{encoded} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    _assert_json_below_500(exchange.port, request.encode("ascii"))


@SETTINGS
@given(path=st.sampled_from(ENDPOINTS), raw=st.binary(max_size=200))
def test_query_when_raw_bytes_then_json_below_500(
    exchange: OfflineExchange, path: str, raw: bytes
) -> None:
    """Raw bytes after '?' (broken escapes, controls, spaces, non-UTF-8): still JSON."""
    raw = raw.replace(b"\r", b"").replace(b"\n", b"")  # a line break ends the request line
    request = (
        b"GET " + path.encode() + b"?" + raw + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    _assert_json_below_500(exchange.port, request)


@SETTINGS
@given(
    name=st.sampled_from(["limit", "startTime", "endTime"]),
    value=(
        # Near misses (what int() takes) and anything else.
        st.from_regex(r"\A[-+ \t]?[0-9\u0661\uff11]{1,3}[_ ]?[0-9\u0665]{0,2}[ \t]?\Z")
        | st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)
    ).filter(lambda v: not re.fullmatch(r"[0-9]{1,20}", v)),
)
def test_integer_when_anything_but_ascii_digits_then_illegal_characters(
    exchange: OfflineExchange, name: str, value: str
) -> None:
    """What int() would take (' 5', '+5', '1_0', '١٢') is refused like Binance does."""
    query = f"symbol=ETHBTC&interval=5m&{name}={quote(value, safe='')}"
    request = f"GET /api/v3/klines?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, _, body = exchange_answer(exchange.port, request.encode("ascii"))
    assert (status, json.loads(body)["code"]) == (400, -1100), (value, body)
