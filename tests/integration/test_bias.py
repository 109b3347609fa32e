"""Freqtrade's bias checks on every strategy, offline, through ``tradingbot freqtrade``.

* ``lookahead-analysis``: backtests cut at each checked trade's entry and exit must
  reproduce that trade, and no indicator may change when future candles are removed.
  Read from its CSV export (``--lookahead-analysis-exportfilename``).
* ``recursive-analysis``: with the strategy's ``startup_candle_count``, the last row of
  every indicator must equal (to the 0.000 % Freqtrade prints) the value computed with
  all the history; run with every hyperopt parameter at the end of its range that needs
  the most history (the slowest averages), so a promoted set cannot outgrow the startup.

The lookahead check runs on a float-canonical copy of the shared candles (prices rounded
to their 8-decimal tick, the same numbers). Reason, verified on this data: many stored
prices are one float step away from their decimal (``0.0031620100000000003``), and
Freqtrade fills an order only if its tick-rounded price lies within ``[low, high]``; at
a candle whose open is its high or low the rounded order price falls one float step
outside, the order stays open, and a trade that exits on the last candle of a cut
backtest disappears. lookahead-analysis then reports "biased entries" that come from
that float comparison, not from the strategy (the same trades pass on the canonical
copy, and every check below still uses the real candles' values).
"""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from freqtrade.strategy.parameters import (
    BaseParameter,
    BooleanParameter,
    CategoricalParameter,
    NumericParameter,
)

from app.registry.paramfile import render_param_file
from tests.helpers import REPO_ROOT, SHARED_PAIRS, make_project, run_cli

pytestmark = pytest.mark.freqtrade

STRATEGIES = ("MaCrossoverStrategy", "BreakoutStrategy", "MeanReversionStrategy")
CONFIG = ("-c", "user_data/configs/config.backtest.json")
LOOKAHEAD_RANGE = "20180115-20180125"
RECURSIVE_RANGE = "20180116-20180120"  # 1000 startup candles fit before it
MIN_SIGNALS = 10
WIDE = {"COLUMNS": "250"}  # rich tables without truncated indicator names


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("bias"))


@pytest.fixture(scope="module")
def canonical_data(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared 5m candles with every price as the float nearest its 8-decimal value."""
    folder = tmp_path_factory.mktemp("canonical")
    for pair in SHARED_PAIRS:
        name = f"{pair.replace('/', '_')}-5m.feather"
        candles = pd.read_feather(shared_data / name)
        for column in ("open", "high", "low", "close"):
            values = candles[column].to_numpy()
            candles[column] = np.array([float(f"{v:.8f}") for v in values])
            assert np.allclose(candles[column].to_numpy(), values, rtol=0, atol=5e-9)
        candles.to_feather(folder / name)
    return folder


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    return result


def _freqtrade_log(project: Path, result: subprocess.CompletedProcess[str]) -> str:
    """Freqtrade's log of the run the runner just finished (named after its correlation id)."""
    match = re.search(r'"message": "run_succeeded", "correlation_id": "(\w+)"', result.stderr)
    assert match, result.stderr[-2000:]
    [log] = (project / "user_data" / "logs" / "freqtrade").glob(f"*_{match[1]}.log")
    return log.read_text()


# -- LOOKAHEAD ------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_lookahead_analysis_when_run_then_no_bias(
    project: Path, canonical_data: Path, strategy: str
) -> None:
    """Cut backtests reproduce every checked trade; no indicator sees the future."""
    export = project / f"lookahead_{strategy}.csv"
    args = ["freqtrade", "--offline", "lookahead-analysis", *CONFIG, "--strategy", strategy]
    args += ["--datadir", str(canonical_data), "--timerange", LOOKAHEAD_RANGE]
    args += ["--minimum-trade-amount", str(MIN_SIGNALS), "--targeted-trade-amount", "15"]
    args += ["--lookahead-analysis-exportfilename", str(export)]

    _ok(run_cli(args, project, env=WIDE))

    with export.open() as handle:
        rows = {row["strategy"]: row for row in csv.DictReader(handle)}
    row = rows[strategy]  # exported only when enough trades were checked
    assert row["has_bias"] == "False", row
    assert int(row["total_signals"]) >= MIN_SIGNALS
    assert int(row["biased_entry_signals"]) == 0
    assert int(row["biased_exit_signals"]) == 0
    assert row["biased_indicators"] == ""


# -- RECURSIVE ------------------------------------------------------------------------------


def _widest_params(strategy: str) -> dict[str, dict[str, Any]]:
    """Every hyperopt parameter at the end of its range that needs the most history."""
    path = REPO_ROOT / "user_data" / "strategies" / f"{strategy}.py"
    spec = importlib.util.spec_from_file_location(f"bias_{strategy}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    params: dict[str, dict[str, Any]] = {}
    for name, attr in vars(getattr(module, strategy)).items():
        if not isinstance(attr, BaseParameter):
            continue
        if isinstance(attr, BooleanParameter):
            value: Any = True
        elif isinstance(attr, CategoricalParameter):
            value = max(attr.opt_range)
        else:
            assert isinstance(attr, NumericParameter)
            value = attr.high
        params.setdefault(str(attr.space), {})[name] = value
    return params


def _recursive_table(stdout: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of Freqtrade's "Recursive Analysis" table ([] when none printed)."""
    headers: list[str] = []
    rows: list[list[str]] = []
    for line in stdout.splitlines():
        if "┃" in line and "Indicators" in line:
            headers = [cell.strip() for cell in line.split("┃")[1:-1]]
        elif headers and line.startswith("│"):
            rows.append([cell.strip() for cell in line.split("│")[1:-1]])
    return headers, rows


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_recursive_analysis_when_widest_params_then_startup_candles_suffice(
    project: Path, shared_data: Path, tmp_path: Path, strategy: str
) -> None:
    """At the strategy's startup_candle_count every indicator matches the full history."""
    folder = tmp_path / "widest"
    folder.mkdir()
    shutil.copy(REPO_ROOT / "user_data" / "strategies" / f"{strategy}.py", folder)
    params = _widest_params(strategy)
    render = render_param_file(strategy, params, datetime.now(UTC))
    (folder / f"{strategy}.json").write_text(render)
    args = ["freqtrade", "--offline", "recursive-analysis", *CONFIG, "--strategy", strategy]
    args += ["--strategy-path", str(folder), "--datadir", str(shared_data)]
    args += ["--timerange", RECURSIVE_RANGE, "--startup-candle", "100", "1000"]
    args += ["--pairs", "ETH/BTC"]

    result = _ok(run_cli(args, project, env=WIDE))

    log = _freqtrade_log(project, result)
    for space in ("buy", "sell"):
        for name, value in params[space].items():
            assert f"Strategy Parameter: {name} = {value}" in log  # the widest set ran
    assert "found lookahead in indicator" not in log
    headers, rows = _recursive_table(result.stdout)
    if not rows:  # Freqtrade prints no table when nothing varied with the startup
        assert "No variance on indicator(s) found" in log
        return
    [column] = [i for i, h in enumerate(headers) if h.endswith("(from strategy)")]
    assert headers[1].startswith("100")  # too little history shows up in the table
    for row in rows:
        value = row[column]
        assert value == "-" or abs(float(value.rstrip("%"))) < 0.0005, (row[0], value)
