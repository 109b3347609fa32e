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

# Attributes of a LogRecord that are not event fields.
_FIELDS_ATTR = "tb_fields"


class Event(StrEnum):
    """Every message name the guard writes. The RUNBOOK's Logs section documents each."""

    # run gates and slots
    SLOT_ACQUIRED = "slot_acquired"
    SLOT_RELEASED = "slot_released"
    SLOT_RECLAIMED = "slot_reclaimed"
    SLOTS_FULL = "slots_full"
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
    # incidents
    INCIDENT_LOGGED = "incident_logged"
    INCIDENT_FAILED = "incident_failed"


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
        fields = getattr(record, _FIELDS_ATTR, None)
        if fields:
            for key, value in fields.items():
                payload.setdefault(key, value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=_json_default, ensure_ascii=False)


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


_configure_lock = threading.Lock()
_configured = False


def configure_logging(
    *,
    log_file: Path | None = DEFAULT_LOG_FILE,
    to_stderr: bool = True,
    level: int = logging.INFO,
) -> logging.Logger:
    """(Re)configure the ``tradingbot`` logger tree; return its root logger.

    Called lazily by :func:`get_logger`; call it yourself to choose another file or level.
    A log folder that cannot be created costs the file output only (a warning on stderr),
    never the program.
    """
    global _configured  # noqa: PLW0603  # one process-wide logging setup
    with _configure_lock:
        root = logging.getLogger(ROOT_LOGGER)
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
        root.propagate = False
        formatter = JsonFormatter()
        if to_stderr:
            stream_handler = _StderrHandler()
            stream_handler.setFormatter(formatter)
            root.addHandler(stream_handler)
        if log_file is not None:
            try:
                log_file.parent.mkdir(parents=True, exist_ok=True)
                file_handler = logging.handlers.WatchedFileHandler(log_file, encoding="utf-8")
            except OSError as exc:
                sys.stderr.write(
                    f"Warning: cannot write guard log {log_file} ({exc}); logging to stderr only\n"
                )
            else:
                file_handler.setFormatter(formatter)
                root.addHandler(file_handler)
        if not root.handlers:
            root.addHandler(logging.NullHandler())
        _configured = True
        return root


def get_logger(name: str) -> logging.Logger:
    """The logger ``tradingbot.<name>``, configuring the tree on first use in this process."""
    if not _configured:
        configure_logging()
    return logging.getLogger(f"{ROOT_LOGGER}.{name}")


def log_event(
    logger: logging.Logger,
    level: int,
    event: Event,
    *,
    correlation_id: str | None = None,
    run_id: str | None = None,
    exc_info: bool = False,
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
