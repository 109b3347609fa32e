"""The Telegram outbox: messages waiting to be delivered, and a delivery lease per chat.

* ``outbox_messages``: one row per message (pending, held summary, sent, dead), delivered
  in ``id`` order per chat; ``rate_key`` and ``unique_key`` serve the rate limit and
  once-only events.
* ``outbox_chats``: the process delivering to a chat right now (``lease_holder`` until
  ``lease_until_utc``) and Telegram's flood-control pause (``retry_at_utc``).

Revision ID: 0003_outbox
Revises: 0002_run_lifecycle
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_outbox"
down_revision: str | Sequence[str] | None = "0002_run_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out (never imported from the models) so that this revision never changes.
_STATUSES = ("pending", "held", "sent", "dead")
_SEVERITIES = ("info", "warning", "error", "critical")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def upgrade() -> None:
    """Create both tables and their indexes."""
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("rate_key", sa.String(255), nullable=False),
        sa.Column("unique_key", sa.String(255), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("created_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("telegram_message_id", sa.Integer(), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(255), nullable=False),
        sa.CheckConstraint(_in_list("status", _STATUSES), name="ck_outbox_messages_status"),
        sa.CheckConstraint(_in_list("severity", _SEVERITIES), name="ck_outbox_messages_severity"),
    )
    op.create_index(
        "ix_outbox_messages_chat_status", "outbox_messages", ["chat_id", "status", "id"]
    )
    op.create_index(
        "ix_outbox_messages_rate", "outbox_messages", ["chat_id", "rate_key", "created_utc"]
    )
    op.create_index(
        "uq_outbox_messages_unique_key", "outbox_messages", ["chat_id", "unique_key"], unique=True
    )
    op.create_table(
        "outbox_chats",
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("lease_holder", sa.String(255), nullable=True),
        sa.Column("lease_until_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_at_utc", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    """Drop both tables (undelivered messages are lost: deliver them first)."""
    op.drop_table("outbox_chats")
    op.drop_index("uq_outbox_messages_unique_key", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_rate", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_chat_status", table_name="outbox_messages")
    op.drop_table("outbox_messages")
