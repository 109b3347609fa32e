"""Stock Freqtrade through ``tradingbot freqtrade --offline`` on the real shared candles."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.results import read_backtest, read_hyperopt
from tests.helpers import API_ENV, SHARED_PAIRS, clean_env, dry_run_args, make_project, run_cli

pytestmark = pytest.mark.freqtrade

BACKTEST = ("freqtrade", "--offline", "backtesting", "-c", "user_data/configs/config.backtest.json")


def _registry_rows(project: Path, sql: str) -> list[tuple[object, ...]]:
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def two_backtests(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """The same offline backtest run twice in one throwaway project."""
    project = make_project(tmp_path_factory.mktemp("project"))
    args = [*BACKTEST, "--strategy", "MaCrossoverStrategy", "--datadir", str(shared_data)]
    args += ["--pairs", *SHARED_PAIRS]
    runs = [run_cli(args, project) for _ in range(2)]
    return project, runs


def test_backtest_when_offline_then_freqtrade_prints_its_report(
    two_backtests: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    """Stock backtesting runs to its report with no internet."""
    _, runs = two_backtests
    for result in runs:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "STRATEGY SUMMARY" in result.stdout
        assert "MaCrossoverStrategy" in result.stdout


def test_backtest_when_run_twice_then_identical_trade_lists(
    two_backtests: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    """Offline backtests are deterministic: the same inputs give the same trades."""
    project, _ = two_backtests
    zips = sorted((project / "user_data" / "backtest_results").glob("*.zip"))
    assert len(zips) == 2
    first, second = (read_backtest(z)[0] for z in zips)

    assert len(first.trades) > 20
    assert first.trades == second.trades
    assert first.equity_hash == second.equity_hash
    assert set(first.pairs) == set(SHARED_PAIRS)


def test_hyperopt_when_offline_then_epochs_run_and_result_is_recorded(
    shared_data: Path, project: Path
) -> None:
    """Five hyperopt epochs run offline; the .fthypt and its best epoch reach the registry."""
    args = ["freqtrade", "--offline", "hyperopt", "-c", "user_data/configs/config.backtest.json"]
    args += ["--strategy", "MaCrossoverStrategy", "--datadir", str(shared_data)]
    args += ["--epochs", "5", "--spaces", "buy", "--hyperopt-loss", "SharpeHyperOptLossDaily"]
    args += ["--random-state", "42", "-j", "1", "--pairs", *SHARED_PAIRS]

    result = run_cli(args, project)

    assert result.returncode == 0, result.stderr[-3000:]
    files = list((project / "user_data" / "hyperopt_results").glob("*.fthypt"))
    assert len(files) == 1
    best = read_hyperopt(files[0])
    assert best.epochs == 5
    [(run_id, status, path, params)] = _registry_rows(
        project, "select run_id, status, result_path, params from runs where kind='hyperopt'"
    )
    assert status == "succeeded"
    assert Path(str(path)).name == files[0].name
    assert json.loads(str(params))["buy"] == best.best_params["buy"]
    metrics = dict(
        _registry_rows(project, f"select key, value from metrics where run_id='{run_id}'")
    )
    assert metrics["epochs"] == 5
    assert metrics["best_loss"] == pytest.approx(best.best_loss)
    # The strategy's parameter file is untouched: parameters change only by `params promote`.
    assert not (project / "user_data" / "strategies" / "MaCrossoverStrategy.json").exists()


def test_download_data_when_offline_into_empty_dir_then_candles_reproduced_exactly(
    shared_data: Path, project: Path
) -> None:
    """download-data against the offline exchange rebuilds the source files value for value."""
    target = project / "downloaded"
    target.mkdir()
    args = ["freqtrade", "--offline", "--offline-datadir", str(shared_data), "download-data"]
    args += ["-c", "user_data/configs/config.backtest.json", "--datadir", str(target)]
    args += ["--pairs", "ETH/BTC", "TRX/BTC", "--timeframes", "5m"]
    args += ["--timerange", "20180101-20180201"]

    result = run_cli(args, project)

    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("ETH_BTC-5m.feather", "TRX_BTC-5m.feather"):
        source = pd.read_feather(shared_data / name)
        copy = pd.read_feather(target / name)
        assert len(copy) == len(source)
        assert (copy["date"].dt.as_unit("ms") == source["date"].dt.as_unit("ms")).all()
        for column in ("open", "high", "low", "close", "volume"):
            assert np.array_equal(copy[column].to_numpy(), source[column].to_numpy()), column


def test_dry_run_when_offline_then_loops_and_stops_cleanly_on_sigterm(
    shared_data: Path, project: Path
) -> None:
    """trade --dry-run starts, loads markets, refreshes candles, loops, and stops on SIGTERM."""
    args = dry_run_args(project, shared_data, ["ETH/BTC", "LTC/BTC", "ADA/BTC"])
    args += ["--strategy", "MaCrossoverStrategy", "-v"]
    log = project / "dry-run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=project, env=clean_env(API_ENV), stdout=out, stderr=out
        )
        loops = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            loops = log.read_text(errors="replace").count("Throttling with '_process_running()'")
            if loops >= 2:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    text = log.read_text(errors="replace")

    assert loops >= 2, text[-3000:]
    assert "Whitelist with 3 pairs" in text
    assert "Done fetching pair ETH/BTC, spot interval 5m" in text
    assert code in (0, 130)
    assert _registry_rows(project, "select kind, status from runs") == [("dry_run", "succeeded")]


# -- BAD INPUT: a clear message, a non-zero exit, nothing written --------------------------


def _nothing_written(project: Path) -> None:
    user_data = project / "user_data"
    assert not (user_data / "registry").exists()
    assert not (user_data / "backtest_results").exists()
    assert not (user_data / "logs").exists()


def _corrupt_datadir(root: Path, shared: Path) -> Path:
    folder = root / "corrupt"
    folder.mkdir()
    (folder / "ETH_BTC-5m.feather").write_bytes((shared / "ETH_BTC-5m.feather").read_bytes()[:100])
    return folder


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("missing", 3, "does not exist"),
        ("empty", 3, "has no candle files"),
        ("corrupt", 3, "ETH_BTC-5m.feather cannot be read"),
        ("unknown_pair", 2, "FOO/BTC have no candle files"),
    ],
)
def test_offline_backtest_when_bad_input_then_clear_error_and_nothing_written(
    shared_data: Path, project: Path, case: str, code: int, message: str
) -> None:
    """Bad datadirs and pairs are refused before anything is recorded or run."""
    datadir = {
        "missing": project / "nope",
        "empty": project / "empty",
        "corrupt": project / "corrupt",
        "unknown_pair": shared_data,
    }[case]
    if case == "empty":
        datadir.mkdir()
    if case == "corrupt":
        _corrupt_datadir(project, shared_data)
    args = [*BACKTEST, "--strategy", "MaCrossoverStrategy", "--datadir", str(datadir)]
    if case == "unknown_pair":
        args += ["--pairs", "ETH/BTC", "FOO/BTC"]

    result = run_cli(args, project)

    assert result.returncode == code
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    _nothing_written(project)


def test_offline_exchange_when_port_in_use_then_clear_error(
    shared_data: Path, project: Path
) -> None:
    """The standalone exchange refuses a taken port, naming it."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            ["offline-exchange", "--datadir", str(shared_data), "--port", str(port)], project
        )

    assert result.returncode == 4
    assert f"127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
