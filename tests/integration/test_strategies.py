"""The three strategies on the real shared candles, offline, through the guarded runner.

* one backtest of all three (``--strategy-list``), run twice: enough trades, identical
  trade lists, the documented entry/exit tags, and BreakoutStrategy's ATR stop where
  ``custom_stoploss`` says it is;
* per strategy: hyperopt (10 epochs, fixed random state, the config's default loss
  RiskAwareHyperOptLoss), ``tradingbot params promote``
  of that run, and a backtest that must run the promoted values (Freqtrade's log and the
  parameter file it stored in the result zip both say so).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import talib
from freqtrade.data.converter import ohlcv_fill_up_missing_data

from app.offline_exchange.markets import price_decimals
from app.offline_exchange.store import read_candles
from app.results import BacktestResult, read_backtest
from tests.helpers import SHARED_PAIRS, make_project, run_cli

pytestmark = pytest.mark.freqtrade

STRATEGIES = ("MaCrossoverStrategy", "BreakoutStrategy", "MeanReversionStrategy")
CONFIG = ("-c", "user_data/configs/config.backtest.json")
ENTRY_TAGS = {
    "MaCrossoverStrategy": {"ema_cross_up"},
    "BreakoutStrategy": {"channel_breakout"},
    "MeanReversionStrategy": {"band_oversold"},
}
EXIT_SIGNALS = {
    "MaCrossoverStrategy": {"ema_cross_down"},
    "BreakoutStrategy": {"channel_low"},
    "MeanReversionStrategy": {"band_mid", "rsi_overbought"},
}
FREQTRADE_EXITS = {"roi", "stop_loss", "trailing_stop_loss", "force_exit"}
HYPEROPT_RANGE = "20180115-20180125"
MIN_TRADES = 30


def _registry(project: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def two_runs(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, BacktestResult]]:
    """The three strategies backtested together, twice, on the seven shared pairs."""
    project = make_project(tmp_path_factory.mktemp("strategies"))
    args = ["freqtrade", "--offline", "backtesting", *CONFIG, "--datadir", str(shared_data)]
    args += ["--strategy-list", *STRATEGIES, "--pairs", *SHARED_PAIRS]
    runs = []
    for _ in range(2):
        result = run_cli(args, project)
        assert result.returncode == 0, result.stderr[-3000:]
        runs.append(result)
    zips = sorted((project / "user_data" / "backtest_results").glob("*.zip"))
    assert len(zips) == 2
    return [{r.strategy: r for r in read_backtest(path)} for path in zips]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_backtest_when_run_on_shared_data_then_meaningful_number_of_trades(
    two_runs: list[dict[str, BacktestResult]], strategy: str
) -> None:
    """Each strategy trades often enough on 7 pairs x 20 days to say something."""
    result = two_runs[0][strategy]

    assert len(result.trades) >= MIN_TRADES
    assert set(result.pairs) == set(SHARED_PAIRS)
    assert len({t["pair"] for t in result.trades}) >= 5  # not one pair's story


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_backtest_when_run_twice_then_identical_trade_lists(
    two_runs: list[dict[str, BacktestResult]], strategy: str
) -> None:
    """Same data, code and config: the same trades, field for field."""
    first, second = (run[strategy] for run in two_runs)

    assert first.trades == second.trades
    assert first.equity_hash == second.equity_hash


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_backtest_when_trades_close_then_tags_are_the_documented_ones(
    two_runs: list[dict[str, BacktestResult]], strategy: str
) -> None:
    """Entries carry the strategy's entry tag; exits are its signals or Freqtrade's own."""
    trades = two_runs[0][strategy].trades

    assert {t["enter_tag"] for t in trades} == ENTRY_TAGS[strategy]
    reasons = {t["exit_reason"] for t in trades}
    assert reasons <= EXIT_SIGNALS[strategy] | FREQTRADE_EXITS
    assert reasons & EXIT_SIGNALS[strategy]  # the exit signal really fires


# Freqtrade's own gap filling uses a pandas keyword pandas 3.1 deprecates.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_breakout_when_trade_opens_then_stop_sits_atr_multiple_below_entry(
    two_runs: list[dict[str, BacktestResult]], shared_data: Path
) -> None:
    """custom_stoploss puts the stop 3 ATR(14) of the signal candle below the entry price.

    Checked independently: ATR from TA-Lib on the candles as Freqtrade loads them (gaps
    filled), at the candle before each trade opened, capped by the hard -8 % stoploss,
    within the price tick Freqtrade rounds the stop to.
    """
    trades = two_runs[0]["BreakoutStrategy"].trades
    checked = 0
    for pair in {t["pair"] for t in trades}:
        path = shared_data / f"{pair.replace('/', '_')}-5m.feather"
        tick = 10.0 ** -price_decimals(read_candles(path, 300_000))  # stops are rounded to it
        # Freqtrade fills missing candles (flat, volume 0) before the strategy sees them.
        candles = ohlcv_fill_up_missing_data(pd.read_feather(path), "5m", pair)
        atr = pd.Series(
            talib.ATR(*(candles[c].to_numpy(np.float64) for c in ("high", "low", "close")), 14),
            index=candles["date"].astype("int64") // 10**6,
        )
        for trade in (t for t in trades if t["pair"] == pair):
            signal_ms = trade["open_timestamp"] - 5 * 60_000
            expected = max(trade["open_rate"] - 3.0 * atr[signal_ms], trade["open_rate"] * 0.92)
            gapped = trade["exit_reason"] == "stop_loss" and trade["close_rate"] < expected - tick
            if gapped:  # the candle opened below the stop: Freqtrade records the fill as stop
                assert trade["stop_loss_abs"] == trade["close_rate"], trade
            else:
                assert trade["stop_loss_abs"] == pytest.approx(expected, abs=tick), trade
            checked += 1
    assert checked == len(trades)
    stopped = [t for t in trades if t["exit_reason"] == "stop_loss"]
    assert stopped  # the stop is hit on this data, so it is really in force
    for trade in stopped:
        assert trade["close_rate"] <= trade["stop_loss_abs"] * (1 + 1e-9)


# -- HYPEROPT, PROMOTE, BACKTEST ------------------------------------------------------------


@pytest.fixture(scope="module")
def promoted(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Per strategy: hyperopt, promote its run, backtest; the project and the best params."""
    project = make_project(tmp_path_factory.mktemp("promoted"))
    common = [*CONFIG, "--datadir", str(shared_data), "--pairs", *SHARED_PAIRS]
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for strategy in STRATEGIES:
        hyperopt = ["freqtrade", "--offline", "hyperopt", *common, "--strategy", strategy]
        hyperopt += ["--timerange", HYPEROPT_RANGE, "--epochs", "10", "--random-state", "7"]
        hyperopt += ["--spaces", "buy", "sell"]  # the loss: config.backtest.json's default
        hyperopt += ["-j", "2"]
        _ok(run_cli(hyperopt, project))
        [(run_id, params)] = _registry(
            project,
            "select run_id, params from runs where kind='hyperopt' and strategy=?",
            strategy,
        )
        _ok(run_cli(["params", "promote", run_id], project))
        backtest = ["freqtrade", "--offline", "backtesting", *common, "--strategy", strategy]
        _ok(run_cli([*backtest, "--timerange", HYPEROPT_RANGE], project))
        out[strategy] = (project, json.loads(params))
    return out


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])


