"""``tradingbot telegram``: deliver the outbox and answer the operator's commands.

One long-polling loop (``getUpdates``, ``allowed_updates=["message"]``) feeds the
updates to a python-telegram-bot ``Application``: a gate in front of every handler drops
chats outside ``TELEGRAM_ALLOWED_CHAT_IDS`` (no answer, an incident), then
``CommandHandler`` runs :class:`~app.telegram.commands.CommandBook`. Beside it a delivery
loop sends what waits in the outbox every :data:`DELIVER_EVERY_S` (backing off while
Telegram is unreachable), announces a breaker that expired, and once a day deletes sent
messages older than :data:`KEEP_SENT`. ``--once`` answers the pending commands, delivers
what waits and returns.

Refused at start: Freqtrade's Telegram bot token (two pollers of one token break each
other), and a second poller on this host (a lock file in the state folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from app.circuit_breaker import BreakerStatus, iso_utc, read_breaker
from app.errors import ConfigError, TelegramError
from app.logs import DEFAULT_LOG_FILE, Event, get_logger, log_event
from app.registry.outbox import Outbox
from app.registry.store import Registry
from app.settings import RiskSettings
from app.telegram.client import Sender, SendFailure, guard_library_logs, make_bot, redactor_for
from app.telegram.commands import COMMANDS, CommandBook
from app.telegram.delivery import Report, deliver_all
from app.telegram.router import build_application
from app.telegram.settings import TelegramSettings, env_name

_log = get_logger("telegram.service")
POLL_S = 25.0
DELIVER_EVERY_S = 5.0
ROUND_BUDGET_S = 30.0
BACKOFF_MAX_S = 60.0
KEEP_SENT = timedelta(days=30)
EXPIRY_RECENT = timedelta(minutes=15)
FREQTRADE_TOKEN_ENV = "FREQTRADE__TELEGRAM__TOKEN"  # noqa: S105  # a variable name, not a value


def freqtrade_token_sources(token: str, configs_dir: Path, environ: Mapping[str, str]) -> list[str]:
    """Where Freqtrade's own Telegram module would poll with ``token`` (names, never values)."""
    import rapidjson

    found = [FREQTRADE_TOKEN_ENV] if environ.get(FREQTRADE_TOKEN_ENV) == token else []
    mode = rapidjson.PM_COMMENTS | rapidjson.PM_TRAILING_COMMAS
    for path in sorted(configs_dir.glob("*.json")):
        try:
            config: Any = rapidjson.loads(path.read_text(encoding="utf-8"), parse_mode=mode)
        except (OSError, ValueError):
            continue  # not ours to judge; Freqtrade refuses a broken config itself
        section = config.get("telegram") if isinstance(config, dict) else None
        if isinstance(section, dict) and section.get("token") == token:
            found.append(str(path))
    return found


def refuse_freqtrade_token(
    tg: TelegramSettings, configs_dir: Path, environ: Mapping[str, str]
) -> None:
    """Raise :class:`ConfigError` when the operations bot would share Freqtrade's token."""
    sources = freqtrade_token_sources(tg.token, configs_dir, environ)
    if sources:
        raise ConfigError(
            f"{env_name('bot_token')} is the token of Freqtrade's own Telegram bot "
            f"({', '.join(sources)}); two pollers of one token break each other. Create a "
            "second bot with @BotFather for operations messages and use its token"
        )


