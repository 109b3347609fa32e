"""Run lifecycle: the ``interrupted`` status, the ``drill`` kind, who runs it and why it ended.

* ``status`` gains ``interrupted``: a run whose runner is gone (killed, host rebooted) is
  shown as ended instead of ``running`` forever.
* ``kind`` gains ``drill``: a paper-trading game day (``tradingbot drill``).
* ``pid`` (the runner's process id on ``host``) and ``heartbeat_utc`` (refreshed while the
  run lives) let any process tell a live run from a dead one; ``end_reason`` says why a run
  failed, was blocked or was interrupted.

Revision ID: 0002_run_lifecycle
Revises: 0001_initial
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_run_lifecycle"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out (never imported from the models) so that this revision never changes.
_OLD_KINDS = ("backtest", "hyperopt", "dry_run", "live", "download", "other")
_OLD_STATUSES = ("running", "succeeded", "failed", "blocked")
_KINDS = (*_OLD_KINDS, "drill")
_STATUSES = (*_OLD_STATUSES, "interrupted")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def _swap_checks(kinds: tuple[str, ...], statuses: tuple[str, ...]) -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table with the new ones.
    with op.batch_alter_table("runs", recreate="auto") as batch:
        batch.drop_constraint("ck_runs_kind", type_="check")
        batch.drop_constraint("ck_runs_status", type_="check")
        batch.create_check_constraint("ck_runs_kind", _in_list("kind", kinds))
        batch.create_check_constraint("ck_runs_status", _in_list("status", statuses))


def upgrade() -> None:
    """Add the columns, widen the kind and status checks, index running runs by host."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("heartbeat_utc", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("end_reason", sa.Text(), nullable=True))
    _swap_checks(_KINDS, _STATUSES)
    op.create_index("ix_runs_status_host", "runs", ["status", "host"])


def downgrade() -> None:
    """Back to 0001: interrupted runs become failed, drills become other."""
    op.drop_index("ix_runs_status_host", table_name="runs")
    op.execute("UPDATE runs SET status = 'failed' WHERE status = 'interrupted'")
    op.execute("UPDATE runs SET kind = 'other' WHERE kind = 'drill'")
    _swap_checks(_OLD_KINDS, _OLD_STATUSES)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("end_reason")
        batch.drop_column("heartbeat_utc")
        batch.drop_column("pid")
