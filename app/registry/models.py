"""SQLAlchemy 2 typed models of the run registry.

The schema itself is owned by the Alembic migrations in ``app/registry/migrations``;
these classes must describe exactly the same tables (a test compares them).

Times are stored as UTC. SQLite has no time zone type, so :class:`UTCDateTime`
stores naive UTC and hands back aware ``datetime`` objects on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

RUN_KINDS: tuple[str, ...] = (
    "backtest",
    "hyperopt",
    "dry_run",
    "live",
    "download",
    "other",
    "drill",
)
RUN_STATUSES: tuple[str, ...] = ("running", "succeeded", "failed", "blocked", "interrupted")
SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime`` on SQLite (naive UTC text) and PostgreSQL (timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes: a time without a zone is ambiguous in a shared registry."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC whatever the backend handed back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the registry tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Run(Base):
    """One Freqtrade command (or bundle operation) and its recorded inputs and outcome."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_in_list("kind", RUN_KINDS), name="ck_runs_kind"),
        CheckConstraint(_in_list("status", RUN_STATUSES), name="ck_runs_status"),
        # Serves latest_metric(): walk one strategy's succeeded runs of a kind, newest first.
        Index("ix_runs_latest", "strategy", "kind", "status", "started_utc", "run_id"),
        Index("ix_runs_started", "started_utc", "run_id"),
        Index("ix_runs_result_path", "result_path"),
        Index("ix_runs_correlation_id", "correlation_id"),
        # Finds this host's running runs, to end those whose runner is gone.
        Index("ix_runs_status_host", "status", "host"),
    )

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    strategy: Mapped[str | None] = mapped_column(String(128))
    timeframe: Mapped[str | None] = mapped_column(String(16))
    timerange: Mapped[str | None] = mapped_column(String(64))
    pairs: Mapped[list[str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    started_utc: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_utc: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exit_code: Mapped[int | None] = mapped_column(Integer)
    config_hash: Mapped[str | None] = mapped_column(String(128))
    strategy_hash: Mapped[str | None] = mapped_column(String(128))
    data_fingerprint: Mapped[str | None] = mapped_column(String(128))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    freqtrade_version: Mapped[str | None] = mapped_column(String(32))
    host: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str] = mapped_column(String(128))
    result_path: Mapped[str | None] = mapped_column(Text)
    command: Mapped[list[str] | None] = mapped_column(JSON)
    config_path: Mapped[str | None] = mapped_column(Text)
    equity_hash: Mapped[str | None] = mapped_column(String(128))
    # The runner's process on ``host`` and its last sign of life (0002_run_lifecycle).
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_utc: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why a run failed, was blocked or was interrupted (one line, no secrets).
    end_reason: Mapped[str | None] = mapped_column(Text)


class Metric(Base):
    """One named figure of a run; (run_id, key) is the primary key."""

    __tablename__ = "metrics"

    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[float] = mapped_column(Double)


class Incident(Base):
    """Something an operator should know about: a refusal, a failed run, a breaker change."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(_in_list("severity", SEVERITIES), name="ck_incidents_severity"),
        Index("ix_incidents_created", "created_utc", "incident_id"),
        Index("ix_incidents_run_id", "run_id"),
    )

    incident_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("runs.run_id", ondelete="SET NULL")
    )
    severity: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    log_excerpt_path: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str] = mapped_column(String(128))
    created_utc: Mapped[datetime] = mapped_column(UTCDateTime())


class ParamSet(Base):
    """A parameter set promoted from a hyperopt run into a strategy's parameter file."""

    __tablename__ = "param_sets"
    __table_args__ = (
        # At most one active set per strategy, enforced by the database itself.
        Index(
            "uq_param_sets_active",
            "strategy",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        Index("ix_param_sets_strategy", "strategy", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy: Mapped[str] = mapped_column(String(128))
    source_run_id: Mapped[str] = mapped_column(String(64), ForeignKey("runs.run_id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    promoted_utc: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean)
    previous_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("param_sets.id"))
    retired_utc: Mapped[datetime | None] = mapped_column(UTCDateTime())
    file_path: Mapped[str] = mapped_column(Text)
    # The parameter file's text before the first promotion (e.g. Freqtrade's own hyperopt
    # export), so that rolling back past the first set restores it instead of deleting it.
    replaced_file: Mapped[str | None] = mapped_column(Text)


# -- OUTBOX (0003_outbox; code in app/registry/outbox.py) -----------------------------------

OUTBOX_STATUSES: tuple[str, ...] = ("pending", "held", "sent", "dead")


class OutboxMessage(Base):
    """One Telegram message waiting to be sent (or sent, or given up).

    ``pending``: send as soon as possible, in ``id`` order per chat. ``held``: a summary of
    rate-limited events, sent at ``not_before_utc``. ``sent``: delivered (Telegram's
    ``telegram_message_id``). ``dead``: Telegram refused it for good (``last_error``).
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(_in_list("status", OUTBOX_STATUSES), name="ck_outbox_messages_status"),
        CheckConstraint(_in_list("severity", SEVERITIES), name="ck_outbox_messages_severity"),
        # The next deliverable row of a chat: WHERE chat_id = ? AND status IN (...) ORDER BY id.
        Index("ix_outbox_messages_chat_status", "chat_id", "status", "id"),
        # The rate limit: this chat's rows of one key in the last window.
        Index("ix_outbox_messages_rate", "chat_id", "rate_key", "created_utc"),
        # Events announced once whoever sees them (e.g. one breaker expiry seen by many bots).
        Index("uq_outbox_messages_unique_key", "chat_id", "unique_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    rate_key: Mapped[str] = mapped_column(String(255))
    unique_key: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    suppressed: Mapped[int] = mapped_column(Integer)
    created_utc: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before_utc: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_utc: Mapped[datetime | None] = mapped_column(UTCDateTime())
    telegram_message_id: Mapped[int | None] = mapped_column(Integer)
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255))


class OutboxChat(Base):
    """Per chat: who is delivering right now (a lease) and Telegram's flood-control pause."""

    __tablename__ = "outbox_chats"

    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lease_holder: Mapped[str | None] = mapped_column(String(255))
    lease_until_utc: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retry_at_utc: Mapped[datetime | None] = mapped_column(UTCDateTime())
