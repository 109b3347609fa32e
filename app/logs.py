"""JSON-lines logs for the guard, the gates and the circuit breaker.

Every line is one JSON object with ``ts`` (UTC, ISO 8601), ``level``, ``logger``,
``message`` (a stable event name from :class:`Event`), ``correlation_id``, ``run_id``
and the event's own fields. Lines go to stderr and to ``user_data/logs/risk.jsonl``.

The loggers live in their own tree (``tradingbot.*``) with ``propagate = False``:
Freqtrade's handlers and the root logger are never touched, so Freqtrade's own log
stays as it was. ``correlation_id`` and ``run_id`` default to the environment
variables ``TRADINGBOT_CORRELATION_ID`` / ``TRADINGBOT_RUN_ID`` that the guarded runner
sets for its Freqtrade child; a call may pass its own.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import threading
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

ROOT_LOGGER = "tradingbot"
DEFAULT_LOG_FILE = Path("user_data/logs/risk.jsonl")
RUN_ID_ENV = "TRADINGBOT_RUN_ID"
CORRELATION_ID_ENV = "TRADINGBOT_CORRELATION_ID"

# Event fields travel in this LogRecord attribute (see log_event).
_FIELDS_ATTR = "tb_fields"
# Attributes every LogRecord has; anything else came from ``extra=`` and is an event field.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "correlation_id",
    "run_id",
    "taskName",
    _FIELDS_ATTR,
}


class Event(StrEnum):
    """Every message name the guard writes. The RUNBOOK's Logs section documents each."""

    # run gates and slots
    SLOT_ACQUIRED = "slot_acquired"
    SLOT_RELEASED = "slot_released"
    SLOT_RECLAIMED = "slot_reclaimed"
    SLOTS_FULL = "slots_full"
    SLOT_HELD_BY_ORPHANS = "slot_held_by_orphans"
    SLOT_WAITING = "slot_waiting"
    SLOT_TICKET_SKIPPED = "slot_ticket_skipped"
    MAX_DD_BLOCK = "max_dd_block"
    CIRCUIT_BREAKER_BLOCK = "circuit_breaker_block"
    CIRCUIT_BREAKER_OVERRIDE = "circuit_breaker_override"
    REGISTRY_ERROR = "registry_error"
    RUN_ALLOWED = "run_allowed"
    # circuit breaker file
    CIRCUIT_BREAKER_ENABLED = "circuit_breaker_enabled"
    CIRCUIT_BREAKER_DISABLED = "circuit_breaker_disabled"
    CIRCUIT_BREAKER_TRIPPED = "circuit_breaker_tripped"
    CIRCUIT_BREAKER_UNREADABLE = "circuit_breaker_unreadable"
    # live guard
    GUARD_STARTED = "guard_started"
    ENTRY_REFUSED = "entry_refused"
    STAKE_TRIMMED = "stake_trimmed"
    LEVERAGE_CAPPED = "leverage_capped"
    RISK_STATE_CHANGED = "risk_state_changed"
    GUARD_ERROR = "guard_error"
    GUARD_SUMMARY = "guard_summary"
    # run lifecycle (the guarded runner)
    RUN_INTERRUPTED = "run_interrupted"
    # incidents
    INCIDENT_LOGGED = "incident_logged"
    INCIDENT_FAILED = "incident_failed"
    INCIDENTS_UNWRITTEN = "incidents_unwritten"
    # guard metrics file and the Prometheus exporter
    GUARD_METRICS_UNWRITTEN = "guard_metrics_unwritten"
    GUARD_METRICS_WRITTEN = "guard_metrics_written"
    EXPORTER_STARTED = "exporter_started"
    EXPORTER_SOURCE_DOWN = "exporter_source_down"
    EXPORTER_SOURCE_UP = "exporter_source_up"
    # operations events that had no line before the Telegram messages
    CIRCUIT_BREAKER_EXPIRED = "circuit_breaker_expired"
    BACKUP_SUCCEEDED = "backup_succeeded"
    BACKUP_FAILED = "backup_failed"
    RESTORE_SUCCEEDED = "restore_succeeded"
    RESTORE_REFUSED = "restore_refused"
    # Telegram (app/telegram)
    TELEGRAM_SENT = "telegram_sent"
    TELEGRAM_SEND_FAILED = "telegram_send_failed"
    TELEGRAM_UNDELIVERED = "telegram_undelivered"
    TELEGRAM_COMMAND = "telegram_command"
    TELEGRAM_COMMAND_REFUSED = "telegram_command_refused"
    TELEGRAM_SERVICE = "telegram_service"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line for ``record`` (without the newline)."""
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        payload: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None)
            or os.environ.get(CORRELATION_ID_ENV),
            "run_id": getattr(record, "run_id", None) or os.environ.get(RUN_ID_ENV),
        }
        for key, value in event_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=_json_default, ensure_ascii=False)


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event's own fields of a record: ``log_event``'s, then any other ``extra=`` key."""
    fields = dict(getattr(record, _FIELDS_ATTR, None) or {})
    for key, value in record.__dict__.items():
        # Plain ``logger.info(msg, extra={...})`` calls keep their fields too.
        if key not in _STANDARD_ATTRS:
            fields.setdefault(key, value)
    return fields


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        """Emit to the current ``sys.stderr``."""
        self.stream = sys.stderr
        super().emit(record)


