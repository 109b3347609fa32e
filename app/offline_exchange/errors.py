"""Every error of the offline exchange in Binance's JSON shape ``{"code": ..., "msg": ...}``.

Two layers produce errors, and both answer in that shape, so that ccxt maps each one
to the exception it would raise against the real exchange and never sees a traceback:

* :func:`binance_errors`, an aiohttp middleware, for everything a handler raises:
  :class:`BinanceError` (bad parameters), routing misses (404/405), any other HTTP
  exception, and unexpected exceptions (500, code -1000, the traceback only in the log);
* :class:`BinanceRequestHandler`, aiohttp's per-connection protocol with its
  ``handle_error`` replaced, for what aiohttp's HTTP parser refuses before any handler
  or middleware runs: a URL or header over 8190 bytes, too many headers, a malformed
  request line. aiohttp has no public hook for these (aio-libs/aiohttp#3287), so the
  server builds its connections from this subclass (see ``server.py``).

Codes used (Binance's own): -1000 unknown/other, -1100 illegal characters in a
parameter, -1101 too many or duplicate parameters / request too large, -1102 a
mandatory parameter missing or empty, -1120 invalid interval, -1121 invalid symbol.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from app.errors import DataError
from app.text import cut

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_log = logging.getLogger("tradingbot.offline_exchange")


class BinanceError(Exception):
    """An error answered in Binance's JSON shape."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def error_response(status: int, code: int, msg: str) -> web.Response:
    """Binance's error body; ``Content-Type: application/json`` like the real exchange."""
    body = orjson.dumps({"code": code, "msg": msg})
    return web.Response(status=status, body=body, content_type="application/json")


@web.middleware
async def binance_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure of a handler in Binance's JSON error shape."""
    try:
        return await handler(request)
    except (BinanceError, web.HTTPException, DataError) as exc:
        return error_response(*_handler_error(request, exc))
    except Exception as exc:  # noqa: BLE001  # a bug of ours: JSON for the client, the log the traceback
        _log.exception("offline exchange: %s %s failed", request.method, cut(request.path))
        msg = f"Internal error of the offline exchange ({type(exc).__name__}); see its log."
        return error_response(500, -1000, msg)


def _handler_error(request: web.Request, exc: Exception) -> tuple[int, int, str]:
    if isinstance(exc, BinanceError):
        return exc.status, exc.code, exc.msg
    if isinstance(exc, web.HTTPNotFound):
        msg = f"Unknown endpoint {request.method} {cut(request.path)}: the offline exchange "
        return 404, -1000, msg + "serves public market data only (see docs/OFFLINE.md)."
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return 405, -1000, f"Method {request.method} is not served here."
    if isinstance(exc, web.HTTPException):
        return exc.status, -1000, exc.reason
    return 500, -1000, str(exc)  # DataError: the candle files, named in the message


def parser_error(status: int, exc: BaseException | None) -> tuple[int, int, str]:
    """(HTTP status, Binance code, message) for an error aiohttp raised outside handlers."""
    if isinstance(exc, LineTooLong):
        msg = "Request line or header too long (more than 8190 bytes); send fewer or shorter "
        return 400, -1101, msg + "parameters."
    if isinstance(exc, HttpProcessingError):
        detail = cut(" ".join(str(exc.message).split()), 200)
        return status, -1000, f"Malformed HTTP request: {detail}"
    if status >= 500:
        return status, -1000, "Internal error of the offline exchange; see its log."
    return status, -1000, "The request could not be processed."


class BinanceRequestHandler(web.RequestHandler):
    """aiohttp's connection protocol, answering aiohttp's own errors in Binance's shape."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Called by aiohttp for parser errors (400) and errors outside the middleware."""
        if status >= 500:
            self.log_exception("offline exchange: error handling a request", exc_info=exc)
        else:
            self.logger.debug("offline exchange: refused a malformed request: %s", exc)
        if request.writer.output_size > 0:  # a response is half sent: nothing to answer
            raise ConnectionError("response already started; cannot send an error response")
        status, code, msg = parser_error(status, exc)
        response = error_response(status, code, msg)
        response.force_close()
        return response
