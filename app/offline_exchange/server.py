"""Lifecycle of the offline exchange: bind on loopback, serve in a background thread, stop.

The socket is bound in the caller's thread, so "port in use" and "not a loopback
address" fail at once with a clear message, before anything else starts. The
aiohttp server then runs its own event loop in a daemon thread, which lets the
guarded runner keep the exchange up for exactly the lifetime of a Freqtrade child.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from aiohttp import web

from app.errors import OfflineExchangeError
from app.hosts import check_host
from app.offline_exchange.api import create_app
from app.offline_exchange.errors import BinanceRequestHandler
from app.offline_exchange.fault_injector import FaultInjector
from app.offline_exchange.faults import FaultSchedule
from app.offline_exchange.replay import Mode
from app.offline_exchange.state import ExchangeState, wall_clock_ms
from app.offline_exchange.store import CandleStore
from app.threads import start_thread

LOOPBACK = "127.0.0.1"
_START_TIMEOUT_SEC = 30.0


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen; :class:`OfflineExchangeError` names the address when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OfflineExchangeError(
            f"cannot listen on {host}:{port} ({exc.strerror}); the port is probably in use by "
            "another program: choose another --port, or pass --port 0 for a free one"
        ) from exc
    return sock


class OfflineExchange:
    """A loopback Binance look-alike serving the candles of ``datadir``.

    Use as a context manager: ``with OfflineExchange(path) as ex: ... ex.url ...``.
    With ``faults``, the schedule starts when the server does (``arm_faults``), or when
    the caller calls ``ex.faults.arm(origin_ms)``.
    """

    def __init__(
        self,
        datadir: Path,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        mode: Mode = Mode.HISTORIC,
        allow_remote: bool = False,
        clock: Callable[[], int] = wall_clock_ms,
        faults: FaultSchedule | None = None,
        arm_faults: bool = True,
    ) -> None:
        check_host(host, allow_remote)
        store = CandleStore(datadir)
        store.validate()
        self.faults = FaultInjector(faults, clock) if faults is not None else None
        self._arm_faults = arm_faults
        if self.faults is None:
            self.state = ExchangeState(store, mode, clock)
        else:
            self.state = ExchangeState(store, mode, self.faults.served_clock, self.faults.timeline)
        self.host = host
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._sock is None:
            raise OfflineExchangeError("the offline exchange is not started")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> OfflineExchange:
        """Bind, then serve in a daemon thread; returns once requests are being answered."""
        self._sock = bind_socket(self.host, self._requested_port)
        self._thread = threading.Thread(target=self._run, name="offline-exchange", daemon=True)
        start_thread(self._thread)
        if not self._ready.wait(_START_TIMEOUT_SEC) or self._error is not None:
            self.stop()
            raise OfflineExchangeError(f"the offline exchange failed to start: {self._error}")
        if self.faults is not None and self._arm_faults:
            self.faults.arm(self.faults.clock())
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
            self._ready.set()
            loop.run_forever()
        except Exception as exc:  # noqa: BLE001 - start() raises it as a domain error
            self._error = exc
            self._ready.set()
        finally:
            if self._server is not None:
                self._server.close()
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

    async def _serve(self) -> None:
        assert self._sock is not None
        app = create_app(self.state)
        if self.faults is not None:
            self.faults.install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Instead of web.SockSite: the same listening server, but each connection is a
        # BinanceRequestHandler, so aiohttp's own HTTP errors (URL or header too long,
        # malformed request) are answered in Binance's JSON shape too.
        manager, loop = self._runner.server, asyncio.get_running_loop()
        assert manager is not None

        def connection() -> BinanceRequestHandler:
            # None switches the access log off (as AppRunner(access_log=None) does); aiohttp
            # supports it, its annotation does not say so.
            return BinanceRequestHandler(manager, loop=loop, access_log=None)  # type: ignore[arg-type]

        self._server = await loop.create_server(connection, sock=self._sock)

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._thread = None

    def __enter__(self) -> OfflineExchange:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
