"""Schema management: migrations match the models and are applied on first use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from app.errors import RegistryError
from app.registry import Registry
from app.registry.engine import create_registry_engine, parse_url
from app.registry.migrate import HEAD_REVISION, alembic_config, head_revision
from app.registry.models import Base

TABLES = {
    "runs",
    "metrics",
    "incidents",
    "param_sets",
    "outbox_messages",
    "outbox_chats",
    "alembic_version",
}


def test_migrations_when_applied_then_schema_equals_models(registry: Registry) -> None:
    """Alembic's autogenerate finds no difference between the migrations and the models."""
    with registry.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert set(inspect(registry.engine).get_table_names()) == TABLES


def test_registry_when_first_used_then_migrated_to_head(registry: Registry) -> None:
    """A fresh database is brought to the head revision by the first call."""
    registry.list_runs()
    with registry.engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    assert revision == head_revision() == HEAD_REVISION == "0003_outbox"


def test_upgrade_when_called_twice_then_idempotent(registry: Registry) -> None:
    """upgrade() returns the head revision and can run again without effect."""
    run_id = registry.start_run(kind="other", correlation_id="c")
    assert registry.upgrade() == "0003_outbox"
    assert registry.upgrade() == "0003_outbox"
    assert registry.get_run(run_id) is not None


def test_migrations_when_downgraded_and_upgraded_then_schema_back(registry: Registry) -> None:
    """Downgrading to base drops every table and the upgrade recreates them."""
    config = alembic_config()
    with registry.engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(registry.engine).get_table_names()) <= {"alembic_version"}
    registry.upgrade()
    assert set(inspect(registry.engine).get_table_names()) == TABLES


def test_registry_when_database_is_newer_than_code_then_refused(db_url: str) -> None:
    """A revision this code does not know is refused instead of being written to."""
    with Registry(db_url) as registry:
        registry.upgrade()
        with registry.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with Registry(db_url) as again, pytest.raises(RegistryError, match="'9999_future', newer"):
        again.list_runs()


def test_sqlite_when_opened_then_wal_and_foreign_keys_on(tmp_path: Path) -> None:
    """SQLite registries use WAL and enforce foreign keys on every connection."""
    db = tmp_path / "r.sqlite"
    with Registry(f"sqlite:///{db}") as registry:
        registry.list_runs()
        with registry.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_when_metric_for_missing_run_then_foreign_key_refuses(tmp_path: Path) -> None:
    """The database itself refuses an orphan metric (foreign_keys is really on)."""
    with Registry(f"sqlite:///{tmp_path / 'r.sqlite'}") as registry:
        engine = registry.engine
        with (
            pytest.raises(Exception, match="FOREIGN KEY constraint failed"),
            engine.begin() as conn,
        ):
            conn.execute(text("INSERT INTO metrics (run_id, key, value) VALUES ('x', 'k', 1)"))


def test_registry_when_url_not_sqlalchemy_then_registry_error() -> None:
    """A malformed RISK_DB_URL is named in the error with an example of a good one."""
    with pytest.raises(RegistryError, match="'not a url' is not an SQLAlchemy URL"):
        Registry("not a url")


def test_engine_when_sqlite_folder_missing_then_created(tmp_path: Path) -> None:
    """The SQLite file's folder is created on demand."""
    engine = create_registry_engine(parse_url(f"sqlite:///{tmp_path / 'a' / 'b' / 'r.sqlite'}"))
    engine.dispose()
    assert (tmp_path / "a" / "b").is_dir()


def test_sqlite_when_file_in_rollback_journal_mode_then_switched_to_wal(tmp_path: Path) -> None:
    """A registry file that lost WAL (e.g. copied by hand) is switched back on open."""
    db = tmp_path / "r.sqlite"
    with Registry(f"sqlite:///{db}") as registry:
        registry.upgrade()
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA journal_mode = DELETE")
    with Registry(f"sqlite:///{db}") as registry:
        registry.list_runs()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_registry_when_file_is_not_a_database_then_registry_error(tmp_path: Path) -> None:
    """A file that is not SQLite is named with the reason, not a traceback."""
    db = tmp_path / "r.sqlite"
    db.write_text("this is not a database " * 200)
    with Registry(f"sqlite:///{db}") as registry, pytest.raises(RegistryError) as caught:
        registry.list_runs()
    assert "is not an SQLite database: it is a text file" in str(caught.value)
    assert str(db) in str(caught.value)


def _migrate(registry: Registry, verb: str, revision: str) -> None:
    config = alembic_config()
    with registry.engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        getattr(command, verb)(config, revision)


def test_0002_when_0001_registry_upgraded_then_runs_kept_and_new_states_allowed(
    registry: Registry,
) -> None:
    """Runs recorded under 0001 survive 0002; interrupted and drill are then accepted."""
    old = registry.start_run(kind="backtest", correlation_id="c", strategy="S")
    registry.finish_run(old, status="failed", exit_code=1)
    _migrate(registry, "downgrade", "0001_initial")
    _migrate(registry, "upgrade", "head")

    kept = registry.require_run(old)
    drill = registry.start_run(kind="drill", correlation_id="d")
    registry.finish_run(drill, status="interrupted", exit_code=None, reason="runner gone")

    assert (kept.status, kept.strategy, kept.exit_code) == ("failed", "S", 1)
    ended = registry.require_run(drill)
    assert (ended.kind, ended.status, ended.end_reason) == ("drill", "interrupted", "runner gone")
    assert ended.pid is not None and ended.heartbeat_utc is not None


def test_0002_when_downgraded_then_new_states_mapped_to_old_ones(registry: Registry) -> None:
    """Downgrading to 0001 turns interrupted runs into failed ones and drills into other."""
    drill = registry.start_run(kind="drill", correlation_id="d")
    registry.finish_run(drill, status="interrupted", exit_code=None)
    _migrate(registry, "downgrade", "0001_initial")

    with registry.engine.connect() as conn:
        row = conn.execute(text("SELECT kind, status FROM runs")).one()
    assert (row.kind, row.status) == ("other", "failed")
    with pytest.raises(Exception, match=r"(?i)check"), registry.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET status = 'interrupted'"))


def test_0003_when_downgraded_to_0002_then_outbox_gone_and_runs_kept(registry: Registry) -> None:
    """0003 adds only the outbox tables: going back to 0002 drops them and nothing else."""
    run_id = registry.start_run(kind="backtest", correlation_id="c")
    _migrate(registry, "downgrade", "0002_run_lifecycle")

    tables = set(inspect(registry.engine).get_table_names())
    assert {"outbox_messages", "outbox_chats"}.isdisjoint(tables)
    assert registry.get_run(run_id) is not None
    _migrate(registry, "upgrade", "head")
    assert set(inspect(registry.engine).get_table_names()) == TABLES
