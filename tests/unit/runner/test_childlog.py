"""Inside the Freqtrade child: log records redacted at the source, errors noted
(app/runner/childlog.py)."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.redaction import Redactor
from app.runner.childlog import ChildReport, LogWatch

SECRET = "Sup3r-Secret-Passw0rd"


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[tuple[LogWatch, Path]]:
    """A LogWatch installed, then logging configured the way Freqtrade's setup_logging does
    (dictConfig replacing the root handlers with a rotating log file)."""
    factory = logging.getLogRecordFactory()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    status = tmp_path / "status.json"
    watch = LogWatch(Redactor.from_sources({"FREQTRADE__API_SERVER__PASSWORD": SECRET}), status,
                     "download-data")  # fmt: skip
    watch.install()
    logfile = tmp_path / "freqtrade.log"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"standard": {"format": "%(name)s - %(levelname)s - %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.handlers.RotatingFileHandler",
                    "formatter": "standard",
                    "filename": str(logfile),
                }
            },
            "root": {"handlers": ["file"], "level": "INFO"},
        }
    )
    try:
        yield watch, logfile
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = handlers
        root.setLevel(level)
        logging.setLogRecordFactory(factory)


def test_record_when_secret_in_message_args_or_traceback_then_file_holds_none(
    watch: tuple[LogWatch, Path],
) -> None:
    """Freqtrade's own file handler (installed after us) only ever sees redacted text."""
    _, logfile = watch
    log = logging.getLogger("freqtrade.configuration")
    log.critical("Invalid configuration. Reason: %s", {"password": SECRET, "username": "u"})
    try:
        raise ValueError(f"bad value {SECRET}")
    except ValueError:
        log.exception("Fatal exception!")
    log.info("stack", stack_info=True, extra={"x": SECRET})
    for handler in logging.getLogger().handlers:
        handler.flush()

    text = logfile.read_text()
    assert SECRET not in text
    assert "'password': '[REDACTED]'" in text
    assert "ValueError: bad value [REDACTED]" in text  # the traceback is kept, redacted
    assert "Traceback (most recent call last)" in text


def test_record_when_errors_then_report_counts_first_line_and_fatal(
    watch: tuple[LogWatch, Path],
) -> None:
    """The report holds the first error line; logger 'freqtrade' at ERROR marks it fatal."""
    lw, _ = watch
    logging.getLogger("freqtrade.x").info("fine")
    logging.getLogger("tradingbot.runner").error("ours are not Freqtrade's")
    logging.getLogger("freqtrade.configuration").critical("Invalid configuration.\nmore lines")
    first = ChildReport.read(lw.status_path) if lw.status_path else None
    logging.getLogger("freqtrade").error("Configuration error: 'username' is required")
    lw.write()
    report = ChildReport.read(lw.status_path) if lw.status_path else None

    assert first == ChildReport(1, "Invalid configuration.", False, False)
    assert report == ChildReport(2, "Invalid configuration.", True, True)


def test_record_when_command_specific_failure_warning_then_counted_as_error(
    watch: tuple[LogWatch, Path],
) -> None:
    """download-data's 'No pairs available for download' warning is a failure; others not."""
    lw, _ = watch
    logging.getLogger("freqtrade.data").warning("Some harmless warning")
    logging.getLogger("freqtrade.data").warning("No pairs available for download. Please ...")

    assert lw.report.errors == 1
    assert lw.report.first_error == "No pairs available for download. Please ..."


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '{"errors": "many"}'])
def test_report_when_status_file_unreadable_then_empty_report(tmp_path: Path, content: str) -> None:
    """A missing or mangled status file reads as 'nothing seen' (the exit code still counts)."""
    path = tmp_path / "status.json"
    if content:
        path.write_text(content)
    assert ChildReport.read(path) == ChildReport()
