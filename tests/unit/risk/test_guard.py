"""The guard engine (app/risk/guard.py): rule order, the one deny path, fail closed."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.circuit_breaker import BreakerStatus, read_breaker
from app.registry import Registry
from app.risk.breaker_view import FileBreakerView, MemoryBreakerView
from app.risk.decision import Decision, Reason, RiskState
from app.risk.guard import Guard, GuardMode
from app.risk.incidents import IncidentSink
from app.risk.rules import Rule
from app.risk.snapshot import AccountSnapshot, Candle, GuardContext, OpenPosition
from app.settings import RiskSettings
from tests.unit.risk.builders import NEXT_MIDNIGHT, NOW, account, entry, settings
from tests.unit.risk.conftest import LogReader


class ExplodingRule(Rule):
    """Raises on every check: stands in for a bug in any rule."""

    name = "exploding"

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> ExplodingRule:
        return cls()

    def check(self, ctx: GuardContext, now: datetime) -> Decision:
        raise ZeroDivisionError("boom")


def make_guard(
    tmp_path: Path, mode: GuardMode = GuardMode.LIVE, **env: str
) -> tuple[Guard, Registry]:
    """A guard with a real SQLite registry and, live, a real breaker file in ``tmp_path``."""
    s = settings(state_dir=str(tmp_path / "state"), db_path=str(tmp_path / "reg.sqlite"), **env)
    registry = Registry.from_settings(s)
    breaker = FileBreakerView(s.breaker_file) if mode is GuardMode.LIVE else MemoryBreakerView()
    sink = IncidentSink(s, correlation_id="test-cid", run_id=None, recorder=registry)
    return Guard(s, mode=mode, breaker=breaker, incidents=sink, correlation_id="test-cid"), registry


def snap(guard: Guard, at: datetime = NOW, **fields: Any) -> AccountSnapshot:
    """An account whose breaker is what the guard's breaker view says now."""
    return account(taken_at=at, breaker_state=guard.breaker.state(at), **fields)


def test_entry_when_every_rule_passes_then_allowed_and_counted(tmp_path: Path) -> None:
    """An entry within every limit is allowed; the state stays ACTIVE."""
    guard, _ = make_guard(tmp_path, live_max_concurrent_trades="3", max_position_pct="0.5")
    decision = guard.check_entry(snap(guard), entry(), NOW)
    assert decision.allowed
    assert guard.allowed == 1
    assert guard.state.state is RiskState.ACTIVE


