"""The circuit breaker's operator commands (``scripts/circuit_breaker.py`` is their CLI).

``status`` only reads. ``enable`` and ``disable`` change the file first (safety first),
then record an incident in the registry and log ``circuit_breaker_enabled`` /
``circuit_breaker_disabled``. When the incident cannot be recorded the change still
stands and :class:`BreakerChangeUnrecorded` (exit code 5, like any registry error) says so.

Exit codes of ``status``: 0 inactive (also expired or no file), 20 active, 21 the file is
unreadable and therefore counts as active (fail closed).
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.circuit_breaker import (
    MAX_REASON_CHARS,
    BreakerState,
    BreakerStatus,
    disable_breaker,
    enable_breaker,
    iso_utc,
    parse_iso_utc,
    read_breaker,
)
from app.config_input import plain_int
from app.errors import ConfigError, RegistryError
from app.logs import CORRELATION_ID_ENV, Event, get_logger, log_event
from app.risk.incidents import IncidentRecorder
from app.text import printable, shown

EXIT_INACTIVE = 0
EXIT_ACTIVE = 20
EXIT_UNREADABLE = 21
MAX_MINUTES = 366 * 24 * 60

_log = get_logger("risk.breaker")


class BreakerChangeUnrecordedError(RegistryError):
    """The breaker changed, but its incident could not be written. Fix the registry; the
    change itself is in effect (check with ``status``)."""


@dataclass(frozen=True)
class Change:
    """The result of ``enable``/``disable``."""

    state: BreakerState
    changed: bool
    incident_id: str | None


def status_exit_code(state: BreakerState) -> int:
    """0 inactive/expired, 20 active, 21 unreadable (counts as active)."""
    if state.status is BreakerStatus.UNREADABLE:
        return EXIT_UNREADABLE
    return EXIT_ACTIVE if state.active else EXIT_INACTIVE


def status(file: Path, now: datetime | None = None) -> BreakerState:
    """The breaker as the guard would see it now."""
    return read_breaker(file, now or datetime.now(UTC))


def resolve_until(
    *, minutes: int | str | None, until: str | None, now: datetime
) -> datetime | None:
    """The end time from ``--minutes`` or ``--until`` (None: until a person disables it).

    ``--minutes`` as typed must be ASCII digits (``1_0``, `` 5`` and ``١٢`` are refused);
    ``--until`` must name its timezone and lie within the years 1-9999 in UTC. Both raise
    :class:`ConfigError` (exit 2) naming the flag, the value and the fix.
    """
    if minutes is not None:
        allowed = f"use a whole number of minutes in [1, {MAX_MINUTES}]"
        try:
            count = plain_int(minutes) if isinstance(minutes, str) else minutes
        except ValueError as exc:
            raise ConfigError(
                f"--minutes {shown(minutes)} is not valid ({exc}); {allowed}"
            ) from None
        if not 1 <= count <= MAX_MINUTES:
            raise ConfigError(f"--minutes {count} is out of range; {allowed}")
        return (now + timedelta(minutes=count)).replace(microsecond=0)
    if until is not None:
        return parse_iso_utc(until, name="--until")
    return None


def check_reason(reason: str) -> None:
    """Refuse (exit 2) a ``--reason`` longer than the file keeps; the library would cut it."""
    length = len(reason.strip())
    if length > MAX_REASON_CHARS:
        raise ConfigError(
            f"--reason is {length} characters long; keep it to {MAX_REASON_CHARS} (put details "
            "in the incident or a ticket and name it in the reason)"
        )


def enable(
    file: Path,
    *,
    reason: str,
    until: datetime | None,
    recorder: IncidentRecorder,
    now: datetime | None = None,
) -> Change:
    """Activate the breaker, then record an incident (warning) with the reason."""
    now = now or datetime.now(UTC)
    check_reason(reason)
    enable_breaker(file, reason=reason, now=now, until=until)
    state = read_breaker(file, now)
    ends = f" until {iso_utc(until)}" if until else " until disabled"
    log_event(
        _log,
        logging.WARNING,
        Event.CIRCUIT_BREAKER_ENABLED,
        correlation_id=_correlation_id(),
        **_fields(state),
        until=until,
    )
    text = f"circuit breaker enabled{ends}: {printable(reason.strip())} ({printable(str(file))})"
    return Change(state, True, _record(recorder, "warning", text))


def disable(
    file: Path,
    *,
    reason: str,
    recorder: IncidentRecorder,
    now: datetime | None = None,
) -> Change:
    """Deactivate the breaker (repairs an unreadable file), then record an incident (info)."""
    now = now or datetime.now(UTC)
    check_reason(reason)
    before = read_breaker(file, now)
    disable_breaker(file, reason=reason, now=now)
    state = read_breaker(file, now)
    log_event(
        _log,
        logging.WARNING,
        Event.CIRCUIT_BREAKER_DISABLED,
        correlation_id=_correlation_id(),
        **_fields(state),
        previous=before.status.value,
    )
    was, why = before.status.value, printable(reason.strip())
    text = f"circuit breaker disabled (was {was}): {why} ({printable(str(file))})"
    return Change(state, before.active, _record(recorder, "info", text))


def _fields(state: BreakerState) -> dict[str, Any]:
    return {
        "file": str(state.file),
        "status": state.status.value,
        "reason": state.reason,
        "by": os.environ.get("USER") or None,
    }


_PROCESS_CORRELATION = f"breaker-{uuid.uuid4().hex[:12]}"


def _correlation_id() -> str:
    """One id per command: the runner's when set, else one made for this process."""
    return os.environ.get(CORRELATION_ID_ENV) or _PROCESS_CORRELATION


def _record(recorder: IncidentRecorder, severity: str, text: str) -> str:
    try:
        incident_id = recorder.log_incident(
            severity=severity, description=text, correlation_id=_correlation_id()
        )
    except Exception as exc:  # the change is made; report, don't undo
        log_event(_log, logging.ERROR, Event.INCIDENT_FAILED, description=text, error=str(exc))
        raise BreakerChangeUnrecordedError(
            f"{text} -- but the incident could not be recorded: {exc}"
        ) from exc
    log_event(_log, logging.INFO, Event.INCIDENT_LOGGED, incident_id=incident_id, severity=severity)
    return incident_id
