"""The Telegram outbox in the registry: messages written with their event, delivered after.

Every write is one short transaction. Two rules make several processes safe together:

* **One deliverer per chat** (a lease in ``outbox_chats``): :meth:`Outbox.claim_next` gives
  the chat's oldest deliverable message only to the lease holder, so messages go out once
  and in ``id`` order per chat even when bots, CLIs and the service deliver at once. The
  lease is short and renewed per message; a deliverer that dies frees it on expiry.
* **Writes of one chat are serialised** (SQLite: ``BEGIN IMMEDIATE``, see ``engine.py``;
  PostgreSQL: ``SELECT ... FOR UPDATE`` of the chat's row). So ``id`` order is commit order,
  and the rate limit counts every writer's rows.

Rate limit (per chat and ``rate_key``): within ``window`` the first ``burst`` messages are
queued as they come; later ones are folded into one *held* summary ("... and 17 more
breaker changes; the latest: ...") that becomes deliverable when the window ends.
Nothing here talks to Telegram: see ``app/telegram/delivery.py``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.registry.models import OUTBOX_STATUSES, OutboxChat, OutboxMessage
from app.registry.ratelimit import RateLimit
from app.registry.store import Registry

__all__ = ["Claim", "NewMessage", "Outbox", "OutboxItem", "Queued", "RateLimit"]

WAITING = ("pending", "held")
MAX_TEXT = 4096  # Telegram's limit for one message
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to queue (``text`` already redacted and rendered)."""

    chat_id: str
    event: str
    severity: str
    text: str
    rate_key: str
    limit: RateLimit
    unique_key: str | None = None
    correlation_id: str | None = None
    run_id: str | None = None


