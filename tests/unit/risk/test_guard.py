"""The guard engine (app/risk/guard.py): rule order, the one deny path, fail closed."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from app.circuit_breaker import BreakerStatus, disable_breaker, read_breaker
from app.registry import Registry
from app.risk.breaker_view import FileBreakerView, MemoryBreakerView
from app.risk.decision import Decision, Reason, RiskState
from app.risk.guard import Guard, GuardMode, reset_process_errors
from app.risk.incidents import IncidentSink
from app.risk.rules import PositionSizeRule, Rule
from app.risk.snapshot import AccountSnapshot, Candle, GuardContext, OpenPosition
from app.settings import RiskSettings
from tests.helpers import REPO_ROOT
from tests.unit.risk.builders import NEXT_MIDNIGHT, NOW, account, breaker, entry, settings
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


def _checks(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("tradingbot_guard_entry_checks_total", {"outcome": outcome})
        or 0.0
    )


@pytest.mark.parametrize(("mode", "exported"), [(GuardMode.LIVE, 1.0), (GuardMode.BACKTEST, 0.0)])
def test_allowed_entry_when_live_then_counted_for_prometheus(
    tmp_path: Path, mode: GuardMode, exported: float
) -> None:
    """Live and dry-run, each allowed entry adds one to the entry-check counter the exporter
    serves; a backtest's or hyperopt's allowed entries do not (nothing exports them, and
    the counter's lock is a cost on every simulated entry)."""
    guard, _ = make_guard(tmp_path, mode)
    before = _checks("allowed")

    assert guard.check_entry(snap(guard), entry(), NOW).allowed

    assert _checks("allowed") - before == exported
    assert guard.allowed == 1


@pytest.mark.parametrize(("mode", "exported"), [(GuardMode.LIVE, 1.0), (GuardMode.BACKTEST, 0.0)])
def test_refused_entry_when_live_then_counted_for_prometheus(
    tmp_path: Path, mode: GuardMode, exported: float
) -> None:
    """The same for refusals, in both counters: the entry-check outcome and the reason. A
    backtest's refusals are counted in its guard_summary line instead."""
    guard, _ = make_guard(tmp_path, mode, live_max_concurrent_trades="1")
    acct = snap(guard, positions=(OpenPosition("LTC/BTC", 5.0),))
    reason = {"reason": "MAX_CONCURRENT_TRADES"}
    before = (
        _checks("refused"),
        REGISTRY.get_sample_value("tradingbot_guard_entry_refusals_total", reason) or 0.0,
    )

    assert not guard.check_entry(acct, entry(), NOW).allowed

    after = (
        _checks("refused"),
        REGISTRY.get_sample_value("tradingbot_guard_entry_refusals_total", reason) or 0.0,
    )
    assert (after[0] - before[0], after[1] - before[1]) == (exported, exported)
    assert guard.refusals == {"MAX_CONCURRENT_TRADES": 1}


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


# -- ROUND 3 OF MUTATION TESTING: what the survivors showed untested -------------------------


def _levels(risk_log: LogReader, message: str) -> list[str]:
    return [r["level"] for r in risk_log() if r["message"] == message]


def _with_rules(guard: Guard, *rules: Rule, incidents: IncidentSink | None = None) -> Guard:
    """The same guard (settings, mode, breaker) with other rules and sink."""
    return Guard(
        guard.settings,
        mode=guard.mode,
        breaker=guard.breaker,
        incidents=incidents,
        correlation_id="test-cid",
        rules=rules,
    )


class ExplodingPositionRule(PositionSizeRule):
    """A position size rule whose trimming raises: stands in for a bug in sizing."""

    def trim(self, proposed: float, wallet: float, min_stake: float | None) -> Any:
        raise ZeroDivisionError("sizing bug")


@pytest.mark.parametrize(
    ("mode", "state_level", "trip_level", "info_level"),
    [
        (GuardMode.LIVE, "INFO", "CRITICAL", "INFO"),
        (GuardMode.BACKTEST, "INFO", "INFO", "DEBUG"),
        (GuardMode.HYPEROPT, "DEBUG", "DEBUG", "DEBUG"),
    ],
)
def test_log_levels_when_each_mode_then_as_documented(
    tmp_path: Path,
    risk_log: LogReader,
    mode: GuardMode,
    state_level: str,
    trip_level: str,
    info_level: str,
) -> None:
    """Live: state changes and trims at INFO, a real trip CRITICAL. Backtest: state changes
    and the simulated trip at INFO, trims and caps at DEBUG. Hyperopt: all of it at DEBUG
    (thousands of epochs)."""
    guard, _ = make_guard(
        tmp_path, mode, max_daily_drawdown_pct="0.05", max_position_pct="0.02", max_leverage="3"
    )

    guard.evaluate_account(snap(guard, unrealised=-60.0), NOW)
    guard.size_stake(snap(guard), pair="ETH/BTC", proposed=50.0, min_stake=None, now=NOW)
    guard.cap_leverage(pair="ETH/BTC", requested=5.0, now=NOW)

    assert _levels(risk_log, "risk_state_changed") == [state_level]
    assert _levels(risk_log, "circuit_breaker_tripped") == [trip_level]
    assert _levels(risk_log, "stake_trimmed") == [info_level]
    assert _levels(risk_log, "leverage_capped") == [info_level]


def test_evaluate_account_when_rule_sets_a_state_then_guard_state_follows(
    tmp_path: Path,
) -> None:
    """The loop's account check moves the state itself (HALTED by the daily loss cap, until
    the next midnight), not only entry checks."""
    guard, _ = make_guard(tmp_path, daily_loss_cap_pct="0.01")

    decision = guard.evaluate_account(snap(guard, realised_today=-50.0), NOW)

    assert decision.reason is Reason.DAILY_LOSS_CAP
    assert guard.state.state is RiskState.HALTED
    assert guard.summary()["state"] == "HALTED"


def test_entry_refused_line_when_decision_has_an_end_then_until_logged_else_absent(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A refusal with an end (the daily cap: next midnight) logs it; one without has no
    ``until`` field at all."""
    guard, _ = make_guard(tmp_path, daily_loss_cap_pct="0.01", live_max_concurrent_trades="1")
    guard.check_entry(snap(guard, positions=(OpenPosition("A/B", 1.0),)), entry(), NOW)
    guard.check_entry(snap(guard, realised_today=-50.0), entry(), NOW)

    concurrent, capped = [r for r in risk_log() if r["message"] == "entry_refused"]
    assert "until" not in concurrent
    assert capped["until"] == NEXT_MIDNIGHT.isoformat().replace("+00:00", "Z")
    assert (capped["side"], capped["rate"], capped["stake"]) == ("long", 100.0, 10.0)


def test_latch_when_rule_does_not_latch_then_refusal_not_held(tmp_path: Path) -> None:
    """Only latching rules hold a refusal: a breaker active until later that a person
    disables early lets the next entry through at once."""
    guard, _ = make_guard(tmp_path)
    on = account(breaker_state=breaker(BreakerStatus.ACTIVE, until=NOW + timedelta(hours=4)))

    assert guard.check_entry(on, entry(), NOW).reason is Reason.CIRCUIT_BREAKER
    assert guard.check_entry(account(), entry(), NOW + timedelta(minutes=1)).allowed


def test_latch_when_its_end_long_past_then_checked_afresh(tmp_path: Path) -> None:
    """A latched daily cap is released by its end: an hour after midnight (not only at it)
    the rules decide again."""
    guard, _ = make_guard(tmp_path, daily_loss_cap_pct="0.01")
    assert not guard.check_entry(snap(guard, realised_today=-50.0), entry(), NOW).allowed
    later = NEXT_MIDNIGHT + timedelta(hours=1)

    assert guard.check_entry(snap(guard, at=later), entry(), later).allowed


@pytest.mark.parametrize("proposed", [0.0, -0.5, -5.0, float("nan"), float("inf"), -math.inf])
def test_size_stake_when_proposal_not_a_positive_number_then_zero_without_refusal(
    tmp_path: Path, proposed: float
) -> None:
    """Nothing to size (0, negative, NaN, infinite) is no trade: exactly 0, with or without
    the position rule, and not counted as a refusal."""
    sized, _ = make_guard(tmp_path, max_position_pct="0.02")
    unsized = _with_rules(sized)

    for guard in (sized, unsized):
        stake = guard.size_stake(snap(guard), pair="A/B", proposed=proposed, min_stake=1.0, now=NOW)
        assert stake == 0.0 and math.copysign(1.0, stake) == 1.0
        assert guard.refusals == {}


def test_size_stake_when_stake_under_one_coin_then_kept(tmp_path: Path) -> None:
    """A BTC-quoted stake is a fraction of a coin: 0.5 is a real stake, not "nothing"."""
    guard, _ = make_guard(tmp_path)

    assert guard.size_stake(snap(guard), pair="A/B", proposed=0.5, min_stake=None, now=NOW) == 0.5


def test_size_stake_when_under_the_cap_then_unchanged_and_not_logged_as_trimmed(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A stake within the cap (below it or exactly on it) is returned as proposed, with no
    ``stake_trimmed`` line."""
    guard, _ = make_guard(tmp_path, max_position_pct="0.02")

    for proposed in (5.0, 20.0):  # the cap is 2 % of 1000
        got = guard.size_stake(snap(guard), pair="A/B", proposed=proposed, min_stake=1.0, now=NOW)
        assert got == proposed

    assert _levels(risk_log, "stake_trimmed") == []


def test_size_stake_when_sizing_raises_then_zero_and_guard_error(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A bug in sizing fails closed: exactly 0 (no trade), a GUARD_ERROR refusal and an
    ERROR line naming where."""
    guard, _ = make_guard(tmp_path)
    guard = _with_rules(guard, ExplodingPositionRule(0.02))

    stake = guard.size_stake(snap(guard), pair="A/B", proposed=50.0, min_stake=None, now=NOW)

    assert stake == 0.0 and math.copysign(1.0, stake) == 1.0
    assert guard.refusals == {"GUARD_ERROR": 1}
    (line,) = [r for r in risk_log() if r["message"] == "guard_error"]
    assert "size_stake: ZeroDivisionError: sizing bug" in line["detail"]


def test_cap_leverage_when_exactly_at_the_limit_then_unchanged_and_not_logged(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """The limit itself is allowed: no ``leverage_capped`` line for a request equal to it."""
    guard, _ = make_guard(tmp_path, max_leverage="3")

    assert guard.cap_leverage(pair="X/Y", requested=3.0, now=NOW) == 3.0
    assert _levels(risk_log, "leverage_capped") == []


def test_report_error_when_live_then_error_line_and_incident_with_traceback(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """An error outside an entry check (e.g. in bot_loop_start) refuses nothing but is
    logged at ERROR with its traceback and recorded as an incident with the excerpt."""
    guard, registry = make_guard(tmp_path)
    try:
        raise ValueError("no candles")
    except ValueError as exc:
        guard.report_error(exc, NOW, where="bot_loop_start")

    (line,) = [r for r in risk_log() if r["message"] == "guard_error"]
    assert (line["level"], line["where"]) == ("ERROR", "bot_loop_start")
    assert line["detail"] == "ValueError: no candles"
    (incident,) = registry.list_incidents()
    assert (incident.severity, incident.description) == (
        "error",
        "guard error in bot_loop_start: ValueError: no candles",
    )
    assert incident.log_excerpt_path is not None
    assert "Traceback" in Path(incident.log_excerpt_path).read_text()
    assert guard.refusals == {}


def test_report_error_when_no_incident_sink_then_logged_only(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A guard without a sink (no registry) still logs the error and never raises."""
    guard, _ = make_guard(tmp_path)
    guard = _with_rules(guard)

    guard.report_error(ValueError("x"), NOW, where="bot_loop_start")

    assert _levels(risk_log, "guard_error") == ["ERROR"]


def test_errors_when_backtest_then_first_of_process_in_full_the_rest_counted(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """Backtests: the first GUARD_ERROR of the process gets its ERROR line and incident,
    later ones (this guard or a fresh one) only counts; a reset starts again."""
    guard, registry = make_guard(tmp_path, GuardMode.BACKTEST)
    guard = _with_rules(guard, ExplodingRule(), incidents=guard.incidents)
    fresh = _with_rules(guard, ExplodingRule(), incidents=guard.incidents)

    # An hour apart: the sink's rate limit per reason would hide extra incidents otherwise.
    for hour, checker in enumerate((guard, guard, fresh)):
        at = NOW + timedelta(hours=hour)
        assert checker.check_entry(snap(checker, at=at), entry(), at).reason is Reason.GUARD_ERROR
    guard.report_error(ValueError("loop"), NOW + timedelta(hours=3), where="bot_loop_start")

    assert _levels(risk_log, "guard_error") == ["ERROR"]
    assert len(registry.list_incidents()) == 1
    assert guard.refusals == {"GUARD_ERROR": 2}
    reset_process_errors()
    guard.check_entry(snap(guard), entry(), NOW)
    assert _levels(risk_log, "guard_error") == ["ERROR", "ERROR"]


def test_errors_when_live_then_every_one_logged_with_traceback(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """Live, every GUARD_ERROR gets its ERROR line, not only the first of the process."""
    guard, _ = make_guard(tmp_path)
    guard = _with_rules(guard, ExplodingRule(), incidents=guard.incidents)

    for _ in range(3):
        guard.check_entry(snap(guard), entry(), NOW)

    errors = [r for r in risk_log() if r["message"] == "guard_error"]
    assert [e["level"] for e in errors] == ["ERROR"] * 3
    assert all("ZeroDivisionError" in e["exception"] for e in errors)


def test_incident_excerpt_when_refusal_then_none_when_error_then_traceback(
    tmp_path: Path,
) -> None:
    """A rule's refusal has no log excerpt; a guard error's incident carries its traceback."""
    guard, registry = make_guard(tmp_path, live_max_concurrent_trades="1")
    guard.check_entry(snap(guard, positions=(OpenPosition("A/B", 1.0),)), entry(), NOW)
    broken = _with_rules(guard, ExplodingRule(), incidents=guard.incidents)
    broken.check_entry(snap(broken), entry(), NOW)

    by_severity = {i.severity: i for i in registry.list_incidents()}
    assert by_severity["warning"].log_excerpt_path is None
    excerpt = by_severity["error"].log_excerpt_path
    assert excerpt is not None and "ZeroDivisionError: boom" in Path(excerpt).read_text()


def test_trip_when_breaker_file_unwritable_then_held_logged_and_announced(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A trip whose file cannot be written still counts as a trip: an ERROR with the
    traceback, then the CRITICAL trip line and the critical incident; entries stay refused."""
    guard, registry = make_guard(tmp_path, max_daily_drawdown_pct="0.05")
    (tmp_path / "state").write_text("a file where the state folder should be")

    decision = guard.evaluate_account(account(unrealised=-60.0), NOW)

    assert decision.reason is Reason.DAILY_DRAWDOWN
    (error,) = [r for r in risk_log() if r["message"] == "guard_error"]
    assert error["where"] == "circuit breaker trip"
    assert "CircuitBreakerError" in error["exception"]
    assert _levels(risk_log, "circuit_breaker_tripped") == ["CRITICAL"]
    assert [i.severity for i in registry.list_incidents()] == ["critical"]
    assert guard.breaker.state(NOW).active


def test_trip_when_tripped_again_within_the_incident_window_then_recorded_again(
    tmp_path: Path,
) -> None:
    """Every real trip is an incident: a second trip minutes after a person disabled the
    first is not swallowed by the incident rate limit."""
    guard, registry = make_guard(
        tmp_path, max_daily_drawdown_pct="0.05", incident_rate_limit_sec="3600"
    )
    guard.evaluate_account(snap(guard, unrealised=-60.0), NOW)
    disable_breaker(guard.settings.breaker_file, reason="checked", now=NOW)
    later = NOW + timedelta(minutes=2)

    guard.evaluate_account(snap(guard, at=later, unrealised=-60.0), later)

    assert [i.severity for i in registry.list_incidents()] == ["critical", "critical"]


def test_trip_when_simulated_or_without_sink_then_no_incident_and_no_error(
    tmp_path: Path,
) -> None:
    """A backtest trip writes no incident although the guard has a sink; a live guard
    without a sink trips without failing."""
    backtest, registry = make_guard(tmp_path, GuardMode.BACKTEST, max_daily_drawdown_pct="0.05")
    live, _ = make_guard(tmp_path / "live", max_daily_drawdown_pct="0.05")
    live = Guard(
        live.settings,
        mode=GuardMode.LIVE,
        breaker=live.breaker,
        incidents=None,
        correlation_id="c",
    )

    backtest.evaluate_account(snap(backtest, unrealised=-60.0), NOW)
    decision = live.evaluate_account(snap(live, unrealised=-60.0), NOW)

    assert registry.list_incidents() == []
    assert decision.reason is Reason.DAILY_DRAWDOWN
    assert read_breaker(live.settings.breaker_file, NOW).status is BreakerStatus.ACTIVE


def test_reset_counts_when_new_run_then_counts_and_latches_cleared(tmp_path: Path) -> None:
    """The next backtest (or epoch) starts from zero allowed, zero refused, no latch."""
    guard, _ = make_guard(tmp_path, GuardMode.BACKTEST, daily_loss_cap_pct="0.01")
    guard.check_entry(snap(guard), entry(), NOW)
    guard.check_entry(snap(guard, realised_today=-50.0), entry(), NOW)

    guard.reset_counts()

    summary = guard.summary()
    assert (summary["allowed"], summary["refused"], summary["refusals"]) == (0, 0, {})
    assert guard.check_entry(snap(guard), entry(), NOW).allowed  # the day's latch is gone


def test_needs_candle_when_candle_rules_configured_then_true_else_false(tmp_path: Path) -> None:
    """The runtime fetches the last candle only for a guard whose rules need it."""
    with_candle, _ = make_guard(tmp_path, max_entry_deviation_pct="0.01")
    without, _ = make_guard(tmp_path / "b")

    assert with_candle.needs_candle is True
    assert without.needs_candle is False


def test_summary_when_backtest_then_mode_state_and_simulated_breaker(tmp_path: Path) -> None:
    """The summary names the mode, the state and whether the breaker is simulated."""
    guard, _ = make_guard(tmp_path, GuardMode.BACKTEST)

    summary = guard.summary()

    assert (summary["mode"], summary["state"], summary["breaker_simulated"]) == (
        "backtest",
        "ACTIVE",
        True,
    )


@pytest.mark.parametrize("call", ["init", "size_stake", "cap_leverage", "fail", "report_error"])
def test_guard_calls_when_options_given_by_position_then_refused(tmp_path: Path, call: str) -> None:
    """Pairs, reasons, amounts and ids are keyword-only: no caller can swap two of them by
    position (a stake for a minimum, a pair for a place)."""
    guard, _ = make_guard(tmp_path)
    acct, exc = snap(guard), ValueError("x")
    with pytest.raises(TypeError):
        if call == "init":
            Guard(guard.settings, GuardMode.LIVE, guard.breaker, None, "cid")  # type: ignore[misc]
        elif call == "size_stake":
            guard.size_stake(acct, "A/B", 5.0, None, NOW)  # type: ignore[misc]
        elif call == "cap_leverage":
            guard.cap_leverage("A/B", 2.0, NOW)  # type: ignore[misc]
        elif call == "fail":
            guard.fail(exc, NOW, "A/B", "here")  # type: ignore[misc]
        else:
            guard.report_error(exc, NOW, "here")  # type: ignore[misc]


FRESH_PROCESS = """
import sys
from datetime import UTC, datetime
from app.registry import Registry
from app.risk.breaker_view import MemoryBreakerView
from app.risk.guard import Guard, GuardMode
from app.risk.incidents import IncidentSink
from app.settings import load_settings
settings = load_settings({"RISK_DB_PATH": sys.argv[1]}, dotenv_path=None)
registry = Registry.from_settings(settings)
sink = IncidentSink(settings, correlation_id="c", run_id=None, recorder=registry)
guard = Guard(settings, mode=GuardMode.BACKTEST, breaker=MemoryBreakerView(), incidents=sink,
              correlation_id="c")
for hour in range(3):  # an hour apart: past the sink's rate limit per reason
    guard.fail(ValueError("x"), datetime(2026, 1, 1, hour, tzinfo=UTC), pair="A/B", where=str(hour))
print(" | ".join(i.description for i in registry.list_incidents()))
"""


def test_errors_when_fresh_process_then_its_first_error_recorded(tmp_path: Path) -> None:
    """A new process (a backtest) starts with no error seen: its first GUARD_ERROR is
    recorded as an incident, the later ones only counted."""
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "reg.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "entry refused for A/B: GUARD_ERROR: 0: ValueError: x"
