"""The process-wide sender behind the log handler: queue, outbox, deliver -- never in the way.

:meth:`Notifier.submit` only appends to a queue: the bot loop, the guard and a CLI never
wait for the network. One daemon thread (``telegram-notifier``) with its own event loop

1. writes the queued notices to the outbox in the registry, in order (rendered and
   redacted: no secret, no token is ever stored);
2. delivers whatever is deliverable -- its own messages and any older ones other
   processes left -- within :data:`CYCLE_BUDGET_S`;
3. when messages remain (Telegram unreachable), tries again after a backoff (5 s doubling
   to 5 min) for as long as the process lives. The service and the next process that
   sends deliver them too.

At exit the process waits up to :data:`EXIT_WAIT_S` for the thread to finish: a
short-lived CLI delivers its message before it ends, or leaves it in the outbox and ends
anyway. The wait is registered to run before ``concurrent.futures`` shuts its executors
down (httpx resolves host names in one), and again as a plain ``atexit`` handler for
processes that leave through ``atexit._run_exitfuncs`` (the runner's fast exit).

When the registry cannot be written the notice is sent directly (not durable); when
that fails too, an ERROR ``telegram_undelivered`` line keeps its text in the log.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.errors import TradingBotError
from app.logs import Event, get_logger, log_event
from app.redaction import Redactor
from app.telegram.client import Sender, SendFailure, guard_library_logs, make_bot, redactor_for
from app.telegram.events import Notice, render
from app.telegram.settings import TelegramSettings
from app.threads import start_thread

if TYPE_CHECKING:
    # The registry and the Bot API client load in the background thread, on first use:
    # the log call that creates the notifier stays cheap.
    from app.registry.outbox import Outbox

_log = get_logger("telegram.notifier")
CYCLE_BUDGET_S = 5.0
EXIT_WAIT_S = 6.0
CONNECT_S, READ_S = 2.0, 4.0
BACKOFF_S = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0)
# Events whose message names the run's kind and strategy from the registry.
RUN_LOOKUP = frozenset({"run_failed", "run_interrupted"})

OutboxOpener = Callable[[], "Outbox"]


def open_outbox() -> Outbox:
    """The outbox of the registry configured by RISK_DB_URL / RISK_DB_PATH."""
    from app.registry import Registry
    from app.registry.outbox import Outbox
    from app.settings import get_settings

    return Outbox(Registry.from_settings(get_settings()))


class Notifier:
    """Queues notices and delivers them from a background thread (see the module docstring)."""

    def __init__(
        self,
        settings: TelegramSettings,
        *,
        opener: OutboxOpener = open_outbox,
        redactor: Redactor | None = None,
    ) -> None:
        self.settings = settings
        self.chat_id = str(settings.chat_id)
        self.opener = opener
        self.redactor = (redactor or Redactor.from_sources(os.environ)).with_values(
            redactor_for(settings).values
        )
        self.host = socket.gethostname()
        self.holder = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._queue: deque[Notice] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._retry_at: float | None = None
        self._failures = 0
        self._exited = False
        self._closed = False
        self._guarded = False
        self._sender: Sender | None = None
        self._outbox: Outbox | None = None

    # -- CALLER SIDE (never blocks) ---------------------------------------------------------

    def submit(self, notice: Notice) -> None:
        """Queue ``notice``; the background thread writes and sends it."""
        with self._cond:
            self._queue.append(notice)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="telegram-notifier", daemon=True
                )
                start_thread(self._thread)
                _at_exit(self.exit_flush)
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted notice was written and a delivery round ended."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the background thread after its current round (tests; no flush)."""
        with self._cond:
            self._exited = self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def exit_flush(self) -> None:
        """At exit: wait (bounded) for the thread; name what is still only in memory."""
        if self._exited:
            return
        self._exited = True
        if self.flush(EXIT_WAIT_S):
            return
        with self._cond:
            left = [notice.headline for notice in self._queue]
        log_event(
            _log,
            logging.ERROR,
            Event.TELEGRAM_UNDELIVERED,
            count=len(left),
            headlines=left,
            waited_sec=EXIT_WAIT_S,
            note="messages already written stay in the outbox for the next sender",
        )

    # -- BACKGROUND THREAD ------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            batch = self._next_batch()
            if batch is None:
                loop.close()
                return
            try:
                loop.run_until_complete(self._cycle(batch))
            except Exception as exc:  # noqa: BLE001  # the thread must outlive any failure
                self._schedule(waiting=True)
                log_event(
                    _log,
                    logging.ERROR,
                    Event.TELEGRAM_SEND_FAILED,
                    error=self.redactor.redact(f"{type(exc).__name__}: {exc}"),
                    where="delivery round",
                )
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _next_batch(self) -> list[Notice] | None:
        with self._cond:
            while not self._queue and not self._retry_due() and not self._closed:
                wait = None if self._retry_at is None else self._retry_at - time.monotonic()
                self._cond.wait(wait)
            if self._closed:
                return None
            batch = list(self._queue)
            self._queue.clear()
            self._busy = True
            return batch

    def _retry_due(self) -> bool:
        return self._retry_at is not None and time.monotonic() >= self._retry_at

    def _schedule(self, *, waiting: bool) -> None:
        if not waiting:
            self._retry_at, self._failures = None, 0
            return
        delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
        self._failures += 1
        self._retry_at = time.monotonic() + delay

    async def _cycle(self, batch: list[Notice]) -> None:
        from app.telegram.delivery import deliver_all

        if not self._guarded:
            import telegram  # noqa: F401  # its loggers must exist before they are guarded

            guard_library_logs(self.redactor)
            self._guarded = True
        # Made once per thread (an HTTP client costs an SSL context; the registry checks its
        # schema once); the registry's connections are closed after every round.
        if self._sender is None:
            bot = make_bot(self.settings, connect_s=CONNECT_S, read_s=READ_S)
            self._sender = Sender(bot, self.redactor)
        if self._outbox is None:
            self._outbox = self._open()
        outbox, sender = self._outbox, self._sender
        try:
            unqueued = [(n, t) for n, t in self._write(outbox, batch) if t is not None]
            for notice, text in unqueued:
                await self._send_direct(sender, notice, text)
            if outbox is not None:
                report = await deliver_all(
                    outbox, sender, holder=self.holder, budget_s=CYCLE_BUDGET_S
                )
                self._schedule(waiting=report.waiting)
        finally:
            if outbox is not None:
                outbox.registry.close()  # hold no connection between rounds (restore checks)

    def _open(self) -> Outbox | None:
        try:
            return self.opener()
        except TradingBotError as exc:
            log_event(_log, logging.ERROR, Event.TELEGRAM_SEND_FAILED, error=str(exc))
            return None

    def _write(self, outbox: Outbox | None, batch: list[Notice]) -> list[tuple[Notice, str | None]]:
        """Write each notice; return it with its text when it could not be written."""
        from app.registry.outbox import NewMessage

        done: list[tuple[Notice, str | None]] = []
        for notice in batch:
            run_line = self._run_line(outbox, notice)
            text = self.redactor.redact(render(notice, host=self.host, run_line=run_line))
            if outbox is None:
                done.append((notice, text))
                continue
            message = NewMessage(
                chat_id=self.chat_id,
                event=notice.event,
                severity=notice.severity,
                text=text,
                rate_key=notice.rate_key,
                limit=notice.limit,
                unique_key=notice.unique_key,
                correlation_id=notice.correlation_id,
                run_id=notice.run_id,
            )
            try:
                outbox.add(message, notice.at)
            except TradingBotError as exc:
                log_event(_log, logging.ERROR, Event.TELEGRAM_SEND_FAILED, error=str(exc))
                done.append((notice, text))
                continue
            done.append((notice, None))
        return done

    @staticmethod
    def _run_line(outbox: Outbox | None, notice: Notice) -> str | None:
        if outbox is None or notice.run_id is None or notice.event not in RUN_LOOKUP:
            return None
        try:
            run = outbox.registry.get_run(notice.run_id)
        except TradingBotError:
            return None
        if run is None:
            return None
        return " ".join(str(p) for p in (run.kind, run.strategy, f"exit {run.exit_code}") if p)

    async def _send_direct(self, sender: Sender, notice: Notice, text: str) -> None:
        try:
            await sender.send(self.chat_id, text)
        except SendFailure as failure:
            log_event(
                _log,
                logging.ERROR,
                Event.TELEGRAM_UNDELIVERED,
                about=notice.event,
                text=text,
                error=failure.detail,
            )


def _at_exit(fn: Callable[[], None]) -> None:
    register = getattr(threading, "_register_atexit", None)  # CPython's hook for executors
    if register is not None:
        with contextlib.suppress(RuntimeError):  # the interpreter is already shutting down
            register(fn)
    atexit.register(fn)


_lock = threading.Lock()
_notifier: Notifier | None = None


def process_notifier(settings: TelegramSettings) -> Notifier:
    """The one notifier of this process (created on first use)."""
    global _notifier  # noqa: PLW0603  # one background sender per process
    with _lock:
        if _notifier is None:
            _notifier = Notifier(settings)
        return _notifier


def flush_process_notifier(timeout: float) -> bool:
    """Wait (at most ``timeout`` s) until this process's notifier, if it has one, wrote and
    delivered what it was given; True when it is idle."""
    with _lock:
        notifier = _notifier
    return True if notifier is None else notifier.flush(timeout)
