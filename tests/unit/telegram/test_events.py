"""Log events to Telegram notices: what is sent, what is not, and what each message says."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.logs import Event, log_event
from app.registry import Registry
from app.risk import breaker_commands
from app.risk.breaker_view import FileBreakerView
from app.risk.decision import Reason, RiskState
from app.risk.guard import Guard, GuardMode
from app.telegram.events import SENT_EVENTS, EventTranslator, Notice, render
from tests.unit.risk.builders import NOW, account
from tests.unit.risk.builders import settings as risk_settings


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[_Records]:
    """Every record of the ``tradingbot`` tree, as the notification handler receives them."""
    root = logging.getLogger("tradingbot")
    handler = _Records()
    old, root.handlers = root.handlers, [handler]
    try:
        yield handler
    finally:
        root.handlers = old


def _notices(records: _Records, translator: EventTranslator | None = None) -> list[Notice]:
    translator = translator or EventTranslator()
    found = [translator.translate(r) for r in records.records]
    return [n for n in found if n is not None]


_log = logging.getLogger("tradingbot.test")


def _event(event: Event | str, *, correlation_id: str = "c1", **fields: Any) -> None:
    if isinstance(event, Event):
        log_event(_log, logging.WARNING, event, correlation_id=correlation_id, **fields)
    else:  # lines written with plain ``extra=`` (runner, sweep)
        _log.warning(event, extra={"correlation_id": correlation_id, **fields})


def test_breaker_cli_functions_when_enabled_and_disabled_then_two_notices(
    records: _Records, tmp_path: Path
) -> None:
    """The library behind scripts/circuit_breaker.py produces 'ENABLED until' and 'disabled'."""
    file = tmp_path / "circuit_breaker.json"
    with Registry(f"sqlite:///{tmp_path / 'r.sqlite'}") as registry:
        until = NOW + timedelta(minutes=30)
        breaker_commands.enable(
            file, reason="exchange outage", until=until, recorder=registry, now=NOW
        )
        breaker_commands.disable(file, reason="done", recorder=registry, now=NOW)

    enabled, disabled = _notices(records)
    assert enabled.headline == (
        "Circuit breaker ENABLED until 2025-08-17 12:30Z: entries and runs stop"
    )
    assert ("reason", "exchange outage") in enabled.details
    assert disabled.headline.startswith("Circuit breaker disabled (was active)")
    assert (enabled.severity, disabled.severity) == ("warning", "info")
    assert enabled.rate_key == disabled.rate_key == "circuit_breaker"


def test_breaker_view_when_active_breaker_runs_out_then_one_expired_notice(
    records: _Records, tmp_path: Path
) -> None:
    """A bot's breaker view announces the expiry once; the notice is unique per end time."""
    file = tmp_path / "circuit_breaker.json"
    until = datetime.now(UTC) + timedelta(minutes=5)
    with Registry(f"sqlite:///{tmp_path / 'r.sqlite'}") as registry:
        breaker_commands.enable(file, reason="maintenance", until=until, recorder=registry)
    view = FileBreakerView(file)
    view.state(until - timedelta(minutes=1))
    view.state(until + timedelta(seconds=1))
    view.state(until + timedelta(seconds=2))

    expired = [n for n in _notices(records) if n.event == "circuit_breaker_expired"]
    assert len(expired) == 1
    assert expired[0].unique_key == f"circuit_breaker_expired:{until:%Y-%m-%d %H:%M:%S}Z"
    assert ("reason", "maintenance") in expired[0].details


def _live_guard(tmp_path: Path, **limits: str) -> Guard:
    _event(Event.GUARD_STARTED, mode="live", strategy="GuardedChurnStrategy")
    return Guard(
        risk_settings(**limits),
        mode=GuardMode.LIVE,
        breaker=FileBreakerView(tmp_path / "cb.json"),
        incidents=None,
        correlation_id="c1",
    )


def test_live_guard_when_daily_loss_cap_then_halted_then_resumed_notices(
    records: _Records, tmp_path: Path
) -> None:
    """A real live guard halting on the daily loss cap, then a new day: HALTED, resumed."""
    guard = _live_guard(tmp_path, daily_loss_cap_pct="0.05")
    guard.evaluate_account(account(realised_today=-100.0), NOW)
    tomorrow = NOW + timedelta(days=1)
    guard.evaluate_account(account(taken_at=tomorrow, day_start=tomorrow), tomorrow)

    halted, resumed = _notices(records)
    assert halted.headline == (
        "Bot HALTED: GuardedChurnStrategy (DAILY_LOSS_CAP) until 2025-08-18 00:00Z"
    )
    assert halted.severity == "warning"
    assert resumed.headline == "Bot resumed: GuardedChurnStrategy (was HALTED)"


def test_guard_when_backtest_then_no_notice_at_all(records: _Records, tmp_path: Path) -> None:
    """Simulated decisions (backtest/hyperopt guards) are not operations events."""
    _event(Event.GUARD_STARTED, mode="backtest", strategy="S")
    _event(Event.RISK_STATE_CHANGED, old="ACTIVE", new="HALTED", reason="DAILY_LOSS_CAP")
    _event(Event.GUARD_ERROR, where="check_entry", detail="boom")
    _event(Event.CIRCUIT_BREAKER_TRIPPED, simulated=True, reason="DAILY_DRAWDOWN")

    assert _notices(records) == []


