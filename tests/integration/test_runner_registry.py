"""The guarded runner and the registry, end to end with the real Freqtrade CLI.

One throwaway project hosts a short story: a backtest, a hyperopt, the promotion of
its best parameters, a backtest that uses them, verification of that backtest, a
strategy edit that makes verification refuse, an import of the result files into a
second registry, and a Freqtrade command that fails.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.results import read_backtest
from tests.helpers import SHARED_PAIRS, make_project, run_cli

pytestmark = pytest.mark.freqtrade

STRATEGY = "MaCrossoverStrategy"
CONFIG = "user_data/configs/config.backtest.json"


def _db(project: Path) -> Path:
    return project / "user_data" / "registry" / "strategies_registry.sqlite"


def _query(project: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(_db(project)) as conn:
        return conn.execute(sql, args).fetchall()


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _backtest(project: Path, data: Path) -> subprocess.CompletedProcess[str]:
    args = ["freqtrade", "--offline", "backtesting", "-c", CONFIG, "--strategy", STRATEGY]
    args += ["--datadir", str(data), "--pairs", *SHARED_PAIRS]
    return run_cli(args, project)


@pytest.fixture(scope="module")
def story(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs the whole story once; tests assert on its parts."""
    project = make_project(tmp_path_factory.mktemp("story"))
    out: dict[str, Any] = {"project": project}
    out["backtest"] = _backtest(project, shared_data)
    hyperopt = ["freqtrade", "--offline", "hyperopt", "-c", CONFIG, "--strategy", STRATEGY]
    hyperopt += ["--datadir", str(shared_data), "--pairs", *SHARED_PAIRS, "--epochs", "4"]
    hyperopt += ["--spaces", "buy", "--hyperopt-loss", "SharpeHyperOptLossDaily"]
    hyperopt += ["--random-state", "7", "-j", "1"]
    out["hyperopt"] = run_cli(hyperopt, project)
    [(hyperopt_run,)] = _query(project, "select run_id from runs where kind='hyperopt'")
    out["promote"] = run_cli(["params", "promote", hyperopt_run, "--json"], project)
    out["promoted_backtest"] = _backtest(project, shared_data)
    runs = _query(project, "select run_id from runs where kind='backtest' order by started_utc")
    out["backtest_runs"] = [r[0] for r in runs]
    out["verify"] = run_cli(["registry", "verify", runs[-1][0], "--json"], project)
    return out


def _summary_row(stdout: str) -> list[str]:
    """The strategy's row of Freqtrade's STRATEGY SUMMARY table, as cells."""
    summary = stdout[stdout.index("STRATEGY SUMMARY") :]
    row = next(line for line in summary.splitlines() if f" {STRATEGY} " in line)
    return [cell.strip() for cell in row.strip("│ ").split("│")]


def test_backtest_when_recorded_then_metrics_equal_freqtrades_report(story: dict[str, Any]) -> None:
    """Registry metrics are the numbers Freqtrade printed and stored for this very run."""
    project = story["project"]
    result = story["backtest"]
    assert result.returncode == 0, result.stderr[-3000:]
    run_id = story["backtest_runs"][0]
    [(status, result_path, equity)] = _query(
        project, "select status, result_path, equity_hash from runs where run_id=?", run_id
    )
    metrics = dict(_query(project, "select key, value from metrics where run_id=?", run_id))
    [stats] = read_backtest(project / result_path)
    cells = _summary_row(result.stdout)
    win, draw, loss = (int(x) for x in cells[6].split()[:3])

    assert status == "succeeded"
    assert equity == stats.equity_hash
    assert metrics == stats.metrics
    assert metrics["trades"] == int(cells[1])
    assert metrics["profit_total_abs"] == pytest.approx(float(cells[3]), abs=1e-8)
    assert metrics["profit_total_pct"] == pytest.approx(float(cells[4]), abs=0.005)
    assert (metrics["wins"], metrics["draws"], metrics["losses"]) == (win, draw, loss)
    assert metrics["max_drawdown_abs"] == pytest.approx(float(cells[7].split()[0]), abs=1e-8)
    assert set(metrics) >= {
        "max_drawdown_account", "sharpe", "sortino", "calmar", "profit_factor", "expectancy",
        "cagr", "market_change", "winrate",
    }  # fmt: skip


