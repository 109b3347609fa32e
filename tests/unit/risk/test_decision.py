"""Guard decisions (app/risk/decision.py): the shared ALLOW, ``deny`` and immutability."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from app.risk.decision import ALLOW, Decision, Reason, RiskState, deny
from tests.unit.risk.builders import NOW


def test_allow_when_read_then_allowed_with_nothing_else_set() -> None:
    """ALLOW allows with reason ALLOWED and carries no detail, end, trip or state."""
    expected = Decision(
        allowed=True, reason=Reason.ALLOWED, detail="", until=None, trip_breaker=False, state=None
    )
    assert expected == ALLOW


def test_deny_when_only_reason_and_detail_then_plain_refusal() -> None:
    """A plain refusal has no end, does not trip the breaker and implies no account state."""
    decision = deny(Reason.STALE_DATA, "no closed candle for ETH/BTC")

    assert (decision.allowed, decision.reason) == (False, Reason.STALE_DATA)
    assert decision.detail == "no closed candle for ETH/BTC"
    assert (decision.until, decision.trip_breaker, decision.state) == (None, False, None)


def test_deny_when_options_given_then_each_kept() -> None:
    """``until``, ``trip_breaker`` and ``state`` reach the decision unchanged."""
    until = NOW + timedelta(hours=1)
    decision = deny(
        Reason.DAILY_DRAWDOWN, "10 % down", until=until, trip_breaker=True, state=RiskState.HALTED
    )

    assert (decision.until, decision.trip_breaker, decision.state) == (
        until,
        True,
        RiskState.HALTED,
    )


def test_decision_when_assigned_then_refused_because_allow_is_shared() -> None:
    """Decisions are frozen: the one ALLOW every rule returns cannot be turned into a refusal."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALLOW.allowed = False  # type: ignore[misc]
    assert ALLOW.allowed is True


def test_reason_codes_when_read_then_value_is_the_name() -> None:
    """Reason codes are stable strings equal to their names (alerts and dashboards key on them)."""
    assert all(reason.value == reason.name for reason in Reason)
    assert all(state.value == state.name for state in RiskState)


def test_deny_when_options_passed_by_position_then_type_error() -> None:
    """``until``, ``trip_breaker`` and ``state`` are keyword-only: none can take another's place."""
    with pytest.raises(TypeError):
        deny(Reason.DAILY_DRAWDOWN, "10 % down", NOW)  # type: ignore[call-arg]
