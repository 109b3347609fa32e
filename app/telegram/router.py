"""python-telegram-bot's ``Application`` wired to the :class:`CommandBook`.

Group -1 holds the gate: an update from a chat outside ``TELEGRAM_ALLOWED_CHAT_IDS`` is
recorded (``CommandBook.refuse``) and stopped there (``ApplicationHandlerStop``): no
handler runs and nothing is sent back. For obeyed chats, ``CommandHandler`` parses
``/name@bot args`` and the answer is sent as plain text. The book's work (files, the
registry) runs in a worker thread so the event loop keeps polling.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from app.logs import Event, get_logger, log_event
from app.redaction import Redactor
from app.telegram.commands import COMMANDS, HELP, Caller, CommandBook
from app.telegram.status import cut

_log = get_logger("telegram.router")
MAX_ANSWER = 4000


def caller_of(update: Any) -> Caller:
    """Who sent ``update`` (chat, user id, username)."""
    user = update.effective_user
    return Caller(
        int(update.effective_chat.id),
        None if user is None else int(user.id),
        None if user is None else user.username,
    )


async def reply(bot: Any, chat_id: int, text: str, redactor: Redactor) -> None:
    """Send an answer (plain text, cut to Telegram's limit); a failure is logged, not raised."""
    if len(text) > MAX_ANSWER:
        text = text[: MAX_ANSWER - 12] + "\n... (cut)"
    try:
        await bot.send_message(chat_id=chat_id, text=text)
    except Exception as exc:  # noqa: BLE001  # an answer that cannot be sent is only logged
        log_event(
            _log,
            logging.WARNING,
            Event.TELEGRAM_SEND_FAILED,
            where="answer",
            chat_id=chat_id,
            error=redactor.redact(cut(f"{type(exc).__name__}: {exc}")),
        )


def build_application(
    bot: Any, book: CommandBook, allowed: frozenset[int], redactor: Redactor
) -> Any:
    """The Application (no Updater: the service polls itself) with the gate and commands."""
    from telegram import Update
    from telegram.ext import (
        ApplicationBuilder,
        ApplicationHandlerStop,
        CommandHandler,
        ContextTypes,
        MessageHandler,
        TypeHandler,
        filters,
    )

    async def gate(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is not None and chat.id in allowed:
            return
        if chat is not None:
            message = update.effective_message
            text = (message.text or message.caption or "<no text>") if message else "<no message>"
            await asyncio.to_thread(book.refuse, caller_of(update), text)
        raise ApplicationHandlerStop

    async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        name = message.text.split()[0][1:].split("@")[0].lower()
        caller = caller_of(update)
        answer = await asyncio.to_thread(
            book.answer, name, list(context.args or []), caller, message.date
        )
        await reply(bot, caller.chat_id, answer, redactor)

    async def other(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat is not None:
            await reply(bot, update.effective_chat.id, f"Unknown command.\n{HELP}", redactor)

    async def failed(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log_event(
            _log,
            logging.ERROR,
            Event.TELEGRAM_SEND_FAILED,
            where="command handler",
            error=redactor.redact(cut(f"{type(error).__name__}: {error}", 500)),
        )

    app = ApplicationBuilder().bot(bot).updater(None).build()
    app.add_handler(TypeHandler(Update, gate), group=-1)
    app.add_handler(CommandHandler(list(COMMANDS), command))
    app.add_handler(MessageHandler(filters.ALL, other))
    app.add_error_handler(failed)
    return app
