"""The file-based circuit breaker: one small JSON file that stops entries and runs.

Format (DESIGN.md)::

    {"active": true, "reason": "incident-123", "until_iso": "2025-08-17T10:15:00Z"}

``until_iso`` is optional; once it has passed the breaker counts as inactive ("expired").
The writer adds ``changed_iso`` and ``changed_by`` for the audit trail; readers ignore
keys they do not know. A missing file means inactive (the normal state before anyone
enabled the breaker). A file that exists but cannot be read or parsed counts as
**active** (fail closed) and the state names the problem.

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

LOCK_TIMEOUT_S = 30.0


class BreakerStatus(StrEnum):
    """What the file says, after applying ``until_iso`` and fail-closed parsing."""

    INACTIVE = "inactive"
    ACTIVE = "active"
    EXPIRED = "expired"  # active in the file, but until_iso has passed: inactive
    UNREADABLE = "unreadable"  # cannot be read or parsed: counts as active


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
        return self.status in (BreakerStatus.ACTIVE, BreakerStatus.UNREADABLE)

    def describe(self) -> str:
        """One line for logs and refusals."""
        if self.status is BreakerStatus.UNREADABLE:
            return f"circuit breaker file {self.file} counts as active: {self.problem}"
        until = f" until {iso_utc(self.until)}" if self.until else ""
        reason = f" ({self.reason})" if self.reason else ""
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
    """Parse an ISO 8601 time that names its timezone; raise :class:`ConfigError` if not."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{name}={text!r} is not an ISO 8601 time; use e.g. 2025-08-17T10:15:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ConfigError(f"{name}={text!r} has no timezone; add Z for UTC, e.g. {text}Z")
    return moment.astimezone(UTC)


# -- READING ----------------------------------------------------------------------------


class _MalformedError(ValueError):
    """The breaker file's content does not follow the format."""


def _fields(text: str) -> tuple[bool, str | None, datetime | None]:
    if not text.strip():
        raise _MalformedError("the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise _MalformedError(problem) from None
    if not isinstance(data, dict):
        raise _MalformedError(f"expected a JSON object, got {type(data).__name__}")
    active = data.get("active")
    if not isinstance(active, bool):
        raise _MalformedError(f"'active' must be true or false, got {active!r}")
    raw_reason = data.get("reason")
    raw_until = data.get("until_iso")
    if raw_until is None:
        return active, None if raw_reason is None else str(raw_reason), None
    if not isinstance(raw_until, str):
        raise _MalformedError(f"'until_iso' must be an ISO 8601 string, got {raw_until!r}")
    try:
        until = parse_iso_utc(raw_until, name="until_iso")
    except ConfigError as exc:
        raise _MalformedError(str(exc)) from None
    return active, None if raw_reason is None else str(raw_reason), until


def parse_breaker(text: str, file: Path, now: datetime) -> BreakerState:
    """Interpret the file's text at ``now``; anything malformed is UNREADABLE (active)."""
    try:
        active, reason, until = _fields(text)
    except _MalformedError as exc:
        return BreakerState(BreakerStatus.UNREADABLE, file, problem=str(exc))
    if not active:
        return BreakerState(BreakerStatus.INACTIVE, file, reason=reason, until=until)
    if until is not None and until <= now:
        return BreakerState(BreakerStatus.EXPIRED, file, reason=reason, until=until)
    return BreakerState(BreakerStatus.ACTIVE, file, reason=reason, until=until)


def read_breaker(file: Path, now: datetime) -> BreakerState:
    """Read and interpret the breaker file. Never raises: failures are UNREADABLE."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return BreakerState(BreakerStatus.INACTIVE, file, reason="no breaker file")
    except (OSError, UnicodeDecodeError) as exc:
        return BreakerState(BreakerStatus.UNREADABLE, file, problem=f"cannot read it ({exc})")
    return parse_breaker(text, file, now)


class BreakerCache:
    """Re-reads the file only when its mtime, size or inode changed (one ``stat`` per call).

    Expiry is re-evaluated against ``now`` on every call, so a cached ACTIVE state turns
    EXPIRED on time without touching the disk.
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self._key: tuple[int, int, int] | None = None
        self._text: str | None = None

    @property
    def key(self) -> tuple[int, int, int] | None:
        """(mtime_ns, size, inode) of the file at the last read; None when absent/unreadable."""
        return self._key

    def state(self, now: datetime) -> BreakerState:
        """The breaker state at ``now``."""
        try:
            st = self.file.stat()
        except FileNotFoundError:
            self._key, self._text = None, None
            return BreakerState(BreakerStatus.INACTIVE, self.file, reason="no breaker file")
        except OSError as exc:
            self._key, self._text = None, None
            return BreakerState(
                BreakerStatus.UNREADABLE, self.file, problem=f"cannot stat it ({exc})"
            )
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key != self._key or self._text is None:
            try:
                self._text = self.file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self._key, self._text = None, None
                return BreakerState(
                    BreakerStatus.UNREADABLE, self.file, problem=f"cannot read it ({exc})"
                )
            self._key = key
        return parse_breaker(self._text, self.file, now)


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


def _locked_write(file: Path, payload: dict[str, Any], *, skip_if_indefinite: bool) -> bool:
    lock_path = file.with_name(file.name + ".lock")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock_path, timeout=LOCK_TIMEOUT_S):
            if skip_if_indefinite:
                current = read_breaker(file, datetime.now(UTC))
                if current.status is BreakerStatus.ACTIVE and current.until is None:
                    return False
            _atomic_write(file, payload)
    except Timeout:
        raise CircuitBreakerError(
            f"circuit breaker lock {lock_path} is held by another process for more than "
            f"{LOCK_TIMEOUT_S:.0f} s; find it (e.g. `lsof {lock_path}`) and retry"
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
) -> bool:
    """Activate the breaker, optionally until ``until``; return False when nothing changed.

    ``keep_indefinite`` (used by automatic trips) leaves a breaker that is already active
    with no end untouched, so an operator's reason is never overwritten by the bot.
    Raises :class:`ConfigError` for a blank reason or an end in the past and
    :class:`CircuitBreakerError` when the file cannot be written.
    """
    if not reason.strip():
        raise ConfigError("--reason is empty; say why the breaker is enabled, e.g. 'manual'")
    if until is not None and until <= now:
        raise ConfigError(
            f"--until {iso_utc(until)} is not in the future (now {iso_utc(now)}); "
            "give a later time or use --minutes"
        )
    payload: dict[str, Any] = {"active": True, "reason": reason.strip()}
    if until is not None:
        payload["until_iso"] = iso_utc(until)
    payload["changed_iso"] = iso_utc(now)
    payload["changed_by"] = _actor()
    return _locked_write(file, payload, skip_if_indefinite=keep_indefinite)


def disable_breaker(file: Path, *, reason: str, now: datetime) -> None:
    """Deactivate the breaker (also repairs an unreadable file)."""
    payload = {
        "active": False,
        "reason": reason.strip() or "disabled",
        "changed_iso": iso_utc(now),
        "changed_by": _actor(),
    }
    _locked_write(file, payload, skip_if_indefinite=False)
