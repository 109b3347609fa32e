"""Faults applied to live requests of the offline exchange.

:class:`FaultInjector` turns a :class:`FaultSchedule` into behaviour, in three places:

* an aiohttp middleware (outermost, installed by :class:`OfflineExchange`) that delays
  requests (``latency``) or replaces their answer (``http_*``, ``timeout``, ``reset``)
  while a fault is active;
* the clock the exchange state reads: inside a request hit by ``stale`` it stands still at
  the fault's start, so tickers and the book stop moving, and klines end with the last
  candle closed by then (the candle forming at that moment is not served);
* :class:`FaultTimeline`, the state's timeline for price series, which drops candles opened
  in a ``gap`` window and scales prices during a ``price_jump``.

The data faults reach the state through a context variable set by the middleware for the
one request it handles, so nothing else in the exchange knows about faults. Times are the
injector's clock (injected; wall time by default) from the origin set by :meth:`arm`.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from aiohttp import web

from app.offline_exchange.faults import ANSWER_FAULTS, Endpoint, Fault, FaultEvent, FaultSchedule
from app.offline_exchange.replay import Mode, Served, Timeline
from app.offline_exchange.state import wall_clock_ms
from app.offline_exchange.store import Candles

# Path suffixes of each named endpoint (spot /api/v3 and USD-M /fapi alike).
ENDPOINT_PATHS: tuple[tuple[str, Endpoint], ...] = (
    ("/klines", Endpoint.KLINES),
    ("/uiKlines", Endpoint.KLINES),
    ("/markPriceKlines", Endpoint.KLINES),
    ("/ticker/24hr", Endpoint.TICKER),
    ("/ticker/price", Endpoint.TICKER),
    ("/ticker/bookTicker", Endpoint.TICKER),
    ("/premiumIndex", Endpoint.TICKER),
    ("/depth", Endpoint.DEPTH),
    ("/exchangeInfo", Endpoint.EXCHANGE_INFO),
    ("/time", Endpoint.TIME),
    ("/ping", Endpoint.TIME),
)
FAULT_HEADER = "X-Offline-Fault"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint_of(path: str) -> Endpoint | None:
    """The named endpoint of a request path; None for paths only ``*`` reaches."""
    for suffix, endpoint in ENDPOINT_PATHS:
        if path.endswith(suffix):
            return endpoint
    return None


@dataclass(frozen=True)
class DataEffect:
    """What the data faults do to one request: a frozen clock, missing candles, a price factor.

    Windows are ``[start, end)`` in epoch milliseconds.
    """

    freeze_ms: int | None
    gaps: tuple[tuple[int, int], ...]
    jumps: tuple[tuple[int, int, float], ...]

    def factor(self, t_ms: np.ndarray) -> np.ndarray:
        """The price multiplier at each instant (price jumps multiply)."""
        out = np.ones(len(t_ms))
        for start, end, ratio in self.jumps:
            out[(t_ms >= start) & (t_ms < end)] *= 1.0 + ratio
        return out

    def apply(self, s: Served, timeframe_ms: int, now_ms: int, decimals: int) -> Served:
        """``s`` without the gap candles (and, when frozen, without the candle that was
        forming at the freeze), prices scaled where a jump applies."""
        if self.gaps or self.freeze_ms is not None:
            keep = np.ones(len(s), dtype=bool)
            for start, end in self.gaps:
                keep &= ~((s.open_ms >= start) & (s.open_ms < end))
            if self.freeze_ms is not None:
                # A frozen feed has no forming candle: the newest candle served is the last
                # one that had closed when the data stopped.
                keep &= s.open_ms + timeframe_ms <= self.freeze_ms
            s = Served(
                s.open_ms[keep], s.open[keep], s.high[keep], s.low[keep], s.close[keep],
                s.volume[keep],
            )  # fmt: skip
        if not self.jumps or not len(s):
            return s
        # A candle's open is scaled as at its open, its close as at its close (or now, while
        # it forms): a jump inside a candle moves its close at once, as on a real exchange.
        f_open = self.factor(s.open_ms)
        f_close = self.factor(np.minimum(s.open_ms + timeframe_ms - 1, now_ms))
        o, c = s.open * f_open, s.close * f_close
        high = np.maximum.reduce([s.high * f_open, s.high * f_close, o, c])
        low = np.minimum.reduce([s.low * f_open, s.low * f_close, o, c])
        o, high, low, c = (np.round(p, decimals) for p in (o, high, low, c))
        return Served(s.open_ms, o, high, low, c, s.volume)


_EFFECT: contextvars.ContextVar[DataEffect | None] = contextvars.ContextVar(
    "offline_exchange_fault_effect", default=None
)


class FaultTimeline(Timeline):
    """A price timeline that applies the current request's data faults to every window."""

    def window(self, start_ms: int | None, end_ms: int | None, limit: int) -> Served:
        served = super().window(start_ms, end_ms, limit)
        effect = _EFFECT.get()
        if effect is None or not len(served):
            return served
        return effect.apply(served, self.candles.timeframe_ms, self._now_ms(), self._decimals)