def test_backtest_when_recorded_then_inputs_fingerprinted(story: dict[str, Any]) -> None:
    """Each run records its command and fingerprints of strategy, config and data."""
    project = story["project"]
    [(command, s_hash, c_hash, d_hash, pairs)] = _query(
        project,
        "select command, strategy_hash, config_hash, data_fingerprint, pairs from runs "
        "where run_id=?",
        story["backtest_runs"][0],
    )

    assert json.loads(command)[:4] == ["tradingbot", "freqtrade", "--offline", "backtesting"]
    assert all(len(h) == 64 for h in (s_hash, c_hash, d_hash))
    assert sorted(json.loads(pairs)) == sorted(SHARED_PAIRS)


def test_promote_when_hyperopt_best_then_next_backtest_uses_promoted_values(
    story: dict[str, Any],
) -> None:
    """`params promote` writes Freqtrade's parameter file; the next backtest loads it."""
    project = story["project"]
    assert story["hyperopt"].returncode == 0, story["hyperopt"].stderr[-3000:]
    promoted = _json(story["promote"])
    [(params,)] = _query(project, "select params from runs where kind='hyperopt'")
    best_buy = json.loads(params)["buy"]
    second = story["promoted_backtest"]

    assert second.returncode == 0, second.stderr[-3000:]
    assert Path(promoted["file"]).name == f"{STRATEGY}.json"
    log = second.stdout + second.stderr
    for name, value in best_buy.items():
        assert re.search(rf"Strategy Parameter: {name} = {value}\b", log), name
    [(run_params,)] = _query(
        project, "select params from runs where run_id=?", story["backtest_runs"][-1]
    )
    assert json.loads(run_params)["buy"] == best_buy


def test_verify_when_nothing_changed_then_reproduced(story: dict[str, Any]) -> None:
    """A re-run of an unchanged backtest makes the same trades."""
    report = _json(story["verify"])

    assert report["reproduced"] is True
    assert report["new_equity_hash"] == report["recorded_equity_hash"]
    assert report["new_run_id"] != report["run_id"]


def test_verify_when_strategy_changed_then_refused_with_reason(story: dict[str, Any]) -> None:
    """Verification refuses when the strategy changed since the run, and runs nothing."""
    project = story["project"]
    strategy = project / "user_data" / "strategies" / f"{STRATEGY}.py"
    runs_before = _query(project, "select count(*) from runs")
    original = strategy.read_text()
    strategy.write_text(original + "\n# edited after the run\n")
    try:
        result = run_cli(["registry", "verify", story["backtest_runs"][0]], project)
    finally:
        strategy.write_text(original)

    assert result.returncode == 8
    assert "cannot be verified" in result.stderr
    assert "strategy" in result.stderr
    assert _query(project, "select count(*) from runs") == runs_before


def test_import_when_run_twice_then_second_adds_nothing(
    story: dict[str, Any], tmp_path: Path
) -> None:
    """Results made elsewhere are imported once; importing again adds nothing."""
    project = story["project"]
    other = make_project(tmp_path / "other")
    results = other / "incoming"
    shutil.copytree(project / "user_data" / "backtest_results", results / "backtest_results")
    shutil.copytree(project / "user_data" / "hyperopt_results", results / "hyperopt_results")

    first = _json(run_cli(["registry", "import", "incoming", "--json"], other))
    second = _json(run_cli(["registry", "import", "incoming", "--json"], other))

    backtests = len(list((results / "backtest_results").glob("*.zip")))
    expected = backtests + 1  # every backtest (including the verification) and the hyperopt
    assert len(first["imported"]) == expected
    assert second["imported"] == []
    assert len(second["skipped"]) == expected
    kinds = sorted(k for (k,) in _query(other, "select kind from runs"))
    assert backtests == 3
    assert kinds == ["backtest"] * backtests + ["hyperopt"]
    metrics = dict(_query(other, "select m.key, m.value from metrics m join runs r "
                                 "using(run_id) where r.kind='hyperopt'"))  # fmt: skip
    assert metrics["epochs"] == 4


def test_failing_freqtrade_when_run_then_failed_incident_and_exit_code(
    shared_data: Path, project: Path
) -> None:
    """A failing command passes its exit code through, records failed and an incident."""
    args = ["freqtrade", "--offline", "backtesting", "-c", CONFIG, "--strategy", "NoSuchStrategy"]
    args += ["--datadir", str(shared_data)]

    result = run_cli(args, project)

    assert result.returncode == 2  # Freqtrade's own code for "Impossible to load Strategy"
    [(run_id, status, code)] = _query(project, "select run_id, status, exit_code from runs")
    assert (status, code) == ("failed", 2)
    [(severity, description, excerpt)] = _query(
        project,
        "select severity, description, log_excerpt_path from incidents where run_id=?",
        run_id,
    )
    assert severity == "error"
    assert "exited with code 2" in description
    assert "NoSuchStrategy" in (project / excerpt).read_text()
