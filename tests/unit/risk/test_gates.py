"""Pre-run gates (app/risk/gates.py) against a real SQLite registry and real files."""

from __future__ import annotations

import dataclasses
import io
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.circuit_breaker import enable_breaker
from app.registry import Registry
from app.risk.decision import Reason
from app.risk.gates import RunRefused, RunRequest, WaitingLine, run_gates
from app.risk.slots import Slot, SlotManager
from app.settings import RiskSettings
from tests.unit.risk.builders import settings
from tests.unit.risk.conftest import LogReader


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[RiskSettings, Registry]]:
    s = settings(state_dir=str(tmp_path / "state"), db_path=str(tmp_path / "reg.sqlite"))
    registry = Registry.from_settings(s)
    yield s, registry
    registry.close()


def _request(registry: Registry, kind: str = "backtest", strategy: str | None = "S") -> RunRequest:
    run_id = registry.start_run(kind=kind, correlation_id="cid", strategy=strategy)
    return RunRequest(kind=kind, strategy=strategy, run_id=run_id, correlation_id="cid")


def _with(s: RiskSettings, **changes: object) -> RiskSettings:
    return s.model_copy(update=changes)


def _record_drawdown(registry: Registry, strategy: str, value: float) -> None:
    run_id = registry.start_run(kind="backtest", correlation_id="old", strategy=strategy)
    registry.add_metrics(run_id, {"max_drawdown_account": value})
    registry.finish_run(run_id, status="succeeded", exit_code=0)


def _refused(request: RunRequest, s: RiskSettings, registry: Registry) -> RunRefused:
    """Enter the gates expecting a refusal; return it."""
    with pytest.raises(RunRefused) as error, run_gates(request, s, registry):
        pytest.fail("the run must not start")
    return error.value


def _trip(s: RiskSettings) -> None:
    enable_breaker(s.breaker_file, reason="incident-123", now=datetime.now(UTC))


@pytest.mark.parametrize("kind", ["backtest", "hyperopt", "dry_run", "live"])
def test_gates_when_breaker_active_then_refused_with_incident(
    env: tuple[RiskSettings, Registry], risk_log: LogReader, kind: str
) -> None:
    """An active breaker refuses every trading or optimising run (exit code 10)."""
    s, registry = env
    _trip(s)
    request = _request(registry, kind)
    refused = _refused(request, s, registry)
    assert refused.exit_code == 10
    assert refused.decision.reason is Reason.CIRCUIT_BREAKER
    assert "incident-123" in str(refused)
    incidents = registry.list_incidents(run_id=request.run_id)
    assert len(incidents) == 1
    assert "CIRCUIT_BREAKER" in incidents[0].description
    block = [r for r in risk_log() if r["message"] == "circuit_breaker_block"]
    assert block[0]["level"] == "WARNING"
    assert block[0]["run_id"] == request.run_id


def test_gates_when_breaker_file_corrupt_then_refused_naming_problem(
    env: tuple[RiskSettings, Registry],
) -> None:
    """An unreadable breaker file counts as active."""
    s, registry = env
    s.breaker_file.parent.mkdir(parents=True)
    s.breaker_file.write_text('{"active": "yes"}')
    refused = _refused(_request(registry), s, registry)
    assert "'active' must be true or false" in str(refused)


def test_gates_when_allow_when_cb_then_runs_with_warning_and_incident(
    env: tuple[RiskSettings, Registry], risk_log: LogReader
) -> None:
    """RISK_ALLOW_WHEN_CB=1 lets the run start, loudly."""
    s, registry = env
    _trip(s)
    request = _request(registry)
    ran = False
    with run_gates(request, _with(s, allow_when_cb=True), registry):
        ran = True
    assert ran
    override = [r for r in risk_log() if r["message"] == "circuit_breaker_override"]
    assert override[0]["level"] == "WARNING"
    assert "RISK_ALLOW_WHEN_CB=1" in registry.list_incidents(run_id=request.run_id)[0].description


def test_gates_when_command_not_gated_then_breaker_ignored(
    env: tuple[RiskSettings, Registry],
) -> None:
    """download-data and other commands are not stopped by the breaker and take no slot."""
    s, registry = env
    _trip(s)
    with run_gates(_request(registry, "download"), s, registry):
        assert not (s.state_dir / "running").exists()


