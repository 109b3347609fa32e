"""JSON logs (app/logs.py): line format, own logger tree, documented message names."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from app.logs import Event, get_logger, log_event
from tests.helpers import clean_env
from tests.unit.risk.conftest import LogReader

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_event_when_logged_then_one_json_line_with_required_keys(risk_log: LogReader) -> None:
    """Every line has ts, level, logger, message, correlation_id, run_id and the fields."""
    log_event(
        get_logger("risk.test"),
        logging.WARNING,
        Event.ENTRY_REFUSED,
        correlation_id="cid",
        run_id="run-1",
        pair="ETH/BTC",
        reason="DAILY_LOSS_CAP",
    )
    (line,) = risk_log()
    assert line["ts"].endswith("Z")
    assert (line["level"], line["logger"], line["message"]) == (
        "WARNING",
        "tradingbot.risk.test",
        "entry_refused",
    )
    assert (line["correlation_id"], line["run_id"]) == ("cid", "run-1")
    assert (line["pair"], line["reason"]) == ("ETH/BTC", "DAILY_LOSS_CAP")


def test_plain_logger_call_when_extra_given_then_fields_kept(risk_log: LogReader) -> None:
    """``logging.getLogger('tradingbot.x').info(msg, extra=...)`` also yields JSON fields."""
    logging.getLogger("tradingbot.runner").info("run_started", extra={"kind": "backtest"})
    (line,) = risk_log()
    assert (line["message"], line["kind"]) == ("run_started", "backtest")


def test_log_when_level_disabled_then_nothing_written(risk_log: LogReader) -> None:
    """Below the configured level nothing is formatted or written."""
    logging.getLogger("tradingbot").setLevel(logging.WARNING)
    log_event(get_logger("risk.test"), logging.INFO, Event.GUARD_SUMMARY)
    assert risk_log() == []


def test_logging_when_used_then_root_and_freqtrade_untouched(tmp_path: Path) -> None:
    """Our tree does not propagate and the root logger keeps its handlers (Freqtrade's)."""
    code = (
        "import logging, sys\n"
        "root = logging.getLogger(); h = logging.StreamHandler(sys.stdout); root.addHandler(h)\n"
        "from app.logs import Event, get_logger, log_event\n"
        "log_event(get_logger('risk.x'), logging.WARNING, Event.ENTRY_REFUSED, pair='A/B')\n"
        "assert root.handlers == [h]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=clean_env({"TRADINGBOT_RUN_ID": "run-env", "TRADINGBOT_CORRELATION_ID": "cid-env"}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # nothing reached the root logger's handler
    stderr_line = json.loads(result.stderr.strip())
    assert (stderr_line["run_id"], stderr_line["correlation_id"]) == ("run-env", "cid-env")
    file_lines = (tmp_path / "user_data/logs/risk.jsonl").read_text().splitlines()
    assert json.loads(file_lines[0]) == stderr_line


def test_import_when_nothing_logged_then_no_log_file(tmp_path: Path) -> None:
    """Importing modules that log creates no file; the first line does."""
    result = subprocess.run(
        [sys.executable, "-c", "import app.risk.gates, app.risk.guard"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "user_data").exists()


def test_runbook_when_read_then_every_message_name_documented() -> None:
    """docs/RUNBOOK.md documents every Event name."""
    runbook = (REPO_ROOT / "docs" / "RUNBOOK.md").read_text(encoding="utf-8")
    assert sorted(e.value for e in Event if f"`{e.value}`" not in runbook) == []


def test_log_when_file_folder_deleted_then_no_exception(tmp_path: Path) -> None:
    """A line that cannot be written never raises into the guard; logging resumes later."""
    from app.logs import configure_logging, reset_logging

    folder = tmp_path / "logs"
    configure_logging(log_file=folder / "risk.jsonl", to_stderr=False)
    try:
        log_event(get_logger("risk.test"), logging.WARNING, Event.ENTRY_REFUSED, pair="A/B")
        (folder / "risk.jsonl").unlink()
        folder.rmdir()
        logging.raiseExceptions = False  # keep the test output quiet; still must not raise
        log_event(get_logger("risk.test"), logging.WARNING, Event.ENTRY_REFUSED, pair="lost")
        folder.mkdir()
        log_event(get_logger("risk.test"), logging.WARNING, Event.ENTRY_REFUSED, pair="C/D")
    finally:
        logging.raiseExceptions = True
        reset_logging()
    lines = [json.loads(line) for line in (folder / "risk.jsonl").read_text().splitlines()]
    assert [line["pair"] for line in lines] == ["C/D"]  # recovered once the folder is back
