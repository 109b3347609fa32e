"""The registry API on SQLite and PostgreSQL (the ``registry`` fixture is parametrized)."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

import pytest

from app.errors import RegistryError
from app.registry import Registry


def _succeeded_run(
    registry: Registry, strategy: str, metrics: dict[str, float], kind: str = "backtest"
) -> str:
    run_id = registry.start_run(kind=kind, correlation_id="corr", strategy=strategy)
    registry.add_metrics(run_id, metrics)
    registry.finish_run(run_id, status="succeeded", exit_code=0)
    return run_id


def test_start_run_when_called_then_running_record_with_every_field(registry: Registry) -> None:
    """start_run stores every given field and the status running; times are aware UTC."""
    run_id = registry.start_run(
        kind="backtest",
        correlation_id="corr-1",
        strategy="MaCrossoverStrategy",
        timeframe="5m",
        timerange="20180110-20180130",
        pairs=["ETH/BTC", "LTC/BTC"],
        config_hash="c" * 64,
        strategy_hash="s" * 64,
        data_fingerprint="d" * 64,
        params={"buy": {"fast": 10}},
        freqtrade_version="2026.9",
        command=["freqtrade", "backtesting", "--strategy", "MaCrossoverStrategy"],
        config_path="user_data/configs/config.backtest.json",
    )
    run = registry.get_run(run_id)
    assert run is not None
    assert re.fullmatch(r"run_\d{8}T\d{6}Z_[0-9a-f]{8}", run_id)
    assert run.status == "running"
    assert run.finished_utc is None
    assert run.started_utc.tzinfo == UTC
    assert run.pairs == ("ETH/BTC", "LTC/BTC")
    assert run.params == {"buy": {"fast": 10}}
    assert run.command == ("freqtrade", "backtesting", "--strategy", "MaCrossoverStrategy")
    assert (run.timeframe, run.timerange, run.config_hash) == ("5m", "20180110-20180130", "c" * 64)
    assert (run.strategy_hash, run.data_fingerprint) == ("s" * 64, "d" * 64)
    assert run.freqtrade_version == "2026.9"
    assert run.config_path == "user_data/configs/config.backtest.json"
    assert run.correlation_id == "corr-1"
    assert run.host


def test_finish_run_when_succeeded_then_status_times_and_outputs_stored(registry: Registry) -> None:
    """finish_run sets status, exit code, finished_utc >= started_utc and the outputs."""
    run_id = registry.start_run(kind="hyperopt", correlation_id="c", run_id="run_fixed_1")
    registry.finish_run(
        run_id,
        status="succeeded",
        exit_code=0,
        result_path="user_data/hyperopt_results/x.fthypt",
        equity_hash="e" * 64,
        params={"sell": {"slow": 50}},
    )
    run = registry.get_run("run_fixed_1")
    assert run is not None
    assert run.status == "succeeded"
    assert run.exit_code == 0
    assert run.finished_utc is not None
    assert run.finished_utc >= run.started_utc
    assert run.duration_s is not None
    assert run.duration_s >= 0
    assert run.result_path == "user_data/hyperopt_results/x.fthypt"
    assert run.equity_hash == "e" * 64
    assert run.params == {"sell": {"slow": 50}}


def test_finish_run_when_already_finished_then_refused(registry: Registry) -> None:
    """A run is finished once; the second call is refused and changes nothing."""
    run_id = registry.start_run(kind="backtest", correlation_id="c")
    registry.finish_run(run_id, status="failed", exit_code=2)
    with pytest.raises(RegistryError, match="already finished with status 'failed'"):
        registry.finish_run(run_id, status="succeeded", exit_code=0)
    run = registry.get_run(run_id)
    assert run is not None
    assert (run.status, run.exit_code) == ("failed", 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"kind": "paper"}, "run kind 'paper' is not valid; use one of backtest, hyperopt"),
        ({"kind": "backtest", "correlation_id": ""}, "correlation_id is empty"),
    ],
)
def test_start_run_when_bad_input_then_registry_error(
    registry: Registry, call: dict[str, str], message: str
) -> None:
    """Invalid kinds and empty correlation ids are refused with the allowed values."""
    kwargs = {"correlation_id": "c", **call}
    with pytest.raises(RegistryError, match=re.escape(message)):
        registry.start_run(**kwargs)  # type: ignore[arg-type]
    assert registry.list_runs() == []


@pytest.mark.parametrize("status", ["running", "done", ""])
def test_finish_run_when_status_invalid_then_registry_error(
    registry: Registry, status: str
) -> None:
    """Only succeeded, failed and blocked finish a run."""
    run_id = registry.start_run(kind="backtest", correlation_id="c")
    with pytest.raises(RegistryError, match="use one of succeeded, failed, blocked"):
        registry.finish_run(run_id, status=status, exit_code=0)


def test_finish_run_when_unknown_run_then_registry_error(registry: Registry) -> None:
    """Finishing a run that was never started names the id."""
    with pytest.raises(RegistryError, match="run 'run_nope' is not in the registry"):
        registry.finish_run("run_nope", status="failed", exit_code=1)


def test_start_run_when_run_id_taken_then_refused(registry: Registry) -> None:
    """An explicit run_id that already exists is refused instead of overwritten."""
    registry.start_run(kind="backtest", correlation_id="c", run_id="run_dup")
    with pytest.raises(RegistryError, match="run_id 'run_dup' already exists"):
        registry.start_run(kind="other", correlation_id="c", run_id="run_dup")


def test_add_metrics_when_key_repeated_then_value_replaced(registry: Registry) -> None:
    """add_metrics upserts on (run_id, key)."""
    run_id = registry.start_run(kind="backtest", correlation_id="c")
    registry.add_metrics(run_id, {"profit_total": 0.1, "trades": 12})
    registry.add_metrics(run_id, {"profit_total": 0.25})
    assert registry.run_metrics(run_id) == {"profit_total": 0.25, "trades": 12.0}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "is nan; store only finite numbers"),
        (float("inf"), "is inf; store only finite numbers"),
        ("1.5", "is '1.5' (str); metrics are numbers"),
        (True, "is True (bool); metrics are numbers"),
    ],
)
def test_add_metrics_when_value_invalid_then_nothing_stored(
    registry: Registry, value: object, message: str
) -> None:
    """Non-finite and non-numeric values are refused; the other metrics are not half-stored."""
    run_id = registry.start_run(kind="backtest", correlation_id="c")
    with pytest.raises(RegistryError, match=re.escape(message)):
        registry.add_metrics(run_id, {"ok": 1.0, "bad": value})  # type: ignore[dict-item]
    assert registry.run_metrics(run_id) == {}


def test_add_metrics_when_unknown_run_then_registry_error(registry: Registry) -> None:
    """Metrics of an unknown run are refused, not orphaned."""
    with pytest.raises(RegistryError, match="'run_ghost' is not in the registry"):
        registry.add_metrics("run_ghost", {"x": 1.0})


def test_latest_metric_when_several_runs_then_newest_succeeded_of_kind(registry: Registry) -> None:
    """The newest succeeded run of the strategy and kind having the key wins."""
    _succeeded_run(registry, "S", {"max_drawdown_account": 0.10})
    _succeeded_run(registry, "S", {"max_drawdown_account": 0.30})
    _succeeded_run(registry, "S", {"other": 1.0})  # newest, but without the key
    _succeeded_run(registry, "S", {"max_drawdown_account": 0.99}, kind="hyperopt")
    _succeeded_run(registry, "T", {"max_drawdown_account": 0.77})
    failed = registry.start_run(kind="backtest", correlation_id="c", strategy="S")
    registry.add_metrics(failed, {"max_drawdown_account": 0.55})
    registry.finish_run(failed, status="failed", exit_code=1)
    running = registry.start_run(kind="backtest", correlation_id="c", strategy="S")
    registry.add_metrics(running, {"max_drawdown_account": 0.66})

    assert registry.latest_metric("S", "max_drawdown_account") == pytest.approx(0.30)
    assert registry.latest_metric("S", "max_drawdown_account", kind="hyperopt") == 0.99
    assert registry.latest_metric("T", "max_drawdown_account") == 0.77
    assert registry.latest_metric("U", "max_drawdown_account") is None
    assert registry.latest_metric("S", "missing") is None


def test_list_runs_when_filtered_then_newest_first_and_limited(registry: Registry) -> None:
    """list_runs filters by strategy and kind, orders newest first and honours limit."""
    ids = [registry.start_run(kind="backtest", correlation_id="c", strategy="A") for _ in range(3)]
    registry.start_run(kind="hyperopt", correlation_id="c", strategy="A")
    registry.start_run(kind="backtest", correlation_id="c", strategy="B")

    runs = registry.list_runs(strategy="A", kind="backtest")
    assert [r.run_id for r in runs] == ids[::-1]
    assert len(registry.list_runs()) == 5
    assert len(registry.list_runs(limit=2)) == 2
    assert {r.strategy for r in registry.list_runs(kind="hyperopt")} == {"A"}
    with pytest.raises(RegistryError, match="limit 0 is not valid"):
        registry.list_runs(limit=0)


def test_find_run_by_result_path_when_recorded_then_found(registry: Registry) -> None:
    """Imports find an existing run by its result file; unknown paths give None."""
    run_id = registry.start_run(kind="backtest", correlation_id="c")
    registry.finish_run(run_id, status="succeeded", exit_code=0, result_path="r/a.zip")
    found = registry.find_run_by_result_path("r/a.zip")
    assert found is not None
    assert found.run_id == run_id
    assert registry.find_run_by_result_path("r/b.zip") is None


def test_log_incident_when_excerpt_then_file_written_and_path_stored(
    registry: Registry, tmp_path: Path
) -> None:
    """The excerpt goes to <incident_log_dir>/<id>.log; the id follows the documented shape."""
    run_id = registry.start_run(kind="backtest", correlation_id="corr-9")
    incident_id = registry.log_incident(
        severity="error",
        description="freqtrade exited 2",
        correlation_id="corr-9",
        run_id=run_id,
        log_excerpt="Traceback...\nBoom\n",
    )
    assert re.fullmatch(r"incident_\d{10}_\d+_corr-9(_\d+)?", incident_id)
    [incident] = registry.list_incidents()
    assert incident.incident_id == incident_id
    assert incident.run_id == run_id
    assert incident.severity == "error"
    assert incident.log_excerpt_path == str(tmp_path / "incidents" / f"{incident_id}.log")
    assert Path(incident.log_excerpt_path).read_text(encoding="utf-8") == "Traceback...\nBoom\n"


def test_log_incident_when_twice_in_same_second_then_ids_unique(registry: Registry) -> None:
    """Two incidents from one process in the same second get distinct ids."""
    first = registry.log_incident(severity="info", description="a", correlation_id="same")
    second = registry.log_incident(severity="info", description="b", correlation_id="same")
    assert first != second
    assert {i.incident_id for i in registry.list_incidents()} == {first, second}


def test_log_incident_when_correlation_has_path_chars_then_excerpt_stays_in_dir(
    registry: Registry, tmp_path: Path
) -> None:
    """A correlation id with ../ cannot place the excerpt outside the incident folder."""
    incident_id = registry.log_incident(
        severity="warning", description="x", correlation_id="../../etc/x", log_excerpt="e"
    )
    [incident] = registry.list_incidents()
    assert "/" not in incident_id
    assert incident.correlation_id == "../../etc/x"
    assert Path(str(incident.log_excerpt_path)).parent == tmp_path / "incidents"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"severity": "fatal"}, "severity 'fatal' is not valid; use one of info, warning"),
        ({"run_id": "run_ghost"}, "run 'run_ghost' is not in the registry"),
    ],
)
def test_log_incident_when_bad_input_then_refused_without_excerpt(
    registry: Registry, tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    """Bad severities and unknown runs are refused and leave no excerpt file behind."""
    call = {"severity": "error", "description": "d", "correlation_id": "c", "log_excerpt": "x"}
    with pytest.raises(RegistryError, match=re.escape(message)):
        registry.log_incident(**{**call, **kwargs})
    assert registry.list_incidents() == []
    assert list((tmp_path / "incidents").glob("*.log")) == []


def test_list_incidents_when_filtered_by_run_then_only_that_run(registry: Registry) -> None:
    """list_incidents(run_id=...) returns the incidents of that run, newest first."""
    run_id = registry.start_run(kind="backtest", correlation_id="c")
    registry.log_incident(severity="info", description="other", correlation_id="c")
    registry.log_incident(severity="error", description="mine", correlation_id="c", run_id=run_id)
    assert [i.description for i in registry.list_incidents(run_id=run_id)] == ["mine"]
    assert len(registry.list_incidents(limit=1)) == 1


def test_registry_when_reopened_then_data_persists(db_url: str) -> None:
    """A second Registry on the same URL sees what the first recorded."""
    with Registry(db_url) as first:
        run_id = first.start_run(kind="download", correlation_id="c")
    with Registry(db_url) as second:
        run = second.get_run(run_id)
    assert run is not None
    assert run.kind == "download"


def test_start_run_when_params_hold_nan_then_refused_on_every_backend(registry: Registry) -> None:
    """NaN would be stored by SQLite but refused by PostgreSQL's JSON: refuse it everywhere."""
    with pytest.raises(RegistryError, match="cannot be stored as JSON"):
        registry.start_run(kind="hyperopt", correlation_id="c", params={"buy": {"x": float("nan")}})
    assert registry.list_runs() == []


def test_start_and_finish_when_original_times_given_then_stored_in_utc(registry: Registry) -> None:
    """Imported runs keep their own times (converted to UTC); naive times are refused."""
    from datetime import datetime, timedelta, timezone

    paris = timezone(timedelta(hours=1))
    naive = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # the mistake under test
    run_id = registry.start_run(
        kind="backtest", correlation_id="c", started_utc=datetime(2026, 1, 1, 13, 0, tzinfo=paris)
    )
    registry.finish_run(
        run_id,
        status="succeeded",
        exit_code=0,
        finished_utc=datetime(2026, 1, 1, 12, 5, tzinfo=UTC),
    )
    run = registry.get_run(run_id)
    assert run is not None
    assert run.started_utc == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert run.duration_s == 300.0
    with pytest.raises(RegistryError, match="started_utc must be timezone-aware"):
        registry.start_run(kind="other", correlation_id="c", started_utc=naive)
    other = registry.start_run(kind="other", correlation_id="c")
    with pytest.raises(RegistryError, match="finished_utc must be timezone-aware"):
        registry.finish_run(other, status="failed", exit_code=1, finished_utc=naive)
