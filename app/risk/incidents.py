"""Incidents from the guard into the run registry, rate-limited per key.

Within ``RISK_INCIDENT_RATE_LIMIT_SEC`` (measured on the guard's ``now``, so backtests are
deterministic) only the first incident per key (normally the reason code) is written; the
next one that gets through says how many were suppressed in between. A registry failure
never propagates: it is logged as ``incident_failed`` (ERROR) and the caller's decision,
a refusal, stands.

In a live or dry-run bot the sink writes in the background (``background=True``): the
guard's callbacks run inside Freqtrade's loop, and a registry that is busy (another
process writing; ``busy_timeout`` is 60 s) or on a slow network must not stall it. One
daemon thread writes the queued incidents in order; at exit the queue is drained for up
to ``FLUSH_AT_EXIT_SEC``, and whatever is still unwritten then is named in an
``incidents_unwritten`` ERROR line (the refusals themselves are in the log already).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.logs import Event, get_logger, log_event
from app.settings import RiskSettings
from app.threads import start_thread

_log = get_logger("risk.incidents")
FLUSH_AT_EXIT_SEC = 10.0


@dataclass(frozen=True, slots=True)
class _Queued:
    severity: str
    description: str
    log_excerpt: str | None


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
    """Writes incidents for one process; picklable (the registry is reopened lazily).

    With ``background=True`` :meth:`report` only queues the incident and returns None;
    a writer thread records it (its id is in the ``incident_logged`` line).
    """

    def __init__(
        self,
        settings: RiskSettings,
        *,
        correlation_id: str,
        run_id: str | None,
        recorder: IncidentRecorder | None = None,
        opener: Callable[[RiskSettings], IncidentRecorder] = open_registry,
        background: bool = False,
    ) -> None:
        self.settings = settings
        self.correlation_id = correlation_id
        self.run_id = run_id
        self.window = timedelta(seconds=settings.incident_rate_limit_sec)
        self.background = background
        self._recorder = recorder
        self._opener = opener
        self._last: dict[str, datetime] = {}
        self._suppressed: dict[str, int] = {}
        self._init_writer()

    def _init_writer(self) -> None:
        self._queue: deque[_Queued] = deque()
        self._busy = False  # the writer holds an item it has not finished writing
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Drop the open registry (engines hold sockets and locks) and the writer thread
        with its queue when pickled (hyperopt pickles the strategy)."""
        state = self.__dict__.copy()
        state["_recorder"] = None
        for key in ("_queue", "_busy", "_changed", "_writer"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_writer()

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
        if self.background:
            self._enqueue(_Queued(severity, description, log_excerpt))
            return None
        return self._write(severity, description, log_excerpt)

    # -- BACKGROUND WRITER ------------------------------------------------------------------

    def _enqueue(self, item: _Queued) -> None:
        with self._changed:
            self._queue.append(item)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._drain, name="incident-writer", daemon=True
                )
                start_thread(self._writer)
                atexit.register(self._flush_at_exit)
            self._changed.notify_all()

    def _drain(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue))
                item = self._queue.popleft()
                self._busy = True
            try:
                self._write(item.severity, item.description, item.log_excerpt)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def pending(self) -> int:
        """Incidents queued or being written (0 for a synchronous sink)."""
        with self._changed:
            return len(self._queue) + int(self._busy)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued incident is written; False when ``timeout`` came first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._queue and not self._busy, timeout=timeout
            )

    def _flush_at_exit(self) -> None:
        if self.flush(FLUSH_AT_EXIT_SEC):
            return
        with self._changed:
            unwritten = [item.description for item in self._queue]
            busy = self._busy
        log_event(
            _log,
            logging.ERROR,
            Event.INCIDENTS_UNWRITTEN,
            correlation_id=self.correlation_id,
            run_id=self.run_id,
            count=len(unwritten) + int(busy),
            descriptions=unwritten,
            waited_sec=FLUSH_AT_EXIT_SEC,
        )

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