def _latest_backtest(project: Path, strategy: str) -> tuple[Path, Path]:
    """The strategy's newest backtest: its result zip and Freqtrade's log file."""
    [(result_path, correlation_id)] = _registry(
        project,
        "select result_path, correlation_id from runs where kind='backtest' and strategy=? "
        "order by started_utc desc limit 1",
        strategy,
    )
    # The runner names Freqtrade's log <time>_<correlation id>.log.
    [log] = (project / "user_data" / "logs" / "freqtrade").glob(f"*_{correlation_id}.log")
    return project / result_path, log


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_hyperopt_when_no_loss_given_then_config_default_risk_aware_loss_used(
    promoted: dict[str, tuple[Path, dict[str, Any]]], strategy: str
) -> None:
    """config.backtest.json names RiskAwareHyperOptLoss: hyperopt without --hyperopt-loss
    runs with it (Freqtrade's log says which loss it resolved)."""
    project, _best = promoted[strategy]
    [(correlation_id,)] = _registry(
        project, "select correlation_id from runs where kind='hyperopt' and strategy=?", strategy
    )
    [log] = (project / "user_data" / "logs" / "freqtrade").glob(f"*_{correlation_id}.log")
    assert "Using resolved hyperoptloss RiskAwareHyperOptLoss from" in log.read_text()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_hyperopt_when_promoted_then_backtest_runs_the_promoted_values(
    promoted: dict[str, tuple[Path, dict[str, Any]]], strategy: str
) -> None:
    """The promoted buy/sell values are what Freqtrade loads and uses in the next backtest."""
    project, best = promoted[strategy]
    result_zip, log = _latest_backtest(project, strategy)

    param_file = project / "user_data" / "strategies" / f"{strategy}.json"
    assert json.loads(param_file.read_text())["params"] == best
    with zipfile.ZipFile(result_zip) as archive:
        [stored] = [n for n in archive.namelist() if n.endswith(f"_{strategy}.json")]
        used = json.loads(archive.read(stored))
    assert used["params"]["buy"] == best["buy"]
    assert used["params"]["sell"] == best["sell"]
    text = log.read_text()
    assert f"Loading parameters from file {param_file.resolve()}" in text
    applied = dict(re.findall(r"Strategy Parameter: (\w+) = (\S+)", text))
    for space in ("buy", "sell"):
        for name, value in best[space].items():
            assert applied[name] == str(value), name