@pytest.mark.parametrize(("recorded", "refused"), [(0.3, True), (0.2, True), (0.19, False)])
def test_gates_when_recorded_drawdown_at_or_above_limit_then_max_dd_block(
    env: tuple[RiskSettings, Registry], risk_log: LogReader, recorded: float, refused: bool
) -> None:
    """The strategy's latest succeeded backtest drawdown >= the limit blocks a backtest."""
    s, registry = env
    _record_drawdown(registry, "S", recorded)
    request = _request(registry)
    gated = _with(s, max_backtest_drawdown_pct=0.2)
    if refused:
        assert _refused(request, gated, registry).decision.reason is Reason.MAX_DD_BLOCK
        assert [r["level"] for r in risk_log() if r["message"] == "max_dd_block"] == ["WARNING"]
    else:
        with run_gates(request, gated, registry):
            pass


def test_gates_when_no_recorded_backtest_then_allowed(env: tuple[RiskSettings, Registry]) -> None:
    """A strategy never backtested has no drawdown to block on."""
    s, registry = env
    with run_gates(_request(registry), _with(s, max_backtest_drawdown_pct=0.2), registry):
        pass


def test_gates_when_strategy_list_has_one_bad_strategy_then_blocked(
    env: tuple[RiskSettings, Registry],
) -> None:
    """--strategy-list: every listed strategy is checked."""
    s, registry = env
    _record_drawdown(registry, "Bad", 0.5)
    request = _request(registry, strategy="Good,Bad")
    refused = _refused(request, _with(s, max_backtest_drawdown_pct=0.2), registry)
    assert "Bad's latest" in str(refused)


def test_gates_when_strategy_unknown_then_refused(env: tuple[RiskSettings, Registry]) -> None:
    """With a drawdown limit set, a run without a strategy name cannot be checked: refuse."""
    s, registry = env
    request = _request(registry, strategy=None)
    refused = _refused(request, _with(s, max_backtest_drawdown_pct=0.2), registry)
    assert "names no strategy" in str(refused)


def test_gates_when_registry_fails_then_refused_fail_closed(
    env: tuple[RiskSettings, Registry], tmp_path: Path
) -> None:
    """A registry error while reading the drawdown refuses the run (REGISTRY_ERROR)."""
    s, registry = env
    request = _request(registry)
    garbage = tmp_path / "broken.sqlite"
    broken = Registry(f"sqlite:///{garbage}")
    garbage.write_bytes(b"this is not an SQLite database" * 100)
    refused = _refused(request, _with(s, max_backtest_drawdown_pct=0.2), broken)
    assert refused.decision.reason is Reason.REGISTRY_ERROR


def test_gates_when_block_raises_then_slot_released(
    env: tuple[RiskSettings, Registry], risk_log: LogReader
) -> None:
    """The slot is released however the run ends (here: an exception)."""
    s, registry = env
    running = s.state_dir / "running"
    with pytest.raises(KeyboardInterrupt), run_gates(_request(registry), s, registry):
        assert len(list(running.glob("*.lock"))) == 1
        raise KeyboardInterrupt
    assert list(running.glob("*.lock")) == []
    messages = [r["message"] for r in risk_log()]
    assert messages.index("slot_acquired") < messages.index("slot_released")


def test_gates_when_slots_full_then_concurrency_limit(
    env: tuple[RiskSettings, Registry], risk_log: LogReader
) -> None:
    """RISK_MAX_CONCURRENT_BACKTESTS=1: a second backtest is refused while one runs."""
    s, registry = env
    limited = _with(s, max_concurrent_backtests=1)
    with run_gates(_request(registry), limited, registry):
        refused = _refused(_request(registry), limited, registry)
    assert refused.decision.reason is Reason.CONCURRENCY_LIMIT
    assert [r["level"] for r in risk_log() if r["message"] == "slots_full"] == ["WARNING"]


# -- WAITING FOR A SLOT -----------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 5.0  # small: elapsed time is now minus then, not a remainder

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _line_request() -> RunRequest:
    return RunRequest(kind="hyperopt", strategy="S", run_id="r", correlation_id="cid")


