"""HTTP handlers answering Binance's public REST API (spot ``/api/v3``, USD-M ``/fapi``).

Only what Freqtrade and ccxt ask for is served. Errors use Binance's own JSON
shape ``{"code": <negative int>, "msg": "..."}`` with its codes, so ccxt maps them
to the same exceptions it would raise against the real exchange; an endpoint that
is not served answers 404 in the same shape (see ``errors.py``).

Parameters are checked as Binance checks them: integers are 1-20 ASCII digits
(``^[0-9]{1,20}$``: no sign, space, ``_`` or other digits), ``symbols`` is a JSON
list of symbol ids written without spaces, and a parameter sent twice is refused.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
from aiohttp import web

from app.errors import DataError
from app.offline_exchange.errors import BinanceError, Handler, binance_errors
from app.offline_exchange.markets import futures_symbol, spot_symbol
from app.offline_exchange.replay import Served
from app.offline_exchange.state import ExchangeState
from app.offline_exchange.store import CandleType, Market
from app.offline_exchange.timeframes import BINANCE_INTERVALS

STATE_KEY: web.AppKey[ExchangeState] = web.AppKey("state", ExchangeState)
SPOT_KLINES_MAX = 1000
FUTURES_KLINES_MAX = 1500
DEPTH_MAX = 5000
_DIGITS = re.compile(r"[0-9]{1,20}")
# Binance's own pattern for ``symbols`` (its error text shows it), with the character
# class written as meant: [A-Z0-9-_.] is the range '9'..'_' there.
_SYMBOLS = re.compile(r'\[(?:"[A-Z0-9_.-]{1,20}"(?:,"[A-Z0-9_.-]{1,20}")*)?\]')
_SYMBOLS_SHOWN = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'


def _json(payload: Any) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


def _num(value: float) -> str:
    # repr() is the shortest string that parses back to the same float: downloads are exact.
    return repr(float(value))


# -- REQUEST PARSING ----------------------------------------------------------------------


def _single(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise BinanceError(400, -1101, "Duplicate values for a parameter detected.")
    return values[0] if values else None


def _param(request: web.Request, name: str) -> str:
    value = _single(request, name)
    if value is None or value == "":
        raise BinanceError(
            400,
            -1102,
            f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
        )
    return value


def _int_param(request: web.Request, name: str, low: int, high: int) -> int | None:
    raw = _single(request, name)
    if raw is None:
        return None
    # int() would also take " 5", "+5", "1_0" and "١٢"; Binance's rule is ASCII digits.
    if not _DIGITS.fullmatch(raw):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    value = int(raw)
    if not low <= value <= high:
        raise BinanceError(400, -1100, f"Parameter '{name}' must be between {low} and {high}.")
    return value


def _futures(request: web.Request) -> bool:
    return request.path.startswith("/fapi/")


def _market(request: web.Request, name: str = "symbol") -> Market:
    state = request.app[STATE_KEY]
    market = state.market(_param(request, name), _futures(request))
    if market is None:
        raise BinanceError(400, -1121, "Invalid symbol.")
    return market


def _markets(request: web.Request) -> list[Market]:
    """The ``symbol`` / ``symbols`` filter of ticker endpoints; all markets when absent."""
    state = request.app[STATE_KEY]
    if "symbol" in request.query:
        return [_market(request)]
    listed = state.store.markets(_futures(request))
    raw = _single(request, "symbols")
    if raw is None:
        return list(listed.values())
    # The pattern admits only a flat list of symbol-id strings: no nesting, numbers,
    # objects or spaces reach the lookup below.
    if not _SYMBOLS.fullmatch(raw):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter 'symbols'; legal range is '{_SYMBOLS_SHOWN}'.",
        )
    wanted: list[str] = orjson.loads(raw)
    if any(symbol not in listed for symbol in wanted):
        raise BinanceError(400, -1121, "Invalid symbol.")
    return [listed[symbol] for symbol in wanted]


# -- GENERAL ------------------------------------------------------------------------------


async def ping(request: web.Request) -> web.Response:
    return _json({})


async def server_time(request: web.Request) -> web.Response:
    return _json({"serverTime": request.app[STATE_KEY].clock()})


async def exchange_info(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    futures = _futures(request)
    markets = _markets(request) if {"symbol", "symbols"} & set(request.query) else None
    markets = markets if markets is not None else list(state.store.markets(futures).values())
    symbols = []
    for market in markets:
        spec = state.spec(market)
        if futures:
            onboard = state.timeline(market, state.base_timeframe(market)).candles.first_open_ms
            symbols.append(futures_symbol(market, spec, onboard))
        else:
            symbols.append(spot_symbol(market, spec))
    limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    ]
    payload: dict[str, Any] = {
        "timezone": "UTC",
        "serverTime": state.clock(),
        "rateLimits": limits,
        "exchangeFilters": [],
        "symbols": symbols,
    }
    if futures:
        payload["assets"] = [
            {"asset": a, "marginAvailable": True, "autoAssetExchange": "0"}
            for a in sorted({m.settle for m in markets if m.settle})
        ]
    return _json(payload)


# -- CANDLES ------------------------------------------------------------------------------


def _kline_rows(served: Served, timeframe_ms: int) -> list[list[Any]]:
    rows = []
    for t, o, h, low, c, v in zip(
        served.open_ms.tolist(),
        served.open.tolist(),
        served.high.tolist(),
        served.low.tolist(),
        served.close.tolist(),
        served.volume.tolist(),
        strict=True,
    ):
        volume = v if math.isfinite(v) else 0.0  # mark-price candles carry no volume (NaN)
        quote_volume = _num(volume * c)
        rows.append([t, _num(o), _num(h), _num(low), _num(c), _num(volume),
                     t + timeframe_ms - 1, quote_volume, 0, "0", "0", "0"])  # fmt: skip
    return rows


def _klines(kind: CandleType | None) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        market = _market(request)
        interval = _param(request, "interval")
        if interval not in BINANCE_INTERVALS:
            raise BinanceError(400, -1120, "Invalid interval.")
        cap = FUTURES_KLINES_MAX if market.is_futures else SPOT_KLINES_MAX
        limit = _int_param(request, "limit", 1, 100_000) or 500
        start = _int_param(request, "startTime", 0, 2**62)
        end = _int_param(request, "endTime", 0, 2**62)
        try:
            line = state.timeline(market, interval, kind)
        except DataError:
            return _json([])  # Binance answers an empty list where it has no candles
        served = line.window(start, end, min(limit, cap))
        return _json(_kline_rows(served, line.candles.timeframe_ms))

    return handler


# -- TICKERS AND BOOK ---------------------------------------------------------------------


def _ticker_24h(state: ExchangeState, market: Market) -> dict[str, Any]:
    day = state.last_day(market)
    q = state.quote(market)
    now = state.now_ms(market)
    if len(day):
        first_open, last = float(day.open[0]), float(day.close[-1])
        high, low = float(day.high.max()), float(day.low.min())
        volume = float(day.volume.sum())
        quote_volume = float((day.volume * day.close).sum())
    else:
        first_open = last = high = low = volume = quote_volume = 0.0
    change = last - first_open
    ticker: dict[str, Any] = {
        "symbol": market.symbol_id,
        "priceChange": _num(change),
        "priceChangePercent": f"{(change / first_open * 100) if first_open else 0.0:.3f}",
        "weightedAvgPrice": _num(quote_volume / volume if volume else last),
        "lastPrice": _num(last),
        "lastQty": _num(q.step),
        "openPrice": _num(first_open),
        "highPrice": _num(high),
        "lowPrice": _num(low),
        "volume": _num(volume),
        "quoteVolume": _num(quote_volume),
        "openTime": now - 86_400_000,
        "closeTime": now,
        "firstId": 0,
        "lastId": 0,
        "count": len(day),
    }
    if not market.is_futures:  # Binance's futures 24hr ticker has no bid/ask
        ticker |= {
            "prevClosePrice": _num(first_open),
            "bidPrice": _num(q.bid),
            "bidQty": _num(q.bid_qty),
            "askPrice": _num(q.ask),
            "askQty": _num(q.ask_qty),
        }
    return ticker


def _one_or_list(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    return _json(items[0] if "symbol" in request.query else items)


async def ticker_24hr(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return _one_or_list(request, [_ticker_24h(state, m) for m in _markets(request)])


async def ticker_price(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    items = []
    for market in _markets(request):
        q = state.quote(market)
        items.append(
            {"symbol": market.symbol_id, "price": _num(q.last), "time": state.now_ms(market)}
        )
    return _one_or_list(request, items)


async def book_ticker(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    items = []
    for market in _markets(request):
        q = state.quote(market)
        items.append({
            "symbol": market.symbol_id,
            "bidPrice": _num(q.bid),
            "bidQty": _num(q.bid_qty),
            "askPrice": _num(q.ask),
            "askQty": _num(q.ask_qty),
            "time": state.now_ms(market),
        })  # fmt: skip
    return _one_or_list(request, items)


async def depth(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    market = _market(request)
    levels = _int_param(request, "limit", 1, DEPTH_MAX) or 100
    bids, asks = state.book(market, levels)
    now = state.now_ms(market)
    return _json({"lastUpdateId": now, "E": now, "T": now, "bids": bids, "asks": asks})


# -- FUTURES ------------------------------------------------------------------------------


def _funding_rates(state: ExchangeState, market: Market) -> Served | None:
    tfs = state.store.timeframes(market, CandleType.FUNDING_RATE)
    if not tfs:
        return None
    line = state.timeline(market, tfs[0], CandleType.FUNDING_RATE)
    return line.window(None, line.now_ms(), 1)


async def premium_index(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    items = []
    for market in _markets(request):
        q = state.quote(market)
        rates = _funding_rates(state, market)
        rate = float(rates.open[-1]) if rates is not None and len(rates) else 0.0
        now = state.now_ms(market)
        items.append({
            "symbol": market.symbol_id,
            "markPrice": _num(q.last),
            "indexPrice": _num(q.last),
            "estimatedSettlePrice": _num(q.last),
            "lastFundingRate": _num(rate),
            "interestRate": "0.00010000",
            "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000,
            "time": now,
        })  # fmt: skip
    return _one_or_list(request, items)


async def funding_rate(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    market = _market(request)
    limit = _int_param(request, "limit", 1, 1000) or 100
    start = _int_param(request, "startTime", 0, 2**62)
    end = _int_param(request, "endTime", 0, 2**62)
    tfs = state.store.timeframes(market, CandleType.FUNDING_RATE)
    if not tfs:
        return _json([])
    line = state.timeline(market, tfs[0], CandleType.FUNDING_RATE)
    if start is None and end is None:
        served = line.window(None, None, limit)
    else:
        served = line.window(start or 0, end, limit)
    mark = state.quote(market).last
    rows = [
        {
            "symbol": market.symbol_id,
            "fundingTime": t,
            "fundingRate": _num(r),
            "markPrice": _num(mark),
        }
        for t, r in zip(served.open_ms.tolist(), served.open.tolist(), strict=True)
    ]
    return _json(rows)


# -- APPLICATION --------------------------------------------------------------------------


def create_app(state: ExchangeState) -> web.Application:
    """The aiohttp application serving ``state``."""
    app = web.Application(middlewares=[binance_errors])
    app[STATE_KEY] = state
    routes: list[tuple[str, Handler]] = [
        ("/api/v3/ping", ping),
        ("/api/v3/time", server_time),
        ("/api/v3/exchangeInfo", exchange_info),
        ("/api/v3/klines", _klines(None)),
        ("/api/v3/uiKlines", _klines(None)),
        ("/api/v3/ticker/24hr", ticker_24hr),
        ("/api/v3/ticker/price", ticker_price),
        ("/api/v3/ticker/bookTicker", book_ticker),
        ("/api/v3/depth", depth),
        ("/fapi/v1/ping", ping),
        ("/fapi/v1/time", server_time),
        ("/fapi/v1/exchangeInfo", exchange_info),
        ("/fapi/v1/klines", _klines(CandleType.FUTURES)),
        ("/fapi/v1/markPriceKlines", _klines(CandleType.MARK)),
        ("/fapi/v1/premiumIndex", premium_index),
        ("/fapi/v1/fundingRate", funding_rate),
        ("/fapi/v1/ticker/24hr", ticker_24hr),
        ("/fapi/v1/ticker/price", ticker_price),
        ("/fapi/v2/ticker/price", ticker_price),
        ("/fapi/v1/ticker/bookTicker", book_ticker),
        ("/fapi/v1/depth", depth),
    ]
    for path, handler in routes:
        app.router.add_get(path, handler)
    return app
