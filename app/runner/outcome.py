"""How a Freqtrade run ended: the status to record, the exit code, the reason.

Freqtrade's exit code alone does not tell: it exits 0 after a configuration error
(``freqtrade.main`` logs "Configuration error: ..." and exits with no code) and some
commands log an ERROR and return normally (``lookahead-analysis`` without a strategy,
``download-data`` that could not get a pair). The child's :class:`ChildReport` says
what Freqtrade logged; :func:`judge` combines both:

=====================================================  ===========  ===================
what happened                                          status       runner's exit code
=====================================================  ===========  ===================
Freqtrade's top-level handler reported an error        failed       Freqtrade's code; if
                                                                    0: 2 for a
                                                                    configuration error,
                                                                    else 1
``trade``/``webserver`` stopped by SIGINT/SIGTERM      succeeded    Freqtrade's (0/130)
another command stopped by SIGINT/SIGTERM              interrupted  128 + signal
non-zero exit                                          failed       Freqtrade's code
exit 0 after an ERROR line (not trade/webserver)       failed       1
exit 0, nothing wrong                                  succeeded    0 (results ingested)
=====================================================  ===========  ===================

A trading bot logs errors it recovers from (an order the exchange refused, a network
hiccup); only its top-level handler's error makes a stopped bot a failed run.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from app.runner.process import ChildOutcome

LONG_RUNNING = frozenset({"trade", "webserver"})
# How a bot is stopped: SIGINT (Ctrl-C) or SIGTERM (docker stop); 130 = KeyboardInterrupt.
_CLEAN_STOP_CODES = frozenset({0, 128 + signal.SIGINT, 128 + signal.SIGTERM})
CONFIG_ERROR_EXIT = 2
CRASH_EXIT = 1


@dataclass(frozen=True)
class Judgement:
    """What the runner records and returns."""

    status: str  # "succeeded" | "failed" | "interrupted"
    exit_code: int
    reason: str | None = None
    stopped: bool = False  # a bot stopped by a signal (nothing to ingest)


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; the number for an unknown signal."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def judge(command: str | None, outcome: ChildOutcome) -> Judgement:
    """The status, exit code and reason of a run that ``outcome`` describes."""
    code, report = outcome.returncode, outcome.report
    detail = f": {report.first_error}" if report.first_error else ""
    if report.fatal and code == 0:
        code = CONFIG_ERROR_EXIT if report.configuration_error else CRASH_EXIT
        return Judgement("failed", code, f"Freqtrade refused to run (it exited 0){detail}")
    if outcome.signal_received is not None and not report.fatal:
        return _stopped(command, code, outcome.signal_received)
    if code != 0:
        return Judgement("failed", code, f"exited with code {code}{detail}")
    if report.errors and command not in LONG_RUNNING:
        return Judgement("failed", CRASH_EXIT, f"exited 0 but logged an error{detail}")
    return Judgement("succeeded", 0)


def _stopped(command: str | None, code: int, signum: int) -> Judgement:
    """A run during which the runner received (and forwarded) SIGINT/SIGTERM."""
    if command in LONG_RUNNING and code in _CLEAN_STOP_CODES:
        return Judgement("succeeded", code, None, stopped=True)
    # Freqtrade may exit 0 after Ctrl-C; an interrupted run must not look successful.
    code = code or 128 + signum
    reason = f"interrupted by signal {signum} ({signal_name(signum)}), exit code {code}"
    return Judgement("interrupted", code, reason)
