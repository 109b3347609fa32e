"""Every error of the offline exchange is Binance's JSON shape, over real HTTP on 127.0.0.1.

Requests are written byte for byte on a socket, so that what aiohttp's own parser
refuses (over-long URL or header, too many headers, garbage) is tried as well as bad
parameters; the answer on the wire must be JSON with a Binance code, never a 500.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from app.offline_exchange.errors import BinanceRequestHandler, binance_errors
from app.offline_exchange.server import OfflineExchange
from tests.unit.offline_exchange.candles import write_candles


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineExchange]:
    folder = tmp_path_factory.mktemp("candles")
    write_candles(folder / "ETH_BTC-5m.feather", 300, price=0.05)
    write_candles(folder / "futures" / "XRP_USDT_USDT-5m-futures.feather", 300, price=1.2)
    with OfflineExchange(folder) as ex:
        yield ex


def exchange_answer(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; return (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def get(port: int, target: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    """GET ``target`` (already encoded) with ``Connection: close``."""
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
    return exchange_answer(port, request.encode("latin-1"))


def binance_error(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, int, str]:
    """(status, code, msg) of an error answer, asserting the JSON shape on the wire."""
    status, headers, body = answer
    assert headers["content-type"].startswith("application/json"), (status, body[:200])
    payload: dict[str, Any] = json.loads(body)
    assert set(payload) == {"code", "msg"}
    return status, payload["code"], payload["msg"]


@pytest.mark.parametrize(
    "symbols",
    [
        '[["ETHBTC"]]',
        '{"a":1}',
        "[1]",
        "[null]",
        '"ETHBTC"',
        '["ETHBTC", "X"]',  # spaces are not in Binance's pattern
        "[" + ",".join(["1"] * 1000) + "]",
        "[" * 2000,
        "%ZZ",
    ],
    ids=["nested", "object", "number", "null", "string", "spaces", "huge", "deep", "bad-escape"],
)
@pytest.mark.parametrize("path", ["/api/v3/ticker/price", "/api/v3/exchangeInfo"])
def test_symbols_when_not_a_flat_list_of_ids_then_binance_400(
    exchange: OfflineExchange, path: str, symbols: str
) -> None:
    """Nested, typed, spaced or huge ``symbols`` answer -1100 (400), never a 500."""
    from urllib.parse import quote

    status, code, msg = binance_error(get(exchange.port, f"{path}?symbols={quote(symbols)}"))
    assert (status, code) == (400, -1100)
    assert "Illegal characters found in parameter 'symbols'" in msg


def test_symbols_when_unknown_id_then_invalid_symbol(exchange: OfflineExchange) -> None:
    """A well-formed list naming an unknown market answers Binance's -1121."""
    answer = get(exchange.port, '/api/v3/ticker/price?symbols=["ETHBTC","NOPE"]')
    assert binance_error(answer) == (400, -1121, "Invalid symbol.")


def test_symbols_when_valid_list_then_tickers(exchange: OfflineExchange) -> None:
    """The compact list ccxt sends still works, as does the empty list."""
    status, _, body = get(exchange.port, '/api/v3/ticker/price?symbols=["ETHBTC"]')
    assert status == 200
    assert [t["symbol"] for t in json.loads(body)] == ["ETHBTC"]
    assert json.loads(get(exchange.port, "/api/v3/ticker/price?symbols=[]")[2]) == []


@pytest.mark.parametrize(
    "value",
    ["%205", "5%20", "%2B5", "1_0", "-5", "5.0", "0x10", "%D9%A1%D9%A2", "%EF%BC%95", "", "1" * 21],
    ids=[
        *("space", "trailing", "plus", "underscore", "minus", "point"),
        *("hex", "arabic", "wide", "empty", "21-digits"),
    ],
)
def test_integer_when_not_ascii_digits_then_illegal_characters(
    exchange: OfflineExchange, value: str
) -> None:
    """Integers are 1-20 ASCII digits, exactly as the error text says."""
    target = f"/api/v3/klines?symbol=ETHBTC&interval=5m&limit={value}"
    status, code, msg = binance_error(get(exchange.port, target))
    assert (status, code) == (400, -1100)
    assert msg == "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."


def test_parameter_when_sent_twice_then_duplicate_error(exchange: OfflineExchange) -> None:
    """Binance refuses a repeated parameter (-1101) instead of picking one."""
    answer = get(exchange.port, "/api/v3/depth?symbol=ETHBTC&limit=5&limit=10")
    assert binance_error(answer) == (400, -1101, "Duplicate values for a parameter detected.")


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (b"GET /api/v3/ping?" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", -1101),
        (b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n", -1101),
        (
            b"GET /api/v3/ping HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)),
            -1000,
        ),
        (b"BLAH\r\n\r\n", -1000),
        (b"GET /api/v3/ping?limit= 5 HTTP/1.1\r\nHost: x\r\n\r\n", -1000),
        (b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", -1000),
    ],
    ids=["long-url", "long-header", "many-headers", "garbage", "space-in-url", "bad-header"],
)
def test_http_level_error_when_aiohttp_refuses_then_binance_json(
    exchange: OfflineExchange, request_bytes: bytes, code: int
) -> None:
    """What aiohttp's parser refuses before any middleware is answered in Binance's shape."""
    status, got, msg = binance_error(exchange_answer(exchange.port, request_bytes))
    assert (status, got) == (400, code)
    assert len(msg) < 400


def test_unknown_endpoint_and_method_then_json(exchange: OfflineExchange) -> None:
    """404 and 405 keep Binance's shape."""
    assert binance_error(get(exchange.port, "/sapi/v1/x"))[:2] == (404, -1000)
    request = b"DELETE /api/v3/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = exchange_answer(exchange.port, request)
    assert binance_error(answer)[:2] == (405, -1000)


async def _bug(request: web.Request) -> web.Response:
    raise ZeroDivisionError("a bug")


@pytest.fixture
def buggy_port(tmp_path: Path) -> Iterator[int]:
    """A server with the exchange's middleware and connection class, and a failing route."""
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    app = web.Application(middlewares=[binance_errors])
    app.router.add_get("/bug", _bug)
    runner = web.AppRunner(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    async def start() -> asyncio.Server:
        await runner.setup()
        manager = runner.server
        assert manager is not None
        return await loop.create_server(
            lambda: BinanceRequestHandler(manager, loop=loop, access_log=None),  # type: ignore[arg-type]
            sock=sock,
        )

    server = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    server.close()
    loop.run_until_complete(runner.cleanup())
    loop.close()


def test_handler_bug_when_raised_then_500_json_without_traceback(buggy_port: int) -> None:
    """An unexpected exception answers 500 / -1000 naming its type; no traceback is sent."""
    status, code, msg = binance_error(get(buggy_port, "/bug"))
    assert (status, code) == (500, -1000)
    assert "ZeroDivisionError" in msg
    assert "Traceback" not in msg