class Queued(StrEnum):
    """What :meth:`Outbox.add` did with a message."""

    QUEUED = "queued"  # a pending row: sent as soon as a deliverer runs
    HELD = "held"  # over the rate limit: a new summary row, sent when the window ends
    FOLDED = "folded"  # over the rate limit: counted into the existing summary row
    DUPLICATE = "duplicate"  # its unique_key was queued before: nothing written


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A row as deliverers and the CLI see it."""

    id: int
    chat_id: str
    event: str
    severity: str
    status: str
    text: str
    attempts: int
    created_utc: datetime
    last_error: str | None

    @classmethod
    def from_row(cls, row: OutboxMessage) -> OutboxItem:
        """Copy the fields a caller needs out of the session."""
        return cls(
            row.id,
            row.chat_id,
            row.event,
            row.severity,
            row.status,
            row.text,
            row.attempts,
            row.created_utc,
            row.last_error,
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """The next message to send (``item``), or why there is none for this holder now."""

    item: OutboxItem | None
    busy: bool = False  # another deliverer holds the chat's lease
    paused_until: datetime | None = None  # Telegram asked us to wait (429 retry_after)


def _fit(text: str) -> str:
    cut = "\n... (cut)"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - len(cut)] + cut


def _summary(count: int, limit: RateLimit, latest: str) -> str:
    seconds = int(limit.window.total_seconds())
    head = (
        f"... and {count} more {limit.label} (rate limit: {limit.burst} messages per "
        f"{seconds} s); the latest:\n\n"
    )
    return _fit(head + latest)


class Outbox:
    """Queue, claim and settle outbox messages in ``registry`` (see the module docstring)."""

    def __init__(self, registry: Registry, *, source: str | None = None) -> None:
        self.registry = registry
        self.source = source or f"{socket.gethostname()} pid {os.getpid()}"

    # -- QUEUEING ----------------------------------------------------------------------------

    def add(self, message: NewMessage, now: datetime) -> Queued:
        """Queue ``message`` under the chat's rate limit (see the module docstring)."""
        with self.registry.session(write=True) as session:
            self._lock_chat(session, message.chat_id)
            if message.unique_key is not None and self._exists(session, message):
                return Queued.DUPLICATE
            held = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.chat_id == message.chat_id,
                    OutboxMessage.rate_key == message.rate_key,
                    OutboxMessage.status == "held",
                )
            ).first()
            if held is not None:
                held.suppressed += 1
                held.text = _summary(held.suppressed, message.limit, message.text)
                held.severity = _worst(held.severity, message.severity)
                return Queued.FOLDED
            recent = session.scalar(
                select(func.count()).where(
                    OutboxMessage.chat_id == message.chat_id,
                    OutboxMessage.rate_key == message.rate_key,
                    OutboxMessage.created_utc > now - message.limit.window,
                )
            )
            over = (recent or 0) >= message.limit.burst
            session.add(self._row(message, now, held=over))
            return Queued.HELD if over else Queued.QUEUED

    def _row(self, message: NewMessage, now: datetime, *, held: bool) -> OutboxMessage:
        return OutboxMessage(
            chat_id=message.chat_id,
            event=message.event,
            severity=message.severity,
            rate_key=message.rate_key,
            unique_key=message.unique_key,
            text=_summary(1, message.limit, message.text) if held else _fit(message.text),
            status="held" if held else "pending",
            suppressed=1 if held else 0,
            created_utc=now,
            not_before_utc=now + message.limit.window if held else None,
            attempts=0,
            correlation_id=message.correlation_id,
            run_id=message.run_id,
            source=self.source[:255],
        )

    @staticmethod
    def _exists(session: Session, message: NewMessage) -> bool:
        found = session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.chat_id == message.chat_id,
                OutboxMessage.unique_key == message.unique_key,
            )
        )
        return found is not None

    @staticmethod
    def _lock_chat(session: Session, chat_id: str) -> OutboxChat:
        """The chat's row, created if missing and locked for this transaction."""
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(OutboxChat)
            .values(chat_id=chat_id)
            .on_conflict_do_nothing(index_elements=[OutboxChat.chat_id])
        )
        chat = session.get(OutboxChat, chat_id, with_for_update=True, populate_existing=True)
        assert chat is not None  # inserted above, and rows of outbox_chats are never deleted
        return chat

    # -- DELIVERY ----------------------------------------------------------------------------

    def chats_with_work(self, now: datetime) -> list[str]:
        """Chats that have a message deliverable at ``now``."""
        stmt = (
            select(OutboxMessage.chat_id)
            .where(OutboxMessage.status.in_(WAITING), _due(now))
            .distinct()
            .order_by(OutboxMessage.chat_id)
        )
        with self.registry.session() as session:
            return list(session.scalars(stmt))

    def claim_next(self, chat_id: str, holder: str, now: datetime, lease: timedelta) -> Claim:
        """Take (or renew) the chat's lease and return its oldest deliverable message."""
        with self.registry.session(write=True) as session:
            chat = self._lock_chat(session, chat_id)
            if chat.retry_at_utc is not None and chat.retry_at_utc > now:
                return Claim(None, paused_until=chat.retry_at_utc)
            leased = chat.lease_until_utc is not None and chat.lease_until_utc > now
            if leased and chat.lease_holder not in (None, holder):
                return Claim(None, busy=True)
            row = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.chat_id == chat_id,
                    OutboxMessage.status.in_(WAITING),
                    _due(now),
                )
                .order_by(OutboxMessage.id)
                .limit(1)
            ).first()
            if row is None:
                chat.lease_holder, chat.lease_until_utc = None, None
                return Claim(None)
            chat.lease_holder, chat.lease_until_utc = holder, now + lease
            row.attempts += 1
            return Claim(OutboxItem.from_row(row))

    def mark_sent(self, item_id: int, now: datetime, telegram_message_id: int | None) -> None:
        """Telegram accepted the message: it is never sent again."""
        with self.registry.session(write=True) as session:
            row = session.get(OutboxMessage, item_id)
            if row is not None:
                row.status, row.sent_utc = "sent", now
                row.telegram_message_id = telegram_message_id
                row.last_error = None

    def mark_failed(self, item_id: int, error: str, *, permanent: bool) -> None:
        """Record a failed attempt; ``permanent`` gives the message up (status ``dead``)."""
        with self.registry.session(write=True) as session:
            row = session.get(OutboxMessage, item_id)
            if row is not None:
                row.last_error = error[:MAX_ERROR]
                if permanent:
                    row.status = "dead"

    def pause(self, chat_id: str, until: datetime) -> None:
        """Telegram's flood control: no process sends to the chat before ``until``."""
        with self.registry.session(write=True) as session:
            self._lock_chat(session, chat_id).retry_at_utc = until

    def release(self, chat_id: str, holder: str) -> None:
        """Give the chat's lease back (no-op when another holder has it by now)."""
        with self.registry.session(write=True) as session:
            chat = self._lock_chat(session, chat_id)
            if chat.lease_holder == holder:
                chat.lease_holder, chat.lease_until_utc = None, None

    # -- INSPECTION --------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per status (every status present, 0 when none)."""
        stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        with self.registry.session() as session:
            found = {str(status): int(n) for status, n in session.execute(stmt).all()}
        return {status: found.get(status, 0) for status in OUTBOX_STATUSES}

    def items(self, statuses: Iterable[str], *, limit: int = 50) -> list[OutboxItem]:
        """Rows of ``statuses``, oldest first."""
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status.in_(tuple(statuses)))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        with self.registry.session() as session:
            return [OutboxItem.from_row(row) for row in session.scalars(stmt)]

    def purge(self, statuses: Iterable[str], *, before: datetime) -> int:
        """Delete rows of ``statuses`` created before ``before``; return how many."""
        stmt = delete(OutboxMessage).where(
            OutboxMessage.status.in_(tuple(statuses)), OutboxMessage.created_utc < before
        )
        with self.registry.session(write=True) as session:
            return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(OutboxMessage.not_before_utc.is_(None), OutboxMessage.not_before_utc <= now)


_SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2, "critical": 3}


def _worst(a: str, b: str) -> str:
    return a if _SEVERITY_ORDER.get(a, 0) >= _SEVERITY_ORDER.get(b, 0) else b
