"""The file-based circuit breaker: one small JSON file that stops entries and runs.

Format (DESIGN.md)::

    {"active": true, "reason": "incident-123", "until_iso": "2025-08-17T10:15:00Z"}

``until_iso`` is optional; once it has passed the breaker counts as inactive ("expired").
The writer adds ``changed_iso`` and ``changed_by`` for the audit trail; readers ignore
keys they do not know. Only a path with nothing at it means inactive (the normal state
before anyone enabled the breaker). Anything else the reader cannot use counts as
**active** (fail closed) and the state names the problem: a symlink (even to a valid
file, or to nothing), a FIFO, folder, socket or device, a file over 64 KiB, bytes that
are not UTF-8, and JSON outside the format (repeated keys, NaN, deep nesting, wrong
types, an ``until_iso`` outside the years 1-9999 in UTC). The reader never blocks and
never raises (see :mod:`app.safe_files`).

Writes take a :mod:`filelock` on ``<file>.lock`` (serialising concurrent writers and
read-modify-write sequences) and replace the file atomically (temp file in the same
folder, fsync, ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from app.errors import CircuitBreakerError, ConfigError
from app.safe_files import StatKey, UnsafeFileError, read_bounded, stat_key
from app.text import cut, printable, shown

LOCK_TIMEOUT_S = 30.0
# A breaker file is ~200 bytes; anything over this is not one (and is not read whole).
MAX_FILE_BYTES = 64 * 1024
# Longer reasons are cut when written, so the file always stays far below MAX_FILE_BYTES.
MAX_REASON_CHARS = 1000
_UNSAFE_FIX = "a breaker file must be a regular file (never a symlink) of at most 64 KiB"


class BreakerStatus(StrEnum):
    """What the file says, after applying ``until_iso`` and fail-closed parsing."""

    INACTIVE = "inactive"
    ACTIVE = "active"
    EXPIRED = "expired"  # active in the file, but until_iso has passed: inactive
    UNREADABLE = "unreadable"  # cannot be read or parsed: counts as active


# The statuses that stop entries and runs (a set: checked on every guard evaluation).
_STOPS = frozenset({BreakerStatus.ACTIVE, BreakerStatus.UNREADABLE})


@dataclass(frozen=True, slots=True)
class BreakerState:
    """The breaker as seen at one moment."""

    status: BreakerStatus
    file: Path
    reason: str | None = None
    until: datetime | None = None
    problem: str | None = None

    @property
    def active(self) -> bool:
        """True when entries and runs must stop (ACTIVE, or UNREADABLE: fail closed)."""
        return self.status in _STOPS

    def describe(self) -> str:
        """One line for logs and refusals; the reason is escaped (it cannot add a line)."""
        if self.status is BreakerStatus.UNREADABLE:
            return (
                f"circuit breaker file {printable(str(self.file))} counts as active: {self.problem}"
            )
        until = f" until {iso_utc(self.until)}" if self.until else ""
        reason = f" ({printable(self.reason)})" if self.reason else ""
        return f"circuit breaker {self.status.value}{until}{reason}"

    def to_json(self) -> dict[str, Any]:
        """The state as a JSON-ready dict (``status --json``)."""
        return {
            "status": self.status.value,
            "active": self.active,
            "reason": self.reason,
            "until_iso": iso_utc(self.until) if self.until else None,
            "problem": self.problem,
            "file": str(self.file),
        }


def iso_utc(moment: datetime) -> str:
    """``2025-08-17T10:15:00Z`` style text for an aware datetime."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso_utc(text: str, *, name: str) -> datetime:
    """Parse an ISO 8601 time that names its timezone; raise :class:`ConfigError` if not.

    A time that exists in its own offset but not in UTC (``9999-12-31T23:59:59-01:00``,
    ``0001-01-01T00:00:00+01:00``) is out of range, also a :class:`ConfigError`.
    """
    example = "use e.g. 2025-08-17T10:15:00Z"
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{name}={shown(text)} is not an ISO 8601 time in the years 1-9999; {example}"
        ) from None
    if moment.tzinfo is None:
        raise ConfigError(f"{name}={shown(text)} has no timezone; add Z for UTC, {example}")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ConfigError(
            f"{name}={shown(text)} is outside the years 1-9999 in UTC; {example}"
        ) from None


