"""Incidents from the guard into the run registry, rate-limited per key.

Within ``RISK_INCIDENT_RATE_LIMIT_SEC`` (measured on the guard's ``now``, so backtests are
deterministic) only the first incident per key (normally the reason code) is written; the
next one that gets through says how many were suppressed in between. A registry failure
never propagates: it is logged as ``incident_failed`` (ERROR) and the caller's decision,
a refusal, stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.logs import Event, get_logger, log_event
from app.settings import RiskSettings

_log = get_logger("risk.incidents")


class IncidentRecorder(Protocol):
    """The part of ``app.registry.Registry`` the guard writes incidents with."""

    def log_incident(
        self,
        *,
        severity: str,
        description: str,
        correlation_id: str,
        run_id: str | None = None,
        log_excerpt: str | None = None,
    ) -> str:
        """Record one incident and return its id."""
        ...


def open_registry(settings: RiskSettings) -> IncidentRecorder:
    """``Registry.from_settings(settings)``, imported lazily (SQLAlchemy costs import time)."""
    from app.registry import Registry

    return Registry.from_settings(settings)


class IncidentSink:
    """Writes incidents for one process; picklable (the registry is reopened lazily)."""

    def __init__(
        self,
        settings: RiskSettings,
        *,
        correlation_id: str,
        run_id: str | None,
        recorder: IncidentRecorder | None = None,
        opener: Callable[[RiskSettings], IncidentRecorder] = open_registry,
    ) -> None:
        self.settings = settings
        self.correlation_id = correlation_id
        self.run_id = run_id
        self.window = timedelta(seconds=settings.incident_rate_limit_sec)
        self._recorder = recorder
        self._opener = opener
        self._last: dict[str, datetime] = {}
        self._suppressed: dict[str, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Drop the open registry (engines hold sockets and locks) when pickled."""
        state = self.__dict__.copy()
        state["_recorder"] = None
        return state

    def report(
        self,
        key: str,
        *,
        severity: str,
        description: str,
        now: datetime,
        rate_limited: bool = True,
        log_excerpt: str | None = None,
    ) -> str | None:
        """Record an incident unless ``key`` had one within the window; return its id."""
        if rate_limited:
            last = self._last.get(key)
            if last is not None and now - last < self.window:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            description += f" ({suppressed} more like this were not recorded separately)"
        return self._write(severity, description, log_excerpt)

    def _write(self, severity: str, description: str, log_excerpt: str | None) -> str | None:
        try:
            if self._recorder is None:
                self._recorder = self._opener(self.settings)
            incident_id = self._recorder.log_incident(
                severity=severity,
                description=description,
                correlation_id=self.correlation_id,
                run_id=self.run_id,
                log_excerpt=log_excerpt,
            )
        except Exception as exc:  # noqa: BLE001  # boundary: the bot must not crash, refusal stands
            log_event(
                _log,
                logging.ERROR,
                Event.INCIDENT_FAILED,
                correlation_id=self.correlation_id,
                run_id=self.run_id,
                severity=severity,
                description=description,
                error=f"{type(exc).__name__}: {exc}",
            )
            return None
        log_event(
            _log,
            logging.INFO,
            Event.INCIDENT_LOGGED,
            correlation_id=self.correlation_id,
            run_id=self.run_id,
            incident_id=incident_id,
            severity=severity,
            description=description,
        )
        return incident_id


class LazyRecorder:
    """Opens the registry on the first incident, so whatever precedes it (e.g. enabling
    the breaker) happens even when the registry is broken."""

    def __init__(self, settings: RiskSettings) -> None:
        self.settings = settings
        self._recorder: IncidentRecorder | None = None

    def log_incident(
        self,
        *,
        severity: str,
        description: str,
        correlation_id: str,
        run_id: str | None = None,
        log_excerpt: str | None = None,
    ) -> str:
        """Open the registry if needed, then record the incident."""
        if self._recorder is None:
            self._recorder = open_registry(self.settings)
        return self._recorder.log_incident(
            severity=severity,
            description=description,
            correlation_id=correlation_id,
            run_id=run_id,
            log_excerpt=log_excerpt,
        )