class FaultInjector:
    """A schedule at work: counts the requests each fault hit (``hits``, by event index)."""

    def __init__(self, schedule: FaultSchedule, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.schedule = schedule
        self.clock = clock
        self.origin_ms: int | None = None
        self.hits = [0] * len(schedule.events)
        self.pauses: list[tuple[float, int]] = []  # (schedule second, length in ms)
        self._closing = asyncio.Event()

    def arm(self, origin_ms: int) -> None:
        """Start the schedule: ``at_s`` counts from ``origin_ms``. Nothing happens before."""
        self.origin_ms = origin_ms

    def pause(self, at_s: float, length_ms: int) -> None:
        """Stop the schedule's clock at its second ``at_s`` for ``length_ms``: faults that
        start at or after it start later, a fault in progress lasts longer, a fault that is
        over stays over. (A drill pauses while a restarted bot starts up.)"""
        self.pauses.append((at_s, length_ms))

    def shift_ms(self, at_s: float, *, strict: bool = False) -> int:
        """The pauses before second ``at_s`` (``strict``: pauses exactly at it excluded)."""
        return sum(length for p, length in self.pauses if p < at_s or (p == at_s and not strict))

    def window_ms(self, event: FaultEvent) -> tuple[int, int]:
        """``[start, end)`` of ``event`` in epoch milliseconds (the injector must be armed)."""
        if self.origin_ms is None:
            raise RuntimeError("the fault schedule is not armed")
        start = self.origin_ms + round(event.at_s * 1000) + self.shift_ms(event.at_s)
        end = self.origin_ms + round(event.end_s * 1000) + self.shift_ms(event.end_s, strict=True)
        return start, end

    def active(self, endpoint: Endpoint | None, now_ms: int) -> list[tuple[int, FaultEvent]]:
        """The faults (with their index) that apply to a request of ``endpoint`` now."""
        if self.origin_ms is None:
            return []
        found = []
        for index, event in enumerate(self.schedule.events):
            start, end = self.window_ms(event)
            if start <= now_ms < end and event.covers(endpoint):
                found.append((index, event))
        return found

    def effect(self, endpoint: Endpoint | None, now_ms: int) -> DataEffect | None:
        """The data faults for a request of ``endpoint`` now; gaps stay in history once made."""
        if self.origin_ms is None:
            return None
        freeze, gaps, jumps = None, [], []
        for event in self.schedule.events:
            start, end = self.window_ms(event)
            if now_ms < start or not event.covers(endpoint):
                continue
            if event.fault is Fault.GAP:
                gaps.append((start, min(end, now_ms + 1)))
            elif event.fault is Fault.STALE and now_ms < end:
                freeze = start
            elif event.fault is Fault.PRICE_JUMP and event.pct is not None:
                jumps.append((start, end, event.pct))
        if freeze is None and not gaps and not jumps:
            return None
        return DataEffect(freeze, tuple(gaps), tuple(jumps))

    # -- WHAT THE EXCHANGE STATE READS ------------------------------------------------------

    def served_clock(self) -> int:
        """The state's clock: frozen at a stale fault's start inside a request it hits."""
        effect = _EFFECT.get()
        if effect is not None and effect.freeze_ms is not None:
            return effect.freeze_ms
        return self.clock()

    def timeline(
        self,
        candles: Candles,
        mode: Mode,
        anchor_ms: int,
        now_ms: Callable[[], int],
        price_decimals: int,
    ) -> Timeline:
        """The timeline factory for price series (see ``ExchangeState``)."""
        return FaultTimeline(candles, mode, anchor_ms, now_ms, price_decimals)

    # -- HTTP -------------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        """Put the fault middleware in front of every other; release held requests on stop."""

        @web.middleware
        async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._handle(request, handler)

        async def release(_app: web.Application) -> None:
            self._closing.set()

        app.middlewares.insert(0, faults)
        app.on_shutdown.append(release)

    async def _handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = endpoint_of(request.path)
        now = self.clock()
        active = self.active(endpoint, now)
        for index, _ in active:
            self.hits[index] += 1
        for _, event in active:
            if event.fault is Fault.LATENCY:
                await self._hold(event.hold_ms)
        answer = next((e for _, e in active if e.fault in ANSWER_FAULTS), None)
        if answer is not None:
            return await self._answer(request, answer, now)
        effect = self.effect(endpoint, now)
        if effect is None:
            return await handler(request)
        token = _EFFECT.set(effect)
        try:
            return await handler(request)
        finally:
            _EFFECT.reset(token)

    async def _hold(self, ms: int) -> None:
        """Wait ``ms`` milliseconds, or until the server stops (held requests never block it)."""
        try:
            await asyncio.wait_for(self._closing.wait(), ms / 1000)
        except TimeoutError:
            return

    async def _answer(
        self, request: web.Request, event: FaultEvent, now_ms: int
    ) -> web.StreamResponse:
        headers = {FAULT_HEADER: event.fault.value}
        _, end = self.window_ms(event)
        if event.fault is Fault.HTTP_500:
            body = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            return web.json_response(body, status=500, headers=headers)
        if event.fault is Fault.HTTP_503:
            # What a gateway in front of the API answers: plain text, no Binance code.
            return web.Response(status=503, text="Service Unavailable", headers=headers)
        if event.fault in (Fault.HTTP_429, Fault.HTTP_418):
            headers["Retry-After"] = str(max(1, math.ceil((end - now_ms) / 1000)))
            msg = (
                "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
                "Please use the websocket for live updates to avoid polling the API."
                if event.fault is Fault.HTTP_429
                else f"Way too many requests; IP(127.0.0.1) banned until {end}. "
                "Please use the websocket for live updates to avoid bans."
            )
            status = 429 if event.fault is Fault.HTTP_429 else 418
            return web.json_response({"code": -1003, "msg": msg}, status=status, headers=headers)
        if event.fault is Fault.TIMEOUT:
            await self._hold(event.hold_ms)
        return _reset(request, headers)


def _reset(request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
    """Drop the connection with a TCP reset: the client gets no answer at all."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: close() sends RST instead of FIN, as a crashed proxy would.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=502, headers=headers)  # never reaches the client