def test_waiting_line_when_not_a_terminal_then_a_line_per_change_or_every_30_s(
    risk_log: LogReader,
) -> None:
    """In logs one line per change of the runs ahead, else one every 30 s (not twice a
    second), and one slot_waiting event for the whole wait."""
    stream, clock = io.StringIO(), _Clock()
    line = WaitingLine(_line_request(), stream=stream, clock=clock)

    line.show(2, 60.4)
    clock.now += 29.5
    line.show(2, 30.9)
    clock.now += 0.5  # 30 s since the last line
    line.show(2, 30.4)
    clock.now += 1
    line.show(1, 29.4)
    line.show(1, 29.0)
    line.show(2, 28.8)  # a ticket ahead of ours came back: the count changed
    clock.now += 45  # long past the 30 s
    line.show(2, 12.0)
    line.done()

    assert stream.getvalue().splitlines() == [
        "waiting for a hyperopt slot: 2 ahead, 60 s left",
        "waiting for a hyperopt slot: 2 ahead, 30 s left",
        "waiting for a hyperopt slot: 1 ahead, 29 s left",
        "waiting for a hyperopt slot: 2 ahead, 29 s left",
        "waiting for a hyperopt slot: 2 ahead, 12 s left",
    ]
    waiting = [r for r in risk_log() if r["message"] == "slot_waiting"]
    assert [(r["ahead"], r["wait_sec"], r["level"]) for r in waiting] == [(2, 60.4, "INFO")]


def test_waiting_line_when_a_terminal_then_one_line_redrawn_and_ended() -> None:
    """On a terminal every call redraws the same line; done() ends it with a newline."""
    stream = _Terminal()
    line = WaitingLine(_line_request(), stream=stream, clock=_Clock())

    line.show(1, 10.0)
    line.show(1, 9.5)
    line.done()

    assert stream.getvalue() == (
        "\r\x1b[Kwaiting for a hyperopt slot: 1 ahead, 10 s left"
        "\r\x1b[Kwaiting for a hyperopt slot: 1 ahead, 10 s left\n"
    )


@pytest.mark.parametrize("stream", [_Terminal(), io.StringIO()], ids=["terminal", "log"])
def test_waiting_line_when_never_shown_then_done_writes_nothing(
    stream: io.StringIO, risk_log: LogReader
) -> None:
    """A run that got its slot at once leaves no empty line and no waiting event."""
    WaitingLine(_line_request(), stream=stream).done()

    assert stream.getvalue() == ""
    assert [r for r in risk_log() if r["message"] == "slot_waiting"] == []


def test_waiting_line_when_no_stream_given_then_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """The runner's waiting line goes to stderr, never to stdout (kept for results)."""
    WaitingLine(_line_request()).show(0, 5.0)

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.endswith("\nwaiting for a hyperopt slot: 0 ahead, 5 s left\n")


def _hold_slot(s: RiskSettings) -> tuple[SlotManager, Slot]:
    manager = SlotManager(s.state_dir, limit=1, ttl_sec=900)
    slot, _ = manager.acquire(kind="backtest", run_id="other", correlation_id="other")
    assert slot is not None
    return manager, slot


def test_gates_when_slots_full_after_waiting_then_refusal_says_how_long(
    env: tuple[RiskSettings, Registry], capsys: pytest.CaptureFixture[str]
) -> None:
    """A bounded wait that ends without a slot refuses naming the wait and the fix."""
    s, registry = env
    _hold_slot(s)
    request = dataclasses.replace(_request(registry), slot_wait_sec=1.0)

    refused = _refused(request, _with(s, max_concurrent_backtests=1), registry)

    assert refused.decision.reason is Reason.CONCURRENCY_LIMIT
    assert "1 backtest/hyperopt runs hold all RISK_MAX_CONCURRENT_BACKTESTS=1 slots after " in (
        str(refused)
    )
    assert "after waiting 1 s (lock files in " in str(refused)
    assert "waiting for a backtest slot: 0 ahead" in capsys.readouterr().err


def test_gates_when_slots_full_without_waiting_then_refusal_names_the_wait_option(
    env: tuple[RiskSettings, Registry],
) -> None:
    """A refusal at once says nothing of a wait, and how to wait next time."""
    s, registry = env
    _hold_slot(s)

    refused = _refused(_request(registry), _with(s, max_concurrent_backtests=1), registry)

    assert "slots (lock files in " in str(refused)
    assert "after waiting" not in str(refused)
    assert str(refused).endswith("wait for a slot with --wait-for-slot SECONDS")


