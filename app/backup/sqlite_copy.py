"""Consistent copies of live SQLite databases, and their integrity check.

``sqlite3.Connection.backup`` with ``pages=-1`` copies the whole database in one step
inside one read transaction: the copy is a consistent snapshot even while other
processes write (in WAL mode writers are not even blocked; in rollback-journal mode they
wait at most for the copy). The copy keeps the source's journal mode, so a restored
registry is in WAL mode again.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from app.errors import BackupError

BUSY_TIMEOUT_S = 60.0


def _open_existing(path: Path) -> sqlite3.Connection:
    # mode=rw: never create a database that is not there.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)


def copy_database(source: Path, target: Path) -> None:
    """Copy the live database ``source`` to the new file ``target`` (online backup API)."""
    if target.exists():
        raise BackupError(f"refusing to overwrite {str(target)!r} with a database copy")
    try:
        src = _open_existing(source)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open database {str(source)!r} to back it up: {exc}") from None
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise BackupError(f"backing up {str(source)!r} failed: {exc}") from None
    finally:
        src.close()
    for suffix in ("-wal", "-shm"):  # closing the last connection removes them; be sure
        Path(f"{target}{suffix}").unlink(missing_ok=True)


def integrity_check_readonly(path: str) -> str:
    """``PRAGMA integrity_check`` of a file opened read-only and immutable.

    Nothing is written, not even a ``-shm`` file or a lock, so this checks a database
    inside a backup folder (``path`` may be ``/proc/self/fd/N`` of an open descriptor).
    """
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        return f"cannot open: {exc}"
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    messages = [str(row[0]) for row in rows]
    return "ok" if messages == ["ok"] else "; ".join(messages[:5])


def integrity_check(path: Path, *, quick: bool = False) -> str:
    """``PRAGMA integrity_check`` of a database file: ``"ok"`` or the first problems.

    ``quick`` runs ``quick_check`` instead: every page and record, but not whether the
    indexes match their tables; about three times faster. Backups use it as an early
    warning; restores always run the full check.
    """
    try:
        conn = _open_existing(path)
    except sqlite3.Error as exc:
        return f"cannot open: {exc}"
    try:
        pragma = "quick_check" if quick else "integrity_check"
        rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()  # as the last connection, SQLite checkpoints and removes -wal/-shm
    messages = [str(row[0]) for row in rows]
    return "ok" if messages == ["ok"] else "; ".join(messages[:5])
