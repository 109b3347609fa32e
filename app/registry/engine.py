"""Engines for the registry: SQLite tuned for many writer processes, or any SQLAlchemy URL.

SQLite notes (why each setting is here):

* WAL lets readers run while one process writes; it is set once, at initialisation.
* ``busy_timeout`` makes a writer wait for the lock instead of failing at once.
* A *deferred* transaction that reads and then writes must upgrade its lock; when another
  writer got there first SQLite returns SQLITE_BUSY immediately, without calling the busy
  handler (waiting could deadlock). Write transactions therefore start with
  ``BEGIN IMMEDIATE``, which takes the write lock up front and waits politely for it.
  pysqlite's own implicit transaction handling is switched off so that the ``BEGIN`` we
  emit is the only one.
* ``foreign_keys`` is per connection in SQLite and off by default.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from app.errors import RegistryError
from app.safe_files import UnsafeFileError, read_head
from app.text import printable, shown

SQLITE_MAGIC = b"SQLite format 3\x00"
_SIGNATURES = ((b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "a gzip file"))
_PATH_FIX = "point RISK_DB_PATH at the registry file or at a path where a new one may be made"
# Execution option that marks a connection as a writer (BEGIN IMMEDIATE on SQLite).
WRITE_OPTION = "tradingbot_write"
BUSY_TIMEOUT_MS = 60_000


def parse_url(url: str) -> URL:
    """Parse an SQLAlchemy URL or raise :class:`RegistryError` naming it."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise RegistryError(
            f"registry URL {url!r} is not an SQLAlchemy URL ({exc}); set RISK_DB_URL to e.g. "
            "postgresql+psycopg://user:pass@host/db or use RISK_DB_PATH for SQLite"
        ) from None


def safe_url(url: URL) -> str:
    """The URL as text with the password hidden, for messages and logs."""
    return url.render_as_string(hide_password=True)


def sqlite_file(url: URL) -> Path | None:
    """The database file of an SQLite URL; ``None`` for other backends and in-memory ones."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def check_sqlite_file(path: Path) -> None:
    """Refuse, before SQLite opens it, a file at the registry path that is not SQLite.

    Called on every registry open (one ``stat``, ``open`` and 16-byte read). Nothing at
    the path and an empty file are fine (a new registry is made there). A folder, FIFO,
    device or a file that does not start with SQLite's header raises
    :class:`RegistryError` saying what the file is; SQLite is never pointed at it, so it
    is neither changed nor waited on (a FIFO would block the open).
    """
    where = printable(str(path))
    try:
        head = read_head(path, len(SQLITE_MAGIC))
    except UnsafeFileError as exc:
        raise RegistryError(f"the registry path {where} {exc.problem}; {_PATH_FIX}") from None
    if not head or head == SQLITE_MAGIC:
        return
    kind = next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)
    if kind is None:
        kind = "a text file" if _is_text(head) else "some other kind of file"
    raise RegistryError(
        f"the registry file {where} is not an SQLite database: it is {kind} (it starts with "
        f"{shown(head)}); nothing was written to it; {_PATH_FIX}"
    )


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.isprintable() or all(c.isprintable() or c in "\t\r\n" for c in text)


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" event emits the BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_registry_engine(url: URL) -> Engine:
    """An engine for ``url``; SQLite gets WAL-friendly settings and its folder created."""
    kwargs: dict[str, Any] = {"future": True}
    path = sqlite_file(url)
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryError(
                    f"cannot create the registry folder {str(path.parent)!r} ({exc}); "
                    "fix the permissions or point RISK_DB_PATH elsewhere"
                ) from None
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def set_wal(engine: Engine) -> None:
    """Switch a file-backed SQLite database to WAL (persistent; a no-op when already set)."""
    if engine.dialect.name != "sqlite" or sqlite_file(engine.url) is None:
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()
    except sqlite3.Error as exc:
        raise RegistryError(
            f"cannot switch the registry {safe_url(engine.url)} to WAL: {exc}; stop the other "
            "processes using it and retry"
        ) from None
    finally:
        raw.close()
