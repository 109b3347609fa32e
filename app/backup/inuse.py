"""Is a database held by a running process? Two signals, neither of which touches the file.

1. **Open file descriptors** (psutil, i.e. ``/proc/<pid>/fd``). A running Freqtrade keeps
   its trade database open for its whole life (SQLAlchemy pools the connection), so this
   is the signal that really tells. It sees only processes of this PID namespace that we
   may inspect (all of them as root); the count of processes we could not inspect is
   reported.
2. **SQLite's own POSIX locks**, queried with ``F_GETLK`` (asks "would this lock
   conflict?", takes nothing). Every connection to a WAL database holds a shared lock on
   the "dead man switch" byte of its ``-shm`` file for as long as it is open, and this
   lock is visible across containers sharing the volume, where PIDs are not. For a
   rollback-journal database an idle connection holds no lock, so the probe of the lock
   bytes in the main file only catches a transaction in progress.

A lock probe that *takes* a lock (``BEGIN IMMEDIATE``) was rejected: it is itself a
writer, may checkpoint the WAL on close, and says nothing about an idle bot.
"""

from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import psutil

# SQLite's unix VFS lock layout (os_unix.c / pager.h).
PENDING_BYTE = 0x40000000
LOCK_SPAN = 2 + 510  # PENDING, RESERVED and the SHARED range
SHM_DMS_BYTE = (22 + 8) * 4 + 8  # UNIX_SHM_BASE + SQLITE_SHM_NLOCK = 128
# struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
_FLOCK = "hhqqi4x"


@dataclass(frozen=True, slots=True)
class Holder:
    """A process (or, for a lock seen across namespaces, an unknown one) using a database."""

    pid: int | None
    name: str
    how: str

    def describe(self) -> str:
        """``pid 4242 (freqtrade) has it open``."""
        who = f"pid {self.pid} ({self.name})" if self.pid else self.name
        return f"{who} {self.how}"


def _lock_owner(path: Path, start: int, length: int) -> int | None:
    """PID (0 when in another namespace) holding a POSIX lock on the range, else None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
    except OSError:
        return None
    finally:
        os.close(fd)
    lock_type, _whence, _start, _len, pid = struct.unpack(_FLOCK, answer)
    return None if lock_type == fcntl.F_UNLCK else int(pid)


def lock_holders(database: Path) -> list[Holder]:
    """Holders visible through SQLite's locks on the database and its ``-shm`` file."""
    found = []
    shm = Path(f"{database}-shm")
    if shm.exists():
        pid = _lock_owner(shm, SHM_DMS_BYTE, 1)
        if pid is not None:
            found.append(Holder(pid or None, "a process", "has the WAL database open (-shm lock)"))
    if database.exists():
        pid = _lock_owner(database, PENDING_BYTE, LOCK_SPAN)
        if pid is not None:
            how = "holds an SQLite lock on the database file"
            found.append(Holder(pid or None, "a process", how))
    return found


def fd_holders(files: list[Path]) -> tuple[list[Holder], int]:
    """Processes with any of ``files`` open, and how many processes could not be inspected."""
    wanted = {os.path.realpath(f) for f in files if f.exists()}
    if not wanted:
        return [], 0
    holders: list[Holder] = []
    hidden = 0
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "name"]):
        if proc.pid == me:
            continue
        try:
            paths = {os.path.realpath(f.path) for f in proc.open_files()}
        except psutil.AccessDenied:
            hidden += 1
            continue
        except psutil.NoSuchProcess:  # gone, or a zombie (which holds no files)
            continue
        if paths & wanted:
            holders.append(Holder(proc.pid, str(proc.info["name"]), "has it open"))
    return holders, hidden


def database_holders(database: Path) -> tuple[list[Holder], int]:
    """Everything that tells the database is in use; plus the uninspectable process count."""
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    holders, hidden = fd_holders(files)
    seen = {h.pid for h in holders}
    holders += [h for h in lock_holders(database) if h.pid is None or h.pid not in seen]
    return holders, hidden