@contextlib.contextmanager
def poller_lock(state_dir: Path) -> Iterator[bool]:
    """Yield True when this process is the host's only poller, False when another is."""
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(state_dir / "telegram_poller.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


class BreakerWatch:
    """Announces a breaker whose ``until_iso`` passed (once per end time, only recent ones)."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.announced: set[str] = set()

    def check(self, now: datetime) -> None:
        """Log ``circuit_breaker_expired`` when the breaker expired within EXPIRY_RECENT."""
        state = read_breaker(self.file, now)
        if state.status is not BreakerStatus.EXPIRED or state.until is None:
            return
        until = iso_utc(state.until)
        if until in self.announced or now - state.until > EXPIRY_RECENT:
            return
        self.announced.add(until)
        log_event(
            _log,
            logging.INFO,
            Event.CIRCUIT_BREAKER_EXPIRED,
            file=str(self.file),
            until=until,
            reason=state.reason,
        )


class Service:
    """The poller, the command answers and the delivery loop of one process."""

    def __init__(self, settings: RiskSettings, tg: TelegramSettings) -> None:
        self.settings = settings
        self.tg = tg
        self.redactor = redactor_for(tg)
        self.registry = Registry.from_settings(settings)
        self.outbox = Outbox(self.registry)
        self.correlation_id = f"telegram-{uuid.uuid4().hex[:12]}"
        self.holder = f"service:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.book = CommandBook(
            settings,
            self.registry,
            log_file=DEFAULT_LOG_FILE,
            correlation_id=self.correlation_id,
            clock=lambda: datetime.now(UTC),
        )
        self.bot = make_bot(tg, connect_s=5.0, read_s=10.0, poll_s=POLL_S)
        self.sender = Sender(self.bot, self.redactor)
        self.watch = BreakerWatch(settings.breaker_file)
        self.stop = asyncio.Event()
        self._purged: datetime | None = None

    # -- ONE ROUND (also --once) ------------------------------------------------------------

    async def deliver(self, budget_s: float = ROUND_BUDGET_S) -> Report:
        """Announce an expired breaker, deliver what waits, purge old sent messages."""
        now = datetime.now(UTC)
        await asyncio.to_thread(self.watch.check, now)
        try:
            report = await deliver_all(
                self.outbox, self.sender, holder=self.holder, budget_s=budget_s,
                db=asyncio.to_thread,
            )  # fmt: skip
            if self._purged is None or now - self._purged > timedelta(days=1):
                await asyncio.to_thread(self.outbox.purge, ["sent"], before=now - KEEP_SENT)
                self._purged = now
        finally:
            # No connection is held between rounds (a restore checks that none is open).
            await asyncio.to_thread(self.registry.close)
        return report

    async def poll(self, app: Any, timeout: float, offset: int | None) -> int | None:
        """Fetch and handle one batch of updates; return the next offset."""
        updates = await self.bot.get_updates(
            offset=offset, timeout=int(timeout), allowed_updates=["message"]
        )
        for update in updates:
            offset = update.update_id + 1
            await app.process_update(update)
        return offset

    # -- MODES ------------------------------------------------------------------------------

    async def once(self, *, polling: bool) -> tuple[Report, int]:
        """Answer pending commands (when ``polling``), deliver; return the report and count."""
        handled = 0
        app = await self._start() if polling else None
        try:
            offset: int | None = None
            while app is not None:
                before = offset
                offset = await self.poll(app, 0, offset)
                if offset == before:
                    break
                handled += 1
            if offset is not None:  # acknowledge: Telegram forgets what came before
                await self.bot.get_updates(offset=offset, timeout=0, limit=1)
            return await self.deliver(), handled
        finally:
            if app is not None:
                await app.shutdown()  # also closes the bot's connections
            await self.sender.close()

    async def serve(self) -> None:
        """Poll and deliver until :attr:`stop` is set (SIGINT/SIGTERM)."""
        app = await self._start()
        log_event(
            _log,
            logging.INFO,
            Event.TELEGRAM_SERVICE,
            correlation_id=self.correlation_id,
            state="started",
            allowed_chats=len(self.tg.allowed),
            commands=list(COMMANDS),
        )
        tasks = [
            asyncio.create_task(self._poll_loop(app)),
            asyncio.create_task(self._deliver_loop()),
        ]
        try:
            await self.stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.shutdown()
            await self.sender.close()
            log_event(_log, logging.INFO, Event.TELEGRAM_SERVICE, state="stopped")

    async def _start(self) -> Any:
        """The Application, initialised (``getMe`` checks the token and the URL)."""
        from telegram import error

        app = build_application(self.bot, self.book, self.tg.allowed, self.redactor)
        guard_library_logs(self.redactor)
        try:
            await app.initialize()
        except error.InvalidToken as exc:
            raise TelegramError(
                f"the Bot API at {self.tg.api_url} rejected TELEGRAM_BOT_TOKEN "
                f"({self.redactor.redact(str(exc))}); check the token and TELEGRAM_API_URL"
            ) from None
        except error.TelegramError as exc:
            raise TelegramError(
                f"Telegram at {self.tg.api_url} cannot be reached "
                f"({self.redactor.redact(str(exc))}); messages wait in the outbox"
            ) from None
        return app

    async def _poll_loop(self, app: Any) -> None:
        offset: int | None = None
        delay = 1.0
        while not self.stop.is_set():
            try:
                offset = await self.poll(app, POLL_S, offset)
                delay = 1.0
            except Exception as exc:  # noqa: BLE001  # the poller must survive outages
                failure = _failure(exc, self.redactor)
                log_event(_log, logging.WARNING, Event.TELEGRAM_SEND_FAILED, where="getUpdates",
                          failure=failure.kind.value, error=failure.detail)  # fmt: skip
                await asyncio.sleep(max(failure.retry_after, delay))
                delay = min(delay * 2, BACKOFF_MAX_S)

    async def _deliver_loop(self) -> None:
        delay = DELIVER_EVERY_S
        while not self.stop.is_set():
            try:
                report = await self.deliver()
                delay = min(delay * 2, BACKOFF_MAX_S) if report.waiting else DELIVER_EVERY_S
            except Exception as exc:  # noqa: BLE001  # the loop must survive a registry outage
                log_event(_log, logging.ERROR, Event.TELEGRAM_SEND_FAILED, where="delivery",
                          error=self.redactor.redact(f"{type(exc).__name__}: {exc}"))  # fmt: skip
                delay = min(delay * 2, BACKOFF_MAX_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)


def _failure(exc: Exception, redactor: Any) -> SendFailure:
    from app.telegram.client import classify

    return exc if isinstance(exc, SendFailure) else classify(exc, redactor)
