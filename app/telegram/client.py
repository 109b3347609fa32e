"""python-telegram-bot behind one small interface, and the token kept out of every log.

:class:`Sender` sends one plain-text message and turns the Bot API's answers into
:class:`SendFailure` kinds a deliverer can act on (wait, retry later, give up, stop).
Its error texts pass through the :class:`~app.redaction.Redactor`: python-telegram-bot
puts the token into some messages (``InvalidToken``) and httpx logs every request URL,
which contains it, at INFO.

:func:`guard_library_logs` therefore raises ``httpx`` to WARNING and puts a redacting
filter on every logger of ``httpx``, ``httpcore`` and ``telegram``: whatever handlers
Freqtrade or anyone else attached, no record of those libraries carries the token.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from app.redaction import Redactor

if TYPE_CHECKING:
    from telegram import Bot

    from app.telegram.settings import TelegramSettings

LIBRARY_LOGGERS = ("httpx", "httpcore", "telegram")


class Failure(StrEnum):
    """What a failed send means for the message and the deliverer."""

    RATE_LIMITED = "rate_limited"  # 429: wait retry_after, then send the same message
    TRANSIENT = "transient"  # network, timeout, 5xx, 409: keep it, try again later
    PERMANENT = "permanent"  # 400/403 (bad chat, blocked, too long): give this message up
    UNAUTHORIZED = "unauthorized"  # 401/404: the token or the API URL is wrong: stop


@dataclass
class SendFailure(Exception):  # noqa: N818  # a value describing the failure, not a bug
    """A send that did not go through; ``detail`` is redacted."""

    kind: Failure
    detail: str
    retry_after: float = 0.0

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


def redactor_for(settings: TelegramSettings) -> Redactor:
    """A redactor that knows the token (and its secret half) besides the usual secrets."""
    token = settings.token
    return Redactor.from_sources(extra=[token, token.split(":", 1)[-1]])


class _RedactFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        record.msg, record.args = self.redactor.redact(text), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redactor.redact(
                logging.Formatter().formatException(record.exc_info)
            )
        return True


def guard_library_logs(redactor: Redactor) -> None:
    """Redact every record of the HTTP and Telegram libraries (see the module docstring).

    Call after importing ``telegram`` and ``telegram.ext`` (their loggers exist then).
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)
    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if name.split(".", 1)[0] in LIBRARY_LOGGERS
    ]
    for name in {*LIBRARY_LOGGERS, *names}:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _RedactFilter)]:
            logger.removeFilter(old)
        logger.addFilter(_RedactFilter(redactor))


def make_bot(
    settings: TelegramSettings, *, connect_s: float, read_s: float, poll_s: float = 0.0
) -> Bot:
    """A Bot API client for ``TELEGRAM_API_URL`` with bounded timeouts."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    api = settings.api_url
    request = HTTPXRequest(
        connect_timeout=connect_s, read_timeout=read_s, write_timeout=read_s, pool_timeout=1.0
    )
    polling = HTTPXRequest(
        connection_pool_size=1,
        connect_timeout=connect_s,
        read_timeout=poll_s + read_s,
        write_timeout=read_s,
        pool_timeout=1.0,
    )
    return Bot(
        settings.token,
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
        request=request,
        get_updates_request=polling,
    )


def classify(exc: Exception, redactor: Redactor) -> SendFailure:
    """The :class:`SendFailure` for a python-telegram-bot (or httpx) exception."""
    from telegram import error

    detail = redactor.redact(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, error.RetryAfter):
        return SendFailure(Failure.RATE_LIMITED, detail, _seconds(exc))
    if isinstance(exc, error.ChatMigrated):
        detail += f"; set TELEGRAM_CHAT_ID={exc.new_chat_id}"
        return SendFailure(Failure.PERMANENT, detail)
    if isinstance(exc, error.InvalidToken):
        detail += "; check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL"
        return SendFailure(Failure.UNAUTHORIZED, detail)
    if isinstance(exc, error.BadRequest | error.Forbidden):
        return SendFailure(Failure.PERMANENT, detail)
    return SendFailure(Failure.TRANSIENT, detail)


def _seconds(exc: Exception) -> float:
    with warnings.catch_warnings():  # PTB warns about int vs timedelta; either is fine here
        warnings.simplefilter("ignore")
        value = getattr(exc, "retry_after", 1)
    if isinstance(value, timedelta):
        return max(value.total_seconds(), 0.0)
    return max(float(value), 0.0)


class Sender:
    """Sends plain-text messages through one :class:`telegram.Bot` (see the module docstring)."""

    def __init__(self, bot: Bot, redactor: Redactor) -> None:
        self.bot = bot
        self.redactor = redactor

    async def send(self, chat_id: str, text: str) -> int:
        """Send ``text``; return Telegram's message id or raise :class:`SendFailure`."""
        try:
            message = await self.bot.send_message(chat_id=int(chat_id), text=text)
        except Exception as exc:  # noqa: BLE001  # every failure becomes a classified value
            raise classify(exc, self.redactor) from None
        return int(message.message_id)

    async def close(self) -> None:
        """Close the HTTP connections (never raises)."""
        # Closing a broken client must not hide why it broke (that was logged already).
        with contextlib.suppress(Exception):
            await self.bot.shutdown()