def test_risk_state_when_halted_by_breaker_then_breaker_message_alone_says_it(
    records: _Records,
) -> None:
    """HALTED/ACTIVE caused by the breaker are not sent per bot (the breaker's are)."""
    _event(Event.GUARD_STARTED, mode="live", strategy="S")
    _event(Event.RISK_STATE_CHANGED, old="ACTIVE", new="HALTED", reason=Reason.CIRCUIT_BREAKER)
    _event(Event.RISK_STATE_CHANGED, old="HALTED", new="ACTIVE", reason=Reason.ALLOWED)
    _event(Event.RISK_STATE_CHANGED, old="ACTIVE", new=RiskState.COOLDOWN, reason="LOSS_STREAK")

    (cooldown,) = _notices(records)
    assert cooldown.headline == "Bot COOLDOWN: S (LOSS_STREAK)"


def test_trip_when_critical_incident_follows_then_sent_once(records: _Records) -> None:
    """The trip's critical incident is the same event: one message, not two."""
    _event(Event.GUARD_STARTED, mode="live", strategy="S")
    _event(Event.CIRCUIT_BREAKER_TRIPPED, simulated=False, reason="DAILY_DRAWDOWN", detail="8 %")
    _event(Event.INCIDENT_LOGGED, severity="critical", description="circuit breaker tripped")
    _event(Event.INCIDENT_LOGGED, correlation_id="other", severity="critical", description="x")
    _event(Event.INCIDENT_LOGGED, correlation_id="other", severity="warning", description="y")

    tripped, incident = _notices(records)
    assert tripped.headline == "Circuit breaker TRIPPED by S: DAILY_DRAWDOWN"
    assert tripped.severity == incident.severity == "critical"
    assert incident.headline == "CRITICAL incident: x"


def test_gates_and_runner_when_run_refused_or_failed_then_notices(records: _Records) -> None:
    """Gate refusals and run_failed (a plain ``extra=`` line) become warning/error notices."""
    _event(Event.CIRCUIT_BREAKER_BLOCK, kind="backtest", strategy="S", reason="CIRCUIT_BREAKER")
    _event("run_failed", reason="exited with code 2")
    _event("run_interrupted", reason="the runner is gone")

    refused, failed, interrupted = _notices(records)
    assert (interrupted.headline, interrupted.rate_key) == ("Run INTERRUPTED", "run_failed")
    assert refused.headline == "Run refused: backtest S (CIRCUIT_BREAKER)"
    assert refused.rate_key == "run_refused:CIRCUIT_BREAKER"
    assert (failed.headline, failed.severity) == ("Run FAILED", "error")
    assert ("reason", "exited with code 2") in failed.details


def test_sweep_when_finished_then_one_notice_with_every_verdict(records: _Records) -> None:
    """Per-strategy verdict lines are gathered into the sweep_finished message."""
    _event("sweep_verdict", correlation_id="sweep_1", strategy="A", passed=False)
    _event("sweep_promoted", correlation_id="sweep_1", strategy="B", run_id="run_9")
    _event("sweep_finished", correlation_id="sweep_1", exit_code=0)

    (finished,) = _notices(records)
    assert finished.headline == "Sweep finished: sweep_1: 1 of 2 strategies promoted"
    assert ("verdicts", "A: not promoted; B: PROMOTED run run_9") in finished.details


def test_render_when_ids_known_then_headline_details_ids_host_and_time(records: _Records) -> None:
    """The text: severity and headline first, then details, ids, host and UTC time."""
    fields = {"kind": "hyperopt", "strategy": "S", "reason": "CONCURRENCY_LIMIT"}
    log_event(_log, logging.WARNING, Event.SLOTS_FULL, correlation_id="c9", run_id="run_1",
              detail="2 slots held", **fields)  # fmt: skip
    (notice,) = _notices(records)
    text = render(notice, host="box")

    lines = text.splitlines()
    assert lines[0] == "[WARNING] Run refused: hyperopt S (CONCURRENCY_LIMIT)"
    assert "detail: 2 slots held" in lines
    assert "run_id run_1 | correlation_id c9" in lines
    assert lines[-1].startswith("box | 20")


def test_sent_events_when_listed_then_each_documented_in_the_runbook() -> None:
    """Every event that can send a message is in the RUNBOOK's Telegram section."""
    runbook = (Path(__file__).resolve().parents[3] / "docs" / "RUNBOOK.md").read_text()
    section = runbook[runbook.index("## Telegram") :]
    assert sorted(e for e in SENT_EVENTS if f"`{e}`" not in section) == []


_FIELD_NAMES = ["reason", "until", "new", "old", "mode", "strategy", "severity", "description",
                "kind", "detail", "components", "exit_code", "simulated"]  # fmt: skip
_VALUES = st.one_of(st.none(), st.text(max_size=30), st.integers(), st.booleans(), st.floats())


@settings(max_examples=300, deadline=None)
@given(
    event=st.sampled_from(sorted(SENT_EVENTS | {"guard_started", "sweep_verdict"})),
    fields=st.dictionaries(st.sampled_from(_FIELD_NAMES), _VALUES),
)
def test_translate_when_fields_are_anything_then_never_raises(
    event: str, fields: dict[str, Any]
) -> None:
    """Odd field values (None, numbers, garbage times) never break the logging call."""
    record = logging.LogRecord("tradingbot.x", logging.WARNING, __file__, 1, event, None, None)
    record.tb_fields = fields
    notice = EventTranslator().translate(record)
    if notice is not None:
        assert render(notice, host="h").startswith(f"[{notice.severity.upper()}] ")
