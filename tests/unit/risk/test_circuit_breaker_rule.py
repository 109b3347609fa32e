"""The circuit breaker rule (app/risk/rules/circuit_breaker.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.circuit_breaker import BreakerStatus
from app.risk.decision import Reason, RiskState
from app.risk.rules import CircuitBreakerRule
from tests.unit.risk.builders import NOW, account, breaker, ctx, entry, settings

RULE = CircuitBreakerRule.from_settings(settings())


@pytest.mark.parametrize("status", [BreakerStatus.INACTIVE, BreakerStatus.EXPIRED])
def test_entry_when_breaker_not_active_then_allowed(status: BreakerStatus) -> None:
    """Inactive and expired breakers let entries through."""
    decision = RULE.check(ctx(account(breaker_state=breaker(status)), entry()), NOW)
    assert decision.allowed


def test_entry_when_breaker_active_then_refused_and_halted() -> None:
    """An active breaker refuses with CIRCUIT_BREAKER, its reason and end, state HALTED."""
    until = NOW + timedelta(minutes=30)
    state = breaker(BreakerStatus.ACTIVE, until=until, reason="incident-123")
    decision = RULE.check(ctx(account(breaker_state=state), entry()), NOW)
    assert not decision.allowed
    assert decision.reason is Reason.CIRCUIT_BREAKER
    assert "incident-123" in decision.detail
    assert decision.until == until
    assert decision.state is RiskState.HALTED


def test_entry_when_breaker_file_unreadable_then_refused_naming_problem() -> None:
    """An unreadable breaker file counts as active (fail closed) and the detail says why."""
    state = breaker(BreakerStatus.UNREADABLE, problem="not valid JSON (x)")
    decision = RULE.check(ctx(account(breaker_state=state), entry()), NOW)
    assert decision.reason is Reason.CIRCUIT_BREAKER
    assert "not valid JSON" in decision.detail


def test_entry_when_until_passed_since_snapshot_then_allowed() -> None:
    """An ACTIVE state whose until lies before ``now`` no longer refuses (expiry is pure)."""
    state = breaker(BreakerStatus.ACTIVE, until=NOW)
    assert RULE.check(ctx(account(breaker_state=state), entry()), NOW).allowed
    assert not RULE.check(ctx(account(breaker_state=state)), NOW - timedelta(seconds=1)).allowed


def test_account_evaluation_when_breaker_active_then_halted_without_entry() -> None:
    """The breaker is account-level: it halts the account in bot_loop_start, entry or not."""
    state = breaker(BreakerStatus.ACTIVE, reason="manual")

    assert CircuitBreakerRule.account_level is True
    assert RULE.check(ctx(account(breaker_state=state)), NOW).state is RiskState.HALTED


def test_entry_when_until_passed_long_ago_then_allowed() -> None:
    """Any ``until`` before ``now`` has expired, not only one equal to it."""
    state = breaker(BreakerStatus.ACTIVE, until=NOW - timedelta(hours=2))

    assert RULE.check(ctx(account(breaker_state=state), entry()), NOW).allowed


def test_entry_when_unreadable_breaker_has_past_until_then_still_refused() -> None:
    """Only a readable ACTIVE breaker expires: an unreadable one refuses whatever its until."""
    state = breaker(
        BreakerStatus.UNREADABLE, until=NOW - timedelta(hours=2), problem="bad reason field"
    )

    decision = RULE.check(ctx(account(breaker_state=state), entry()), NOW)
    assert not decision.allowed
    assert decision.reason is Reason.CIRCUIT_BREAKER
