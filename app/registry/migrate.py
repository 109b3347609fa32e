"""Apply the registry's Alembic migrations, safely from several processes at once.

Opening a registry calls :func:`ensure_schema`: one cheap read of ``alembic_version``
and, only when the database is behind, :func:`upgrade_database`. Upgrades are
serialised between processes (a file lock next to an SQLite database, an advisory
lock on PostgreSQL) and run inside one write transaction, so a second process that
waited simply finds the schema current and does nothing.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout
from sqlalchemy import Engine, exc, text

from app.errors import RegistryError
from app.registry.engine import BUSY_TIMEOUT_MS, WRITE_OPTION, safe_url, set_wal, sqlite_file

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# The newest migration. Opening a current database compares against this constant with
# one SELECT, so the fast path never imports Alembic (about 0.2 s); a test checks that it
# equals Alembic's own head.
HEAD_REVISION = "0004_outbox"
# Any constant works; it only has to be the same in every process of this program.
PG_ADVISORY_KEY = 0x7472_6164_6562_6F74  # "tradebot"
_LOCK_TIMEOUT_S = BUSY_TIMEOUT_MS / 1000


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped in the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this version of the code knows."""
    heads = _script().get_heads()
    if len(heads) != 1:
        raise RegistryError(f"the registry migrations have {len(heads)} heads {heads}; merge them")
    return heads[0]


def known_revisions() -> frozenset[str]:
    """Every revision shipped with this version of the code."""
    return frozenset(rev.revision for rev in _script().walk_revisions())


def current_revision(engine: Engine) -> str | None:
    """The database's revision, ``None`` for a fresh database."""
    with engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except exc.DBAPIError:  # no alembic_version table: a fresh database
            return None
    return None if row is None else str(row[0])


@contextlib.contextmanager
def _process_lock(engine: Engine) -> Iterator[None]:
    path = sqlite_file(engine.url)
    if path is None:
        yield
        return
    lock = FileLock(f"{path}.migrate.lock", timeout=_LOCK_TIMEOUT_S)
    try:
        with lock:
            yield
    except Timeout:
        raise RegistryError(
            f"another process has held {lock.lock_file!r} for {_LOCK_TIMEOUT_S:.0f} s while "
            "migrating the registry; check for a stuck `tradingbot` process and retry"
        ) from None


def upgrade_database(engine: Engine) -> str:
    """Bring the database to the head revision (idempotent); return the head revision."""
    head = head_revision()
    config = alembic_config()
    with _process_lock(engine):
        set_wal(engine)
        writer = engine.execution_options(**{WRITE_OPTION: True})
        with writer.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_ADVISORY_KEY})
            from alembic import command

            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return head


def _wal_missing(engine: Engine) -> bool:
    # A restored or hand-made SQLite file may be in rollback-journal mode; fix it on open.
    if sqlite_file(engine.url) is None:
        return False
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() != "wal"


def ensure_schema(engine: Engine) -> str:
    """Upgrade when the database is behind; refuse one written by a newer version."""
    current = current_revision(engine)
    if current == HEAD_REVISION and not _wal_missing(engine):
        return HEAD_REVISION
    head = head_revision()
    if current is not None and current not in known_revisions():
        raise RegistryError(
            f"the registry at {safe_url(engine.url)} is at revision {current!r}, newer than this "
            f"tradingbot knows (head {head!r}); upgrade tradingbot instead of using an old copy"
        )
    return upgrade_database(engine)
