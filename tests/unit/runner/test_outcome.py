"""How a run ended, from Freqtrade's exit code and what it logged (app/runner/outcome.py)."""

from __future__ import annotations

import signal

import pytest

from app.runner.childlog import ChildReport
from app.runner.outcome import judge
from app.runner.process import ChildOutcome

CONFIG_ERROR = ChildReport(1, "Invalid configuration. Reason: x", True, True)
CRASH = ChildReport(2, "Boom", True, False)
LOGGED = ChildReport(1, "There were no strategies specified", False, False)
TERM, INT = signal.SIGTERM, signal.SIGINT


@pytest.mark.parametrize(
    ("command", "code", "signum", "report", "status", "exit_code", "reason"),
    [
        ("trade", 0, None, CONFIG_ERROR, "failed", 2, "refused to run (it exited 0): Invalid"),
        ("webserver", 0, None, CONFIG_ERROR, "failed", 2, "refused to run"),
        ("backtesting", 0, None, CRASH, "failed", 1, "refused to run (it exited 0): Boom"),
        ("backtesting", 2, None, CRASH, "failed", 2, "exited with code 2: Boom"),
        ("trade", 130, INT, CRASH, "failed", 130, "exited with code 130: Boom"),
        ("trade", 130, TERM, ChildReport(), "succeeded", 130, None),
        ("trade", 0, INT, LOGGED, "succeeded", 0, None),
        ("webserver", 0, INT, ChildReport(), "succeeded", 0, None),
        ("trade", 1, TERM, ChildReport(), "interrupted", 1, "by signal 15 (SIGTERM), exit code 1"),
        (
            "hyperopt",
            0,
            INT,
            ChildReport(),
            "interrupted",
            130,
            "by signal 2 (SIGINT), exit code 130",
        ),
        (
            "hyperopt",
            143,
            TERM,
            ChildReport(),
            "interrupted",
            143,
            "signal 15 (SIGTERM), exit code 143",
        ),
        ("backtesting", 3, None, ChildReport(), "failed", 3, "exited with code 3"),
        ("lookahead-analysis", 0, None, LOGGED, "failed", 1, "exited 0 but logged an error: "),
        ("download-data", 0, None, LOGGED, "failed", 1, "logged an error"),
        ("trade", 0, None, LOGGED, "succeeded", 0, None),
        ("backtesting", 0, None, ChildReport(), "succeeded", 0, None),
    ],
)
def test_judge_when_outcome_then_status_exit_code_and_reason(
    command: str,
    code: int,
    signum: int | None,
    report: ChildReport,
    status: str,
    exit_code: int,
    reason: str | None,
) -> None:
    """Every refusal or crash is failed with a non-zero code, whatever Freqtrade exited."""
    judgement = judge(command, ChildOutcome(code, signum, report))

    assert (judgement.status, judgement.exit_code) == (status, exit_code)
    if reason is None:
        assert judgement.reason is None
    else:
        assert reason in str(judgement.reason)
    assert judgement.stopped == (status == "succeeded" and signum is not None)