def test_entry_when_refused_live_then_logged_counted_and_incident(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A live refusal writes one WARNING entry_refused line and one incident."""
    guard, registry = make_guard(tmp_path, live_max_concurrent_trades="1")
    acct = snap(guard, positions=(OpenPosition("LTC/BTC", 5.0),))

    decision = guard.check_entry(acct, entry(), NOW)

    assert decision.reason is Reason.MAX_CONCURRENT_TRADES
    lines = [r for r in risk_log() if r["message"] == "entry_refused"]
    assert len(lines) == 1
    assert lines[0]["level"] == "WARNING"
    assert (lines[0]["reason"], lines[0]["pair"]) == ("MAX_CONCURRENT_TRADES", "ETH/BTC")
    assert lines[0]["correlation_id"] == "test-cid"
    incidents = registry.list_incidents()
    assert len(incidents) == 1
    assert "MAX_CONCURRENT_TRADES" in incidents[0].description
    assert guard.refusals == {"MAX_CONCURRENT_TRADES": 1}


def test_refusals_when_repeated_within_window_then_one_incident_per_reason(
    tmp_path: Path,
) -> None:
    """Incidents are rate-limited per reason; the next one counts the suppressed ones."""
    guard, registry = make_guard(
        tmp_path, live_max_concurrent_trades="1", incident_rate_limit_sec="300"
    )
    acct = snap(guard, positions=(OpenPosition("LTC/BTC", 5.0),))
    for minute in (0, 1, 2):
        guard.check_entry(acct, entry(), NOW + timedelta(minutes=minute))
    assert len(registry.list_incidents()) == 1

    guard.check_entry(acct, entry(), NOW + timedelta(minutes=5))

    incidents = registry.list_incidents()
    assert len(incidents) == 2
    assert "2 more like this" in incidents[0].description


def test_entry_when_a_rule_raises_then_refused_with_guard_error(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """Any exception inside the guard refuses the entry (fail closed) with an ERROR log."""
    guard, registry = make_guard(tmp_path)
    guard = Guard(
        guard.settings,
        mode=GuardMode.LIVE,
        breaker=guard.breaker,
        incidents=guard.incidents,
        correlation_id="test-cid",
        rules=(ExplodingRule(),),
    )

    decision = guard.check_entry(snap(guard), entry(), NOW)

    assert not decision.allowed
    assert decision.reason is Reason.GUARD_ERROR
    assert "ZeroDivisionError: boom" in decision.detail
    errors = [r for r in risk_log() if r["message"] == "guard_error"]
    assert len(errors) == 1
    assert errors[0]["level"] == "ERROR"
    assert "ZeroDivisionError" in errors[0]["exception"]
    assert registry.list_incidents()[0].severity == "error"


def test_entry_when_backtest_refusal_then_debug_log_and_no_incident(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """Backtest refusals are simulated decisions: DEBUG lines, counts, no incidents."""
    guard, registry = make_guard(tmp_path, GuardMode.BACKTEST, live_max_concurrent_trades="1")
    acct = snap(guard, positions=(OpenPosition("LTC/BTC", 5.0),))
    for _ in range(3):
        guard.check_entry(acct, entry(), NOW)
    refused = [r for r in risk_log() if r["message"] == "entry_refused"]
    assert [r["level"] for r in refused] == ["DEBUG"] * 3
    assert registry.list_incidents() == []
    assert guard.summary()["refusals"] == {"MAX_CONCURRENT_TRADES": 3}


def test_state_when_refused_repeatedly_then_one_state_change_logged(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """HALTED is logged once, however many entries it refuses; leaving it is logged once."""
    guard, _ = make_guard(tmp_path, daily_loss_cap_pct="0.01")
    capped = snap(guard, realised_today=-50.0)
    for minute in range(3):
        guard.check_entry(capped, entry(), NOW + timedelta(minutes=minute))
    guard.evaluate_account(snap(guard, at=NEXT_MIDNIGHT), NEXT_MIDNIGHT)

    changes = [r for r in risk_log() if r["message"] == "risk_state_changed"]
    assert [(c["old"], c["new"]) for c in changes] == [("ACTIVE", "HALTED"), ("HALTED", "ACTIVE")]
    assert changes[0]["reason"] == "DAILY_LOSS_CAP"


def test_daily_drawdown_when_live_then_breaker_file_tripped(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """Live, a daily drawdown writes an indefinite breaker, a CRITICAL line and an incident."""
    guard, registry = make_guard(tmp_path, max_daily_drawdown_pct="0.05")

    decision = guard.evaluate_account(snap(guard, unrealised=-60.0), NOW)

    assert decision.reason is Reason.DAILY_DRAWDOWN
    state = read_breaker(guard.settings.breaker_file, NOW)
    assert state.status is BreakerStatus.ACTIVE
    assert state.until is None
    assert "DAILY_DRAWDOWN" in (state.reason or "")
    tripped = [r for r in risk_log() if r["message"] == "circuit_breaker_tripped"]
    assert tripped[0]["level"] == "CRITICAL"
    assert any(i.severity == "critical" for i in registry.list_incidents())
    # From now on the breaker itself refuses, even after equity recovered.
    assert guard.check_entry(snap(guard), entry(), NOW).reason is Reason.CIRCUIT_BREAKER


def test_daily_drawdown_when_backtest_then_only_in_memory_breaker(tmp_path: Path) -> None:
    """A backtest trip stops that simulated run only: the real file is never written."""
    guard, _ = make_guard(tmp_path, GuardMode.BACKTEST, max_daily_drawdown_pct="0.05")

    guard.evaluate_account(snap(guard, unrealised=-60.0), NOW)

    assert not guard.settings.breaker_file.exists()
    assert guard.breaker.state(NOW).status is BreakerStatus.ACTIVE
    assert guard.check_entry(snap(guard), entry(), NOW).reason is Reason.CIRCUIT_BREAKER
    guard.breaker.reset()
    assert guard.check_entry(snap(guard), entry(), NOW).allowed


def test_entry_when_earlier_rule_refuses_then_candle_never_fetched(tmp_path: Path) -> None:
    """Market data is looked up only when every rule before the candle rules passed."""
    guard, _ = make_guard(tmp_path, live_max_concurrent_trades="1", max_entry_deviation_pct="0.01")
    calls: list[int] = []

    def candle() -> Candle:
        calls.append(1)
        return Candle(NOW - timedelta(minutes=5), 100.0)

    guard.check_entry(snap(guard, positions=(OpenPosition("A/B", 1.0),)), entry(), NOW, candle)
    assert calls == []
    decision = guard.check_entry(snap(guard), entry(rate=103.0), NOW, candle)
    assert calls == [1]
    assert decision.reason is Reason.ENTRY_DEVIATION


def test_size_stake_when_above_cap_then_trimmed_and_logged(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """custom_stake_amount's stake is cut to RISK_MAX_POSITION_PCT of the wallet."""
    guard, _ = make_guard(tmp_path, max_position_pct="0.02")
    stake = guard.size_stake(snap(guard), pair="ETH/BTC", proposed=50.0, min_stake=1.0, now=NOW)
    assert stake == pytest.approx(20.0)
    trimmed = [r for r in risk_log() if r["message"] == "stake_trimmed"]
    assert trimmed[0]["stake"] == pytest.approx(20.0)


def test_size_stake_when_below_minimum_after_trim_then_zero(tmp_path: Path) -> None:
    """A trimmed stake under the exchange minimum is refused (0), not raised by Freqtrade."""
    guard, _ = make_guard(tmp_path, max_position_pct="0.02")
    stake = guard.size_stake(snap(guard), pair="ETH/BTC", proposed=50.0, min_stake=25.0, now=NOW)
    assert stake == 0.0
    assert guard.refusals == {"POSITION_SIZE": 1}


@pytest.mark.parametrize(
    ("limit", "requested", "expected"),
    [(None, 7.0, 7.0), ("3", 7.0, 3.0), ("3", 2.0, 2.0), ("3", float("nan"), 1.0)],
)
def test_cap_leverage_when_above_limit_then_capped(
    tmp_path: Path, limit: str | None, requested: float, expected: float
) -> None:
    """Leverage is capped at RISK_MAX_LEVERAGE; a non-finite request becomes 1."""
    env = {"max_leverage": limit} if limit else {}
    guard, _ = make_guard(tmp_path, **env)
    assert guard.cap_leverage(pair="X/Y", requested=requested, now=NOW) == expected


def test_summary_when_logged_then_counts_per_reason(tmp_path: Path, risk_log: LogReader) -> None:
    """guard_summary reports allowed and refused counts by reason."""
    guard, _ = make_guard(tmp_path, GuardMode.BACKTEST, live_max_concurrent_trades="1")
    guard.check_entry(snap(guard), entry(), NOW)
    guard.check_entry(snap(guard, positions=(OpenPosition("A/B", 1.0),)), entry(), NOW)
    guard.log_summary()
    line = next(r for r in risk_log() if r["message"] == "guard_summary")
    assert (line["allowed"], line["refused"]) == (1, 1)
    assert line["refusals"] == {"MAX_CONCURRENT_TRADES": 1}


def test_daily_loss_cap_when_losses_recover_same_day_then_still_halted(tmp_path: Path) -> None:
    """The cap latches: open trades recovering after the cap do not reopen the day."""
    guard, _ = make_guard(tmp_path, daily_loss_cap_pct="0.01")
    assert guard.check_entry(snap(guard, unrealised=-20.0), entry(), NOW).reason is (
        Reason.DAILY_LOSS_CAP
    )
    recovered = snap(guard, unrealised=5.0, at=NOW + timedelta(hours=1))
    later = NOW + timedelta(hours=1)
    assert guard.check_entry(recovered, entry(), later).reason is Reason.DAILY_LOSS_CAP
    assert guard.evaluate_account(recovered, later).reason is Reason.DAILY_LOSS_CAP
    assert guard.check_entry(snap(guard, at=NEXT_MIDNIGHT), entry(), NEXT_MIDNIGHT).allowed
