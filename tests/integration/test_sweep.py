"""A real 2-fold walk-forward sweep of one strategy, offline, as a user runs it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SHARED_PAIRS, clean_env, make_project

pytestmark = pytest.mark.freqtrade

STRATEGY = "MeanReversionStrategy"


def _runs(project: Path) -> dict[str, dict[str, Any]]:
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("select * from runs order by started_utc").fetchall()
    return {row["run_id"]: dict(row) for row in rows}


def test_sweep_when_run_then_every_run_is_recorded_and_succeeded(
    sweep: tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    """Two folds: a hyperopt and an out-of-sample backtest each, all in the registry."""
    project, _, summary = sweep
    runs = _runs(project)
    [strategy] = summary["strategies"]
    folds = strategy["folds"]

    assert len(folds) == 2
    assert summary["run_ids"] == [
        run for fold in folds for run in (fold["hyperopt"]["run_id"], fold["backtest"]["run_id"])
    ]
    assert list(runs) == summary["run_ids"]  # nothing else ran, in this order
    assert [runs[r]["kind"] for r in summary["run_ids"]] == ["hyperopt", "backtest"] * 2
    assert {runs[r]["status"] for r in runs} == {"succeeded"}
    assert {runs[r]["strategy"] for r in runs} == {STRATEGY}


def test_sweep_when_run_then_windows_walk_forward_without_overlap(
    sweep: tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    """Each fold trains on its window and tests on the window right after it."""
    project, _, summary = sweep
    runs = _runs(project)
    folds = summary["strategies"][0]["folds"]

    for fold in folds:
        assert fold["train"]["end"] == fold["test"]["start"]
        assert runs[fold["hyperopt"]["run_id"]]["timerange"] == fold["train"]["timerange"]
        assert runs[fold["backtest"]["run_id"]]["timerange"] == fold["test"]["timerange"]
    assert folds[0]["test"]["end"] == folds[1]["test"]["start"]
    assert folds[1]["test"]["timerange"].endswith("-20180129T0000")


def test_sweep_when_fold_tested_then_backtest_ran_that_folds_hyperopt_params(
    sweep: tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    """The OOS backtest loaded the fold's best parameters from the fold's copy."""
    project, _, summary = sweep
    runs = _runs(project)

    for fold in summary["strategies"][0]["folds"]:
        hyperopt = runs[fold["hyperopt"]["run_id"]]
        backtest = runs[fold["backtest"]["run_id"]]
        assert json.loads(backtest["params"]) == json.loads(hyperopt["params"])
        command = json.loads(backtest["command"])
        path = project / command[command.index("--strategy-path") + 1]
        assert path.name == f"fold_{fold['fold']}"
        assert json.loads((path / f"{STRATEGY}.json").read_text())["params"] == json.loads(
            hyperopt["params"]
        )
        assert "trades" in fold["backtest"]["metrics"]  # the backtest's results were ingested


def test_sweep_when_promote_then_only_a_passing_strategy_changes_its_param_file(
    sweep: tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    """--promote writes the last fold's parameters only if the OOS threshold passed."""
    project, _, summary = sweep
    verdict = summary["strategies"][0]["verdict"]
    param_file = project / "user_data" / "strategies" / f"{STRATEGY}.json"
    last_hyperopt = summary["strategies"][0]["folds"][-1]["hyperopt"]["run_id"]

    assert verdict["candidate_run_id"] == last_hyperopt
    if verdict["passed"]:
        assert verdict["promoted"]
        assert json.loads(param_file.read_text())["params"] == json.loads(
            _runs(project)[last_hyperopt]["params"]
        )
    else:
        assert not verdict["promoted"]
        assert verdict["reasons"]
        assert not param_file.exists()  # the real parameter file was never touched


def test_sweep_when_run_then_output_goes_to_the_sweep_log_and_bar_to_stderr(
    sweep: tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    """stdout holds only the JSON; Freqtrade's reports are in sweep.log."""
    project, result, summary = sweep
    folder = project / "user_data" / "hyperopt_results" / "sweeps" / summary["sweep_id"]

    log = (folder / "sweep.log").read_text()
    assert log.count("epochs saved to") == 2  # both hyperopts' output
    assert log.count("BACKTESTING REPORT") == 2  # both backtests' reports
    assert json.loads((folder / "sweep.json").read_text()) == summary
    assert "sweep finished" in result.stderr
    assert "BACKTESTING REPORT" not in result.stdout


def test_sweep_when_run_then_every_run_carries_the_sweep_id_as_correlation_id(
    sweep: tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    """One correlation id per sweep ties its runs, logs and incidents together."""
    project, _, summary = sweep

    assert {run["correlation_id"] for run in _runs(project).values()} == {summary["sweep_id"]}


def _recorded(project: Path) -> bool:
    """True once a run is recorded; the schema may still be being created meanwhile."""
    try:
        return bool(_runs(project))
    except sqlite3.OperationalError:
        return False


def test_sweep_when_interrupted_during_a_run_then_stops_with_130_and_runs_nothing_more(
    shared_data: Path, tmp_path: Path
) -> None:
    """Ctrl-C reaches Freqtrade through the runner; the sweep then stops instead of going on."""
    project = make_project(tmp_path)
    args = [sys.executable, "-m", "app", "sweep", "--strategies", STRATEGY, "--folds", "2"]
    args += ["--timerange", "20180111-20180129", "--epochs", "200", "-j", "1"]
    args += ["--datadir", str(shared_data), "--pairs", *SHARED_PAIRS]
    proc = subprocess.Popen(
        args, cwd=project, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        db = project / "user_data" / "registry" / "strategies_registry.sqlite"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (db.exists() and _recorded(project)):
            time.sleep(0.5)  # wait until the first hyperopt is recorded (Freqtrade is starting)
        time.sleep(8)  # let Freqtrade get into its epochs
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert proc.returncode == 130, stderr[-2000:]
    assert b"Interrupted" in stderr
    runs = list(_runs(project).values())
    assert [(r["kind"], r["status"]) for r in runs] == [("hyperopt", "interrupted")]
