"""Outbox to Telegram: every sender (a CLI, a bot, the service) delivers with this code.

For each chat with a deliverable message: take the chat's lease, send its oldest message,
mark it sent, repeat -- until the chat is empty, the time budget is spent, or a send fails:

* 429: the pause (``retry_after``) is stored for every process; this deliverer waits it
  out when it fits in its budget, else leaves the message for later.
* network error, timeout, 5xx: the message stays first in line (order is kept) and the
  chat is left for the next attempt (the next process that sends, or the service).
* 400/403 (bad chat, bot blocked, message refused): the message is marked ``dead`` with
  Telegram's answer and the next one goes out; the RUNBOOK says how to inspect it.
* 401/404 (token or URL wrong): nothing more is tried in this run; everything waits.

Database calls go through ``db`` (``asyncio.to_thread`` in the service's event loop; a
plain call in the notifier's own thread, whose loop has nothing else to do).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from app.logs import Event, get_logger, log_event
from app.registry.outbox import Outbox, OutboxItem
from app.telegram.client import Failure, Sender, SendFailure

_log = get_logger("telegram.delivery")
LEASE = timedelta(seconds=30)  # well above one send's timeouts (connect 2 s + read 4 s)
_T = TypeVar("_T")
Db = Callable[..., Awaitable[Any]]


async def direct(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a database call in the calling thread (for a loop that does nothing else)."""
    return fn(*args, **kwargs)


@dataclass
class Report:
    """What one delivery round did."""

    sent: int = 0
    dead: int = 0
    waiting: bool = False  # messages remain that this round could not send
    problem: str | None = None  # the last failure, redacted
    stop: bool = False  # the token or URL is wrong: do not try other chats


def now_utc() -> datetime:
    """The current time (UTC); deliverers take it per step, never a frozen value."""
    return datetime.now(UTC)


async def deliver_all(
    outbox: Outbox, sender: Sender, *, holder: str, budget_s: float, db: Db = direct
) -> Report:
    """Deliver every chat's deliverable messages within ``budget_s`` seconds."""
    round_ = _Round(outbox, sender, holder, time.monotonic() + budget_s, db)
    chats: list[str] = await db(outbox.chats_with_work, now_utc())
    for chat in chats:
        if round_.report.stop or time.monotonic() >= round_.deadline:
            round_.report.waiting = True
            break
        await round_.chat(chat)
    return round_.report


@dataclass
class _Round:
    """One delivery round: its budget, its lease holder name and what it did."""

    outbox: Outbox
    sender: Sender
    holder: str
    deadline: float
    db: Db
    report: Report = field(default_factory=Report)

    async def chat(self, chat: str) -> None:
        """Send the chat's messages in order while the lease, the budget and Telegram allow."""
        holding = False
        try:
            while True:
                if time.monotonic() >= self.deadline:
                    self.report.waiting = True
                    return
                claim = await self.db(self.outbox.claim_next, chat, self.holder, now_utc(), LEASE)
                # An empty claim also gave the lease back; a busy or paused one never had it.
                holding = claim.item is not None
                if claim.item is None:
                    # Another process is delivering this chat, or Telegram asked for a pause.
                    waiting = claim.busy or claim.paused_until is not None
                    self.report.waiting = self.report.waiting or waiting
                    return
                if not await self._send(claim.item):
                    return
        finally:
            if holding:
                await self.db(self.outbox.release, chat, self.holder)

    async def _send(self, item: OutboxItem) -> bool:
        """Send ``item``; True when the chat may go on with its next message."""
        try:
            message_id = await self.sender.send(item.chat_id, item.text)
        except SendFailure as failure:
            return await self._failed(item, failure)
        await self.db(self.outbox.mark_sent, item.id, now_utc(), message_id)
        self.report.sent += 1
        log_event(
            _log,
            logging.INFO,
            Event.TELEGRAM_SENT,
            outbox_id=item.id,
            chat_id=item.chat_id,
            about=item.event,
            attempts=item.attempts,
            telegram_message_id=message_id,
        )
        return True

    async def _failed(self, item: OutboxItem, failure: SendFailure) -> bool:
        report = self.report
        report.problem = str(failure)
        serious = failure.kind in (Failure.PERMANENT, Failure.UNAUTHORIZED)
        log_event(
            _log,
            logging.ERROR if serious else logging.WARNING,
            Event.TELEGRAM_SEND_FAILED,
            outbox_id=item.id,
            chat_id=item.chat_id,
            about=item.event,
            attempts=item.attempts,
            failure=failure.kind.value,
            error=failure.detail,
            retry_after=failure.retry_after or None,
        )
        if failure.kind is Failure.RATE_LIMITED:
            pause = timedelta(seconds=failure.retry_after)
            await self.db(self.outbox.pause, item.chat_id, now_utc() + pause)
            if time.monotonic() + failure.retry_after < self.deadline:
                await asyncio.sleep(failure.retry_after)
                return True  # the same message is still first in line
            report.waiting = True
            return False
        permanent = failure.kind is Failure.PERMANENT
        await self.db(self.outbox.mark_failed, item.id, failure.detail, permanent=permanent)
        if permanent:
            report.dead += 1
            return True
        report.waiting = True
        report.stop = failure.kind is Failure.UNAUTHORIZED
        return False
