"""``registry verify`` refuses what it cannot re-run exactly (app/runner/verify.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.registry import RunRecord
from app.runner.verify import CannotVerifyError, check_verifiable


def _run(command: tuple[str, ...]) -> RunRecord:
    return RunRecord(
        run_id="run_1", kind="backtest", strategy="S", timeframe="5m", timerange=None,
        pairs=None, status="succeeded", started_utc=datetime.now(UTC), finished_utc=None,
        exit_code=0, config_hash=None, strategy_hash=None, data_fingerprint=None, params=None,
        freqtrade_version=None, host=None, correlation_id="c", result_path=None,
        command=command, config_path=None, equity_hash="abc",
    )  # fmt: skip


def test_verify_when_command_was_stored_redacted_then_refused_naming_why() -> None:
    """A command whose secret was redacted on the way in cannot be re-run as it was."""
    command = ("tradingbot", "freqtrade", "backtesting", "--db-url", "sqlite://u:[REDACTED]@x")

    with pytest.raises(CannotVerifyError, match=r"secret on its command line"):
        check_verifiable(_run(command), {})
