"""Inside the Freqtrade child: redact every log record at its source and note errors.

Freqtrade's ``setup_logging`` replaces the root logger's handlers (``dictConfig``), so a
handler of ours would not survive it. A *log record factory* does: every record is made
by it, before any handler sees it, and Freqtrade never touches the factory. The factory
installed by :func:`install`:

* **redacts** the message, the traceback and the stack of every record with the run's
  :class:`app.redaction.Redactor` (secret environment values, the config's secrets,
  secrets recognised by context). Freqtrade's console, its ``--logfile``, its
  ``/api/v1/logs`` buffer and any handler a ``log_config`` adds therefore only ever see
  redacted text. A traceback is formatted (and redacted) once into ``exc_text``;
  ``exc_info`` is dropped so that no handler renders the original exception again;
* **notes** what the runner needs to judge the run: the number of ERROR/CRITICAL
  records (from any logger except our own ``tradingbot.*``), the first such line, and
  whether Freqtrade's top-level handler (logger ``freqtrade``) reported a fatal error --
  Freqtrade exits 0 after a configuration error and after some refusals, so its exit
  code alone does not tell.

The notes are written as JSON to the status file the runner named: at the first error
(so that even a process killed later leaves it) and at exit.

:func:`harden_sanitize_config` covers what Freqtrade writes to disk itself: the config it
stores beside every backtest result (``<result>_config.json`` in the zip) and shows with
``show-config`` goes through its ``sanitize_config``, which masks only some keys (not
``api_server.jwt_secret_key``, ``ws_token`` or ``username``, nor a password in a
``db_url``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.redaction import Redactor

OUR_LOGGERS = "tradingbot"
FREQTRADE_TOP = "freqtrade"  # the logger of freqtrade.main's exception handlers
CONFIG_ERROR_PREFIX = "Configuration error"
MAX_LINE = 500
# WARNING lines that mean a command did not do what it was asked (it still exits 0).
FAILURE_WARNINGS: dict[str, tuple[str, ...]] = {
    "download-data": (
        "Encountered a problem downloading the following pairs",
        "No pairs available for download",
    ),
}


@dataclass
class ChildReport:
    """What the child saw in Freqtrade's log (the status file's content)."""

    errors: int = 0
    first_error: str | None = None
    fatal: bool = False  # freqtrade.main reported an error: Freqtrade refused or crashed
    configuration_error: bool = False

    @classmethod
    def read(cls, path: Path) -> ChildReport:
        """The report in ``path``; an empty report when it is missing or unreadable."""
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        first = data.get("first_error")
        return cls(
            errors=data["errors"] if isinstance(data.get("errors"), int) else 0,
            first_error=first if isinstance(first, str) else None,
            fatal=data.get("fatal") is True,
            configuration_error=data.get("configuration_error") is True,
        )


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped and cut to :data:`MAX_LINE`."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:MAX_LINE]
    return ""


class LogWatch:
    """The record factory's state: the redactor, the report and where it is written."""

    def __init__(self, redactor: Redactor, status_path: Path | None, command: str) -> None:
        self.redactor = redactor
        self.status_path = status_path
        self.report = ChildReport()
        self.failure_warnings = FAILURE_WARNINGS.get(command, ())
        self._previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def install(self) -> None:
        """Make every log record through :meth:`make_record`; write the report at exit."""
        logging.setLogRecordFactory(self.make_record)
        atexit.register(self.write)

    def make_record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        """Create a record as before, then redact it and note it."""
        record = self._previous(*args, **kwargs)
        with contextlib.suppress(Exception):  # a record we cannot redact is left to logging
            self._redact(record)
        if not record.name.startswith(OUR_LOGGERS):
            self._observe(record)
        return record

    def _redact(self, record: logging.LogRecord) -> None:
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = self.redactor.redact(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)

    def _observe(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        failed_warning = record.levelno == logging.WARNING and message.startswith(
            self.failure_warnings or ("\0",)
        )
        if record.levelno < logging.ERROR and not failed_warning:
            return
        report = self.report
        report.errors += 1
        first = report.first_error is None
        if first:
            report.first_error = first_line(message) or record.levelname
        if record.name == FREQTRADE_TOP and record.levelno >= logging.ERROR:
            report.fatal = True
            report.configuration_error = message.startswith(CONFIG_ERROR_PREFIX)
        if first or report.fatal:
            self.write()

    def write(self) -> None:
        """Write the report atomically (a failure to write is not Freqtrade's problem)."""
        if self.status_path is None:
            return
        tmp = self.status_path.with_name(self.status_path.name + ".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(asdict(self.report)), encoding="utf-8")
            tmp.replace(self.status_path)


# Keys Freqtrade's sanitize_config leaves alone although they hold credentials.
EXTRA_SENSITIVE_KEYS = ("api_server.jwt_secret_key", "api_server.ws_token", "api_server.username")


def _redact_tree(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, dict):
        return {key: _redact_tree(item, redactor) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_tree(item, redactor) for item in value]
    if isinstance(value, str):
        return redactor.redact(value)
    return value


def harden_sanitize_config(redactor: Redactor) -> None:
    """Make Freqtrade's ``sanitize_config`` mask our secret keys and every secret value.

    It copies the config with the ``deepcopy`` of its own module before masking keys;
    that name is looked up at each call, so the copy made there is redacted whichever
    module imported ``sanitize_config`` (and when). The key list is extended in place.
    """
    from freqtrade.configuration import config_secrets

    keys: list[str] = config_secrets._SENSITIVE_KEYS
    keys.extend(key for key in EXTRA_SENSITIVE_KEYS if key not in keys)
    copy: Callable[..., Any] = config_secrets.deepcopy

    def redacting_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return _redact_tree(copy(value, memo), redactor)

    config_secrets.deepcopy = redacting_copy
