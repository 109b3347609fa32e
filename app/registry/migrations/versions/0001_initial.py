"""Initial registry schema: runs, metrics, incidents, param_sets.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Everything is spelled out here rather than imported from app.registry.models, so that
# this revision never changes after release. A later revision that adds a kind must alter
# the check constraint; tests/unit/registry/test_migrations.py catches any drift.
_KINDS = ("backtest", "hyperopt", "dry_run", "live", "download", "other")
_STATUSES = ("running", "succeeded", "failed", "blocked")
_SEVERITIES = ("info", "warning", "error", "critical")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def _utc() -> sa.DateTime:
    # Storage of app.registry.models.UTCDateTime (naive UTC text on SQLite, timestamptz on PG).
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four tables and their indexes."""
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=True),
        sa.Column("timeframe", sa.String(16), nullable=True),
        sa.Column("timerange", sa.String(64), nullable=True),
        sa.Column("pairs", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_utc", _utc(), nullable=False),
        sa.Column("finished_utc", _utc(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("config_hash", sa.String(128), nullable=True),
        sa.Column("strategy_hash", sa.String(128), nullable=True),
        sa.Column("data_fingerprint", sa.String(128), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("freqtrade_version", sa.String(32), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("result_path", sa.Text(), nullable=True),
        sa.Column("command", sa.JSON(), nullable=True),
        sa.Column("config_path", sa.Text(), nullable=True),
        sa.Column("equity_hash", sa.String(128), nullable=True),
        sa.CheckConstraint(_in_list("kind", _KINDS), name="ck_runs_kind"),
        sa.CheckConstraint(_in_list("status", _STATUSES), name="ck_runs_status"),
    )
    op.create_index(
        "ix_runs_latest", "runs", ["strategy", "kind", "status", "started_utc", "run_id"]
    )
    op.create_index("ix_runs_started", "runs", ["started_utc", "run_id"])
    op.create_index("ix_runs_result_path", "runs", ["result_path"])
    op.create_index("ix_runs_correlation_id", "runs", ["correlation_id"])

    op.create_table(
        "metrics",
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.Double(), nullable=False),
    )

    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(255), primary_key=True),
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("runs.run_id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("log_excerpt_path", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_utc", _utc(), nullable=False),
        sa.CheckConstraint(_in_list("severity", _SEVERITIES), name="ck_incidents_severity"),
    )
    op.create_index("ix_incidents_created", "incidents", ["created_utc", "incident_id"])
    op.create_index("ix_incidents_run_id", "incidents", ["run_id"])

    op.create_table(
        "param_sets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("source_run_id", sa.String(64), sa.ForeignKey("runs.run_id"), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("promoted_utc", _utc(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("previous_id", sa.Integer(), sa.ForeignKey("param_sets.id"), nullable=True),
        sa.Column("retired_utc", _utc(), nullable=True),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("replaced_file", sa.Text(), nullable=True),
    )
    op.create_index(
        "uq_param_sets_active",
        "param_sets",
        ["strategy"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_index("ix_param_sets_strategy", "param_sets", ["strategy", "id"])


def downgrade() -> None:
    """Drop everything (the registry's history is lost: back it up first)."""
    op.drop_table("param_sets")
    op.drop_table("incidents")
    op.drop_table("metrics")
    op.drop_table("runs")
