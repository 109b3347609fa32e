"""A local fake of the Telegram Bot API (the cloud cannot be reached from tests).

Serves ``/bot<token>/<method>`` on 127.0.0.1 from an aiohttp server in a daemon thread,
like the real API: ``getMe``, ``sendMessage`` (recorded), ``getUpdates`` (long polling,
``offset`` acknowledges), ``deleteWebhook``, ``setMyCommands``, ``getMyCommands``; any
other method answers 404 and an unknown token 401, in the API's JSON shape
``{"ok": false, "error_code": ..., "description": ...}``.

Faults for tests: :meth:`FakeTelegram.rate_limit` (429 with ``retry_after``),
:meth:`FakeTelegram.fail` (5xx), :meth:`FakeTelegram.hang` (hold requests), and
:meth:`FakeTelegram.down` / :meth:`FakeTelegram.up` (stop listening, then listen again
on the same port). Python-telegram-bot and Alertmanager's ``telegram_configs`` both talk
to it through their ``base_url`` / ``api_url`` settings.

Usage::

    with FakeTelegram(tokens={"123:abc"}) as tg:
        ... tg.url ...           # http://127.0.0.1:PORT (the API root)
        tg.push_update(chat_id=42, text="/status")
        tg.wait_for_messages(1, timeout=5)
        tg.messages[0].text
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_BOT_ID = 7_000_001
_MAX_POLL_S = 5.0


@dataclass(frozen=True)
class SentMessage:
    """One ``sendMessage`` the fake accepted."""

    token: str
    chat_id: str
    text: str
    params: dict[str, Any]
    at: float


@dataclass
class _Faults:
    rate_limited: int = 0  # answer this many requests with 429
    retry_after: int = 1
    failing: int = 0  # answer this many requests with `fail_status`
    fail_status: int = 500
    hang_s: float = 0.0  # hold every request this long before answering
    methods: frozenset[str] | None = None  # faults apply to these methods only (None = all)


@dataclass
class _Requests:
    log: list[tuple[str, str, float]] = field(default_factory=list)  # (method, status, time)


class FakeTelegram:
    """A Bot API look-alike on a free loopback port (see module docstring)."""

    def __init__(self, tokens: set[str] | frozenset[str], *, port: int = 0) -> None:
        self.tokens = frozenset(tokens)
        self.messages: list[SentMessage] = []
        self.requests = _Requests()
        self._faults = _Faults()
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id = 1
        self._lock = threading.Lock()
        self._changed: asyncio.Event | None = None
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # -- LIFECYCLE -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The API root (``TELEGRAM_API_URL``); clients add ``/bot<token>/<method>``."""
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeTelegram:
        if self._port == 0:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self._port = probe.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Telegram API did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._changed = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(self._listen())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True)
        await self._site.start()

    async def _unlisten(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    def _call(self, coro_factory: Callable[[], Any]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro_factory(), self._loop).result(10)

    def down(self) -> None:
        """Stop listening: connections are refused until :meth:`up`."""
        self._call(self._unlisten)

    def up(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- FAULTS ----------------------------------------------------------------------------

    def rate_limit(self, count: int, retry_after: int = 1, methods: set[str] | None = None) -> None:
        """Answer the next ``count`` requests with 429 and ``retry_after`` seconds."""
        with self._lock:
            self._faults.rate_limited, self._faults.retry_after = count, retry_after
            self._faults.methods = frozenset(methods) if methods else None

    def fail(self, count: int, status: int = 500, methods: set[str] | None = None) -> None:
        """Answer the next ``count`` requests with HTTP ``status`` (5xx)."""
        with self._lock:
            self._faults.failing, self._faults.fail_status = count, status
            self._faults.methods = frozenset(methods) if methods else None

    def hang(self, seconds: float) -> None:
        """Hold every request ``seconds`` before answering (0 = answer at once)."""
        with self._lock:
            self._faults.hang_s = seconds

    # -- UPDATES AND MESSAGES --------------------------------------------------------------

    def push_update(
        self, *, chat_id: int, text: str, user_id: int | None = None, username: str = "operator"
    ) -> int:
        """Queue a message from ``chat_id`` (a command when ``text`` starts with ``/``)."""
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
            message: dict[str, Any] = {
                "message_id": self._new_message_id(),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "username": username},
                "from": {
                    "id": user_id if user_id is not None else chat_id,
                    "is_bot": False,
                    "first_name": username,
                    "username": username,
                },
                "text": text,
            }
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
            self._updates.append({"update_id": update_id, "message": message})
        self._notify()
        return update_id

    @property
    def pending_updates(self) -> int:
        """Updates not yet acknowledged by a ``getUpdates`` offset."""
        with self._lock:
            return len(self._updates)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[SentMessage]:
        """Block until at least ``count`` messages were sent; return them (AssertionError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        with self._lock:
            got = [m.text[:80] for m in self.messages]
        raise AssertionError(f"expected {count} message(s) within {timeout} s, got {got}")

    def _new_message_id(self) -> int:
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    def _notify(self) -> None:
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None:
            loop.call_soon_threadsafe(changed.set)

    # -- HTTP ------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    def _fault(self, method: str) -> web.Response | None:
        with self._lock:
            faults = self._faults
            if faults.methods is not None and method not in faults.methods:
                return None
            if faults.rate_limited > 0:
                faults.rate_limited -= 1
                return _error(
                    429,
                    f"Too Many Requests: retry after {faults.retry_after}",
                    {"retry_after": faults.retry_after},
                )
            if faults.failing > 0:
                faults.failing -= 1
                return _error(faults.fail_status, "Internal Server Error")
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        with self._lock:
            hang = self._faults.hang_s
        if hang:
            await asyncio.sleep(hang)
        fault = self._fault(method)
        if fault is not None:
            self._log(method, str(fault.status))
            return fault
        if token not in self.tokens:
            self._log(method, "401")
            return _error(401, "Unauthorized")
        params = await self._params(request)
        handler = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._true,
            "setMyCommands": self._true,
            "getMyCommands": self._no_commands,
            "close": self._true,
            "logOut": self._true,
        }.get(method)
        if handler is None:
            self._log(method, "404")
            return _error(404, "Not Found: method not found")
        answer = await handler(token, params)
        self._log(method, str(answer.status))
        return answer

    def _log(self, method: str, status: str) -> None:
        with self._lock:
            self.requests.log.append((method, status, time.time()))

    async def _true(self, _token: str, _params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _no_commands(self, _token: str, _params: dict[str, Any]) -> web.Response:
        return _ok([])

    async def _get_me(self, _token: str, _params: dict[str, Any]) -> web.Response:
        return _ok({
            "id": _BOT_ID,
            "is_bot": True,
            "first_name": "tradingbot-ops",
            "username": "tradingbot_ops_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        })  # fmt: skip

    async def _send_message(self, token: str, params: dict[str, Any]) -> web.Response:
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id in (None, "") or not text:
            return _error(400, "Bad Request: message text is empty or chat_id missing")
        with self._lock:
            self.messages.append(
                SentMessage(token, str(chat_id), str(text), dict(params), time.time())
            )
            message_id = self._new_message_id()
        return _ok({
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": _as_int(chat_id), "type": "private"},
            "from": {"id": _BOT_ID, "is_bot": True, "first_name": "tradingbot-ops"},
            "text": str(text),
        })  # fmt: skip

    async def _get_updates(self, _token: str, params: dict[str, Any]) -> web.Response:
        offset = _as_int(params.get("offset", 0))
        limit = max(1, min(100, _as_int(params.get("limit", 100))))
        wait_s = min(float(params.get("timeout", 0) or 0), _MAX_POLL_S)
        deadline = time.monotonic() + wait_s
        while True:
            with self._lock:
                if offset:
                    # Like Telegram: an offset acknowledges every update before it.
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = self._updates[:limit]
                if ready or time.monotonic() >= deadline:
                    return _ok(ready)
            assert self._changed is not None
            self._changed.clear()
            remaining = deadline - time.monotonic()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=max(remaining, 0.01))
            except TimeoutError:
                continue


def _as_int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")
