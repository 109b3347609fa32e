"""A local fake of Freqtrade's REST API: the three endpoints the exporter reads.

``/api/v1/show_config``, ``/api/v1/health`` and ``/api/v1/profit`` on 127.0.0.1, with
HTTP basic auth like Freqtrade (``{"detail": "Unauthorized"}`` and 401 otherwise) and the
answer fields Freqtrade 2026.9 sends. For exporter tests that need what a real bot cannot
easily do on demand (a hung API, a garbage answer) and for the scrape benchmark (three
bots); the end-to-end test polls a real dry-run bot.

Usage::

    with FakeFreqtradeApi(username="u", password="p") as api:
        api.url                   # http://127.0.0.1:PORT
        api.state = "paused"; api.hang_s = 5.0; api.garbage = True
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from typing import Any

from aiohttp import web


class FakeFreqtradeApi:
    """Answers like a running dry-run bot; change the attributes to change the answers."""

    def __init__(self, *, username: str, password: str, port: int = 0) -> None:
        self._auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._port = port
        self.state = "running"
        self.max_open_trades: float = 3
        self.last_process_ts: int | None = 1_790_000_000
        self.bot_startup_ts = 1_789_999_000
        self.trade_count = 5
        self.closed_trade_count = 3
        self.profit_all_ratio = 0.0123
        self.current_drawdown = 0.045
        self.hang_s = 0.0
        self.garbage = False
        self.requests: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeFreqtradeApi:
        if self._port == 0:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self._port = probe.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Freqtrade API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeFreqtradeApi:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_get("/api/v1/{endpoint}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self._port, reuse_address=True)
        loop.run_until_complete(site.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        self.requests.append(endpoint)
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        if request.headers.get("Authorization") != self._auth:
            return web.json_response({"detail": "Unauthorized"}, status=401)
        if self.garbage:
            return web.Response(text="<html>proxy error</html>", content_type="text/html")
        body = {
            "show_config": self._config,
            "health": self._health,
            "profit": self._profit,
        }.get(endpoint)
        if body is None:
            return web.json_response({"detail": "Not Found"}, status=404)
        return web.json_response(body())

    def _config(self) -> dict[str, Any]:
        return {
            "version": "2026.9",
            "bot_name": "fake",
            "state": self.state,
            "runmode": "dry_run",
            "max_open_trades": self.max_open_trades,
            "strategy": "FakeStrategy",
        }

    def _health(self) -> dict[str, Any]:
        return {
            "last_process": None,
            "last_process_ts": self.last_process_ts,
            "bot_startup_ts": self.bot_startup_ts,
        }

    def _profit(self) -> dict[str, Any]:
        return {
            "profit_all_ratio": self.profit_all_ratio,
            "current_drawdown": self.current_drawdown,
            "trade_count": self.trade_count,
            "closed_trade_count": self.closed_trade_count,
        }
