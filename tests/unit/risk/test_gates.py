"""Pre-run gates (app/risk/gates.py) against a real SQLite registry and real files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.circuit_breaker import enable_breaker
from app.registry import Registry
from app.risk.decision import Reason
from app.risk.gates import RunRefused, RunRequest, run_gates
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