# -- READING ----------------------------------------------------------------------------


class _MalformedError(ValueError):
    """The breaker file's content does not follow the format."""


@dataclass(frozen=True, slots=True)
class _Content:
    """What the file says, before the clock is applied: its fields, or why it is unreadable."""

    active: bool = True
    reason: str | None = None
    until: datetime | None = None
    problem: str | None = None

    def at(self, file: Path, now: datetime) -> BreakerState:
        if self.problem is not None:
            return BreakerState(BreakerStatus.UNREADABLE, file, problem=self.problem)
        if not self.active:
            status = BreakerStatus.INACTIVE
        elif self.until is not None and self.until <= now:
            status = BreakerStatus.EXPIRED
        else:
            status = BreakerStatus.ACTIVE
        return BreakerState(status, file, reason=self.reason, until=self.until)


_ABSENT = _Content(active=False, reason="no breaker file")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"active": true, "active": false} means different things to different readers.
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _MalformedError(f"the key {shown(key)} appears twice")
        data[key] = value
    return data


def _no_constant(name: str) -> object:
    raise _MalformedError(f"{name} is not valid JSON")


def _json_object(text: str) -> dict[str, Any]:
    if not text.strip():
        raise _MalformedError("the file is empty")
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _MalformedError:
        raise
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise _MalformedError(problem) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise _MalformedError(f"not usable JSON ({shown(str(exc))})") from None
    except RecursionError:
        raise _MalformedError("not usable JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise _MalformedError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _fields(text: str) -> _Content:
    data = _json_object(text)
    active = data.get("active")
    if not isinstance(active, bool):
        raise _MalformedError(f"'active' must be true or false, got {shown(active)}")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise _MalformedError(f"'reason' must be a string, got {shown(reason)}")
    raw_until = data.get("until_iso")
    if raw_until is None:
        return _Content(active, reason)
    if not isinstance(raw_until, str):
        raise _MalformedError(f"'until_iso' must be an ISO 8601 string, got {shown(raw_until)}")
    try:
        until = parse_iso_utc(raw_until, name="until_iso")
    except ConfigError as exc:
        raise _MalformedError(str(exc)) from None
    return _Content(active, reason, until)


def _content(text: str) -> _Content:
    try:
        return _fields(text)
    except _MalformedError as exc:
        return _Content(problem=str(exc))


def _decoded(data: bytes) -> _Content:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        return _Content(problem=f"not UTF-8 text (byte 0x{byte:02x} at offset {exc.start})")
    return _content(text)


def parse_breaker(text: str, file: Path, now: datetime) -> BreakerState:
    """Interpret the file's text at ``now``; anything malformed is UNREADABLE (active)."""
    return _content(text).at(file, now)


def _load(file: Path) -> tuple[_Content, StatKey | None]:
    """The file's content and the identity of what was read; never raises, never blocks."""
    try:
        read = read_bounded(file, max_bytes=MAX_FILE_BYTES)
    except UnsafeFileError as exc:
        return _Content(problem=f"it {exc.problem}; {_UNSAFE_FIX}"), None
    if read is None:
        return _ABSENT, None
    return _decoded(read.data), read.key


def read_breaker(file: Path, now: datetime) -> BreakerState:
    """Read and interpret the breaker file. Never raises and never blocks.

    Only a path with nothing at it is INACTIVE ("no breaker file"). A symlink (even a
    dangling one), folder, FIFO, device, a file over 64 KiB, text that is not UTF-8 and
    content that does not follow the format are all UNREADABLE, which counts as active.
    """
    return _load(file)[0].at(file, now)


class BreakerCache:
    """Re-reads the file only when its mtime, size or inode changed (one ``lstat`` per call).

    The parsed content is cached, not the text, and expiry is re-evaluated against
    ``now`` on every call, so a cached ACTIVE state turns EXPIRED on time without
    touching the disk. An unreadable file is cached too (until it changes).
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self._key: StatKey | None = None
        self._content: _Content | None = None

    @property
    def key(self) -> StatKey | None:
        """(mtime_ns, size, inode) of the file at the last read; None when absent/unreadable."""
        return self._key if self._content is not None and self._content.problem is None else None

    def state(self, now: datetime) -> BreakerState:
        """The breaker state at ``now``."""
        try:
            key: StatKey | None = stat_key(os.lstat(self.file))
        except FileNotFoundError:
            self._key, self._content = None, None
            return _ABSENT.at(self.file, now)
        except (OSError, ValueError):
            key = None  # read_bounded names the problem
        if key is None or key != self._key or self._content is None:
            content, read_key = _load(self.file)
            # Cache under the key of what was actually read (or the lstat key of what
            # could not be read), so the next unchanged lstat hits the cache.
            self._key, self._content = read_key or key, content
            return content.at(self.file, now)
        return self._content.at(self.file, now)


# -- WRITING ----------------------------------------------------------------------------


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no passwd entry, e.g. an arbitrary container uid
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _atomic_write(file: Path, payload: dict[str, Any]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(payload, indent=2) + "\n").encode("utf-8")
    fd, tmp_name = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)
        tmp.replace(file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be fsynced
        dir_fd = os.open(file.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _locked_write(
    file: Path, payload: dict[str, Any], *, skip_if_indefinite: bool, lock_timeout_s: float
) -> bool:
    lock_path = file.with_name(file.name + ".lock")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock_path, timeout=lock_timeout_s):
            if skip_if_indefinite:
                current = read_breaker(file, datetime.now(UTC))
                if current.status is BreakerStatus.ACTIVE and current.until is None:
                    return False
            _atomic_write(file, payload)
    except Timeout:
        raise CircuitBreakerError(
            f"circuit breaker lock {lock_path} is held by another process for more than "
            f"{lock_timeout_s:g} s; find it (e.g. `lsof {lock_path}`) and retry"
        ) from None
    except OSError as exc:
        raise CircuitBreakerError(
            f"cannot write circuit breaker file {file} ({exc}); check that its folder exists "
            "and is writable (RISK_STATE_DIR / RISK_CIRCUIT_BREAKER_FILE / --state-dir)"
        ) from None
    return True


def enable_breaker(
    file: Path,
    *,
    reason: str,
    now: datetime,
    until: datetime | None = None,
    keep_indefinite: bool = False,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> bool:
    """Activate the breaker, optionally until ``until``; return False when nothing changed.

    ``keep_indefinite`` (used by automatic trips) leaves a breaker that is already active
    with no end untouched, so an operator's reason is never overwritten by the bot.
    The reason is stored as given (JSON escapes control characters; readers show them
    escaped), cut to :data:`MAX_REASON_CHARS` so that a trip is never lost to its length.
    Raises :class:`ConfigError` for a blank reason or an end in the past and
    :class:`CircuitBreakerError` when the file cannot be written or its lock stays held
    by another process for ``lock_timeout_s`` (tests set it small).
    """
    if not reason.strip():
        raise ConfigError("--reason is empty; say why the breaker is enabled, e.g. 'manual'")
    reason = cut(reason.strip(), MAX_REASON_CHARS)
    if until is not None and until <= now:
        raise ConfigError(
            f"--until {iso_utc(until)} is not in the future (now {iso_utc(now)}); "
            "give a later time or use --minutes"
        )
    payload: dict[str, Any] = {"active": True, "reason": reason}
    if until is not None:
        payload["until_iso"] = iso_utc(until)
    payload["changed_iso"] = iso_utc(now)
    payload["changed_by"] = _actor()
    return _locked_write(
        file, payload, skip_if_indefinite=keep_indefinite, lock_timeout_s=lock_timeout_s
    )


def disable_breaker(
    file: Path, *, reason: str, now: datetime, lock_timeout_s: float = LOCK_TIMEOUT_S
) -> None:
    """Deactivate the breaker (also repairs an unreadable file); errors as for enable."""
    payload = {
        "active": False,
        "reason": cut(reason.strip(), MAX_REASON_CHARS) or "disabled",
        "changed_iso": iso_utc(now),
        "changed_by": _actor(),
    }
    _locked_write(file, payload, skip_if_indefinite=False, lock_timeout_s=lock_timeout_s)
