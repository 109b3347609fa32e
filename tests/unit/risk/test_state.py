"""The risk state tracker (app/risk/state.py): one change, one log line, one gauge flip."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from app.logs import get_logger
from app.risk.decision import Reason, RiskState
from app.risk.state import RiskStateTracker
from tests.unit.risk.builders import NOW
from tests.unit.risk.conftest import LogReader


def _gauge(state: RiskState) -> float | None:
    return REGISTRY.get_sample_value("tradingbot_guard_risk_state", {"state": state.value})


def _tracker(level: int = logging.INFO) -> RiskStateTracker:
    return RiskStateTracker(get_logger("risk.test"), level=level, correlation_id="cid-1")


def test_tracker_when_created_then_active_and_gauge_says_so(risk_log: LogReader) -> None:
    """A new tracker starts ACTIVE with no change yet, sets the ACTIVE gauge and logs nothing."""
    tracker = _tracker()

    assert (tracker.state, tracker.since, tracker.changes) == (RiskState.ACTIVE, None, 0)
    assert _gauge(RiskState.ACTIVE) == 1.0
    assert risk_log() == []


def test_update_when_state_unchanged_then_false_and_silent(risk_log: LogReader) -> None:
    """Staying in the current state is not a change: nothing is counted or logged."""
    tracker = _tracker()

    assert tracker.update(RiskState.ACTIVE, NOW, reason=Reason.ALLOWED) is False
    assert (tracker.since, tracker.changes) == (None, 0)
    assert risk_log() == []


def test_update_when_state_changes_then_true_logged_once_and_gauges_flipped(
    risk_log: LogReader,
) -> None:
    """A change records when, counts, flips the gauges and writes one risk_state_changed line."""
    tracker = _tracker()
    until = NOW + timedelta(hours=12)

    changed = tracker.update(
        RiskState.HALTED, NOW, reason=Reason.DAILY_LOSS_CAP, detail="loss 5 %", until=until
    )

    assert changed is True
    assert (tracker.state, tracker.since, tracker.changes) == (RiskState.HALTED, NOW, 1)
    assert (_gauge(RiskState.ACTIVE), _gauge(RiskState.HALTED)) == (0.0, 1.0)
    (line,) = risk_log()
    assert (line["message"], line["level"], line["correlation_id"]) == (
        "risk_state_changed",
        "INFO",
        "cid-1",
    )
    assert (line["old"], line["new"], line["reason"]) == ("ACTIVE", "HALTED", "DAILY_LOSS_CAP")
    assert (line["detail"], line["until"], line["at"]) == (
        "loss 5 %",
        "2025-08-18T00:00:00Z",
        "2025-08-17T12:00:00Z",
    )


def test_update_when_changed_twice_then_counted_twice_and_back_to_active(
    risk_log: LogReader,
) -> None:
    """Leaving a state is a change too: the count grows and the gauges follow."""
    tracker = _tracker()
    later = NOW + timedelta(minutes=30)
    tracker.update(RiskState.COOLDOWN, NOW, reason=Reason.LOSS_STREAK)

    assert tracker.update(RiskState.ACTIVE, later, reason=Reason.ALLOWED) is True
    assert (tracker.state, tracker.since, tracker.changes) == (RiskState.ACTIVE, later, 2)
    assert (_gauge(RiskState.COOLDOWN), _gauge(RiskState.ACTIVE)) == (0.0, 1.0)
    assert [(r["old"], r["new"]) for r in risk_log()] == [
        ("ACTIVE", "COOLDOWN"),
        ("COOLDOWN", "ACTIVE"),
    ]


def test_update_when_level_is_debug_then_logged_at_debug(risk_log: LogReader) -> None:
    """Hyperopt's tracker logs its changes at the level it was given (DEBUG)."""
    tracker = _tracker(level=logging.DEBUG)
    tracker.update(RiskState.HALTED, NOW, reason=Reason.CIRCUIT_BREAKER)

    assert [r["level"] for r in risk_log()] == ["DEBUG"]


def test_tracker_when_options_passed_by_position_then_type_error() -> None:
    """Level, correlation id, reason, detail and until are keyword-only: none is swapped."""
    with pytest.raises(TypeError):
        RiskStateTracker(get_logger("risk.test"), logging.INFO, "cid-1")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _tracker().update(RiskState.HALTED, NOW, Reason.DAILY_LOSS_CAP)  # type: ignore[call-arg]