class _ConfigureOnFirstUse(logging.Handler):
    """Installed at import: the first record configures the real handlers, then is re-sent.

    Importing a module that logs therefore creates no log file; the first line does.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Configure the tree with the defaults and hand the record to the new handlers."""
        root = configure_logging() if not _configured else logging.getLogger(ROOT_LOGGER)
        for handler in root.handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


class _SafeFileHandler(logging.handlers.WatchedFileHandler):
    """A file handler whose failures never reach the caller.

    The stdlib's WatchedFileHandler re-opens a rotated file *outside* its error handling,
    so a deleted log folder would raise inside the guard's refusal path. A log line that
    cannot be written is reported on stderr (``handleError``) and dropped instead.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record; on any error report it and carry on."""
        try:
            super().emit(record)
        except Exception:  # noqa: BLE001  # logging must never break the caller
            self.handleError(record)


_configure_lock = threading.Lock()
_configured = False


def configure_logging(
    *,
    log_file: Path | None = DEFAULT_LOG_FILE,
    to_stderr: bool = True,
    level: int = logging.INFO,
) -> logging.Logger:
    """(Re)configure the ``tradingbot`` logger tree; return its root logger.

    Called on the first record with the defaults; call it yourself to choose another file or level.
    A log folder that cannot be created costs the file output only (a warning on stderr),
    never the program.
    """
    global _configured  # noqa: PLW0603  # one process-wide logging setup
    with _configure_lock:
        root = logging.getLogger(ROOT_LOGGER)
        formatter = JsonFormatter()
        handlers: list[logging.Handler] = []
        if to_stderr:
            handlers.append(_StderrHandler())
        if log_file is not None:
            try:
                log_file.parent.mkdir(parents=True, exist_ok=True)
                handlers.append(_SafeFileHandler(log_file, encoding="utf-8"))
            except OSError as exc:
                sys.stderr.write(
                    f"Warning: cannot write guard log {log_file} ({exc}); logging to stderr only\n"
                )
        for handler in handlers:
            handler.setFormatter(formatter)
        handlers += _notification_handlers()
        old = root.handlers
        # Rebind instead of mutating: a record being handled right now iterates the old list.
        root.handlers = handlers or [logging.NullHandler()]
        for handler in old:
            handler.close()
        root.setLevel(level)
        root.propagate = False
        _configured = True
        return root


def _notification_handlers() -> list[logging.Handler]:
    """Telegram messages for operations events when TELEGRAM_BOT_TOKEN is set (app/telegram)."""
    from app.telegram.hook import notification_handler

    handler = notification_handler()
    return [] if handler is None else [handler]


def get_logger(name: str) -> logging.Logger:
    """The logger ``tradingbot.<name>`` (the tree configures itself on its first record)."""
    return logging.getLogger(f"{ROOT_LOGGER}.{name}")


def _install_lazy_root() -> None:
    root = logging.getLogger(ROOT_LOGGER)
    if not root.handlers:
        root.addHandler(_ConfigureOnFirstUse())
        root.setLevel(logging.INFO)
        root.propagate = False


_install_lazy_root()


def log_event(
    logger: logging.Logger,
    level: int,
    event: Event,
    *,
    correlation_id: str | None = None,
    run_id: str | None = None,
    exc_info: bool | BaseException = False,
    **fields: Any,
) -> None:
    """Write one event line. Cheap when ``level`` is disabled (hot paths rely on this)."""
    if not logger.isEnabledFor(level):
        return
    logger.log(
        level,
        event.value,
        exc_info=exc_info,
        extra={"correlation_id": correlation_id, "run_id": run_id, _FIELDS_ATTR: fields},
    )


def reset_logging() -> None:
    """Back to the import-time state: no handlers until the next record (used by tests)."""
    global _configured  # noqa: PLW0603  # one process-wide logging setup
    with _configure_lock:
        root = logging.getLogger(ROOT_LOGGER)
        old = root.handlers
        root.handlers = []
        for handler in old:
            handler.close()
        _configured = False
    _install_lazy_root()
