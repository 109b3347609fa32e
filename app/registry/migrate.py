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
from sqlalchemy import Engine, exc, inspect, text

from app.errors import RegistryError
from app.registry.engine import (
    BUSY_TIMEOUT_MS,
    WRITE_OPTION,
    check_sqlite_file,
    safe_url,
    set_wal,
    sqlite_file,
)
from app.text import printable, shown

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# The newest migration. Opening a current database compares against this constant with
# one SELECT, so the fast path never imports Alembic (about 0.2 s); a test checks that it
# equals Alembic's own head.
HEAD_REVISION = "0003_outbox"
# Any constant works; it only has to be the same in every process of this program.
PG_ADVISORY_KEY = 0x7472_6164_6562_6F74  # "tradebot"
# Tables every revision of the registry has: tell "our newer schema" from "not ours".
REGISTRY_TABLES = frozenset({"runs", "metrics", "incidents"})
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
    """Bring the database to the head revision (idempotent); return the head revision.

    Refuses (:class:`RegistryError`, nothing written) a database that is not a registry
    or is newer than this code: see :func:`ensure_schema`.
    """
    head = head_revision()
    config = alembic_config()
    with _process_lock(engine):
        _check_registry(engine)  # before anything is written, WAL included
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
    """Upgrade when the database is behind; refuse one that is not (or not yet) ours.

    Fast path, every open: the SQLite header check and one ``SELECT`` of the revision.
    Refused with :class:`RegistryError` before anything is written (no table, no WAL
    switch): a file that is not SQLite, a database that has tables but no
    ``alembic_version`` (another application's), an ``alembic_version`` of another
    application, and a registry of a newer revision than this code knows. An empty
    database (or an empty file) becomes a registry; an older registry is upgraded.
    """
    path = sqlite_file(engine.url)
    if path is not None:
        check_sqlite_file(path)
    current = current_revision(engine)
    if current == HEAD_REVISION and not _wal_missing(engine):
        return HEAD_REVISION
    return upgrade_database(engine)


def _check_registry(engine: Engine) -> None:
    path = sqlite_file(engine.url)
    if path is not None:
        check_sqlite_file(path)
    current = current_revision(engine)
    if current is not None and current in known_revisions():
        return
    with engine.connect() as conn:
        inspector = inspect(conn)
        names = set(inspector.get_table_names()) | set(inspector.get_view_names())
    if current is None and "alembic_version" in names:
        # Another process's migration committed between the two reads (PostgreSQL has no
        # file lock around this check): read the revision it wrote.
        current = current_revision(engine)
        if current is not None and current in known_revisions():
            return
    names.discard("alembic_version")
    where = f"the registry database {safe_url(engine.url)}"
    if path is not None:
        where = f"the registry file {printable(str(path))} (an SQLite database)"
    found = ", ".join(printable(name) for name in sorted(names)[:10])
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    fix = (
        "nothing was written to it; point RISK_DB_PATH / RISK_DB_URL at the registry, or at "
        "an empty database or a new file"
    )
    if current is None:
        if names:
            raise RegistryError(
                f"{where} is not a tradingbot registry: it has the tables {found}{more} and no "
                f"alembic_version (another application's database?); {fix}"
            )
        return
    if not names >= REGISTRY_TABLES:
        raise RegistryError(
            f"{where} is not a tradingbot registry: its alembic_version is {shown(current)}, which "
            f"no tradingbot revision has, and it has the tables {found or '(none)'}{more}; {fix}"
        )
    raise RegistryError(
        f"{where} is at revision {shown(current)}, newer than this tradingbot knows (head "
        f"{head_revision()!r}); upgrade tradingbot instead of using an old copy"
    )