def test_gates_when_breaker_trips_while_waiting_then_refused_after_the_wait(
    env: tuple[RiskSettings, Registry],
) -> None:
    """The breaker is asked again after a wait: a trip meanwhile refuses the run, and the
    slot it got is given back."""
    s, registry = env
    manager, held = _hold_slot(s)

    def trip_then_free() -> None:
        _trip(s)
        manager.release(held)

    timer = threading.Timer(0.3, trip_then_free)
    timer.start()
    request = dataclasses.replace(_request(registry), slot_wait_sec=20.0)
    try:
        refused = _refused(request, _with(s, max_concurrent_backtests=1), registry)
    finally:
        timer.join()

    assert refused.decision.reason is Reason.CIRCUIT_BREAKER
    assert list((s.state_dir / "running").glob("*.lock")) == []


def test_gates_when_slot_taken_at_once_then_breaker_file_read_once(
    env: tuple[RiskSettings, Registry], risk_log: LogReader
) -> None:
    """No wait, no second look: waited_sec 0 is logged with the slot."""
    s, registry = env
    with run_gates(_request(registry), s, registry):
        pass

    (acquired,) = [r for r in risk_log() if r["message"] == "slot_acquired"]
    assert acquired["waited_sec"] < 0.5
    assert acquired["running"] == 1
    assert [r["level"] for r in risk_log() if r["message"] == "run_allowed"] == ["INFO"]


def test_gates_when_ttl_is_one_second_then_heartbeat_beats_within_it(
    env: tuple[RiskSettings, Registry],
) -> None:
    """The slot's heartbeat runs every third of RISK_CONCURRENCY_TTL_SEC, so even a 1 s TTL
    never lets another run reclaim a live slot."""
    s, registry = env
    running = s.state_dir / "running"
    with run_gates(_request(registry), _with(s, concurrency_ttl_sec=1), registry):
        (lock,) = running.glob("*.lock")
        os.utime(lock, (1.0, 1.0))
        deadline = time.monotonic() + 0.9
        while lock.stat().st_mtime == 1.0 and time.monotonic() < deadline:
            time.sleep(0.02)
        beaten = lock.stat().st_mtime > 1.0

    assert beaten


class _NoIncidents(Registry):
    def log_incident(self, **_fields: object) -> int:
        raise RuntimeError("registry is down")


def test_gates_when_incident_cannot_be_recorded_then_still_refused_and_logged(
    tmp_path: Path, env: tuple[RiskSettings, Registry], risk_log: LogReader
) -> None:
    """The refusal matters more than its record: a failing registry still refuses, with
    an ERROR line carrying the incident's text."""
    s, registry = env
    _trip(s)
    request = _request(registry)
    broken = _NoIncidents(f"sqlite:///{tmp_path / 'reg.sqlite'}")
    try:
        refused = _refused(request, s, broken)
    finally:
        broken.close()

    assert refused.decision.reason is Reason.CIRCUIT_BREAKER
    (failed,) = [r for r in risk_log() if r["message"] == "incident_failed"]
    assert failed["level"] == "ERROR"
    assert failed["error"] == "registry is down"
    assert failed["description"].startswith("backtest run refused: CIRCUIT_BREAKER: ")
    assert [r for r in risk_log() if r["message"] == "incident_logged"] == []


def test_waiting_line_and_request_when_misused_then_refused() -> None:
    """The stream and clock are keyword-only; a run request is a value nobody changes."""
    request = _line_request()
    with pytest.raises(TypeError):
        WaitingLine(request, io.StringIO())  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.kind = "live"  # type: ignore[misc]


@pytest.mark.parametrize("kind", ["hyperopt", "dry_run"])
def test_gates_when_drawdown_limit_set_and_not_a_backtest_then_not_checked(
    env: tuple[RiskSettings, Registry], kind: str
) -> None:
    """The recorded-drawdown gate is for backtests only: hyperopt and dry runs pass it."""
    s, registry = env
    _record_drawdown(registry, "S", 0.5)

    with run_gates(_request(registry, kind), _with(s, max_backtest_drawdown_pct=0.2), registry):
        pass
