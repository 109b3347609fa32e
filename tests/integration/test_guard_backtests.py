"""The guard inside real offline Freqtrade backtests on the shared candles.

Each test runs ``tradingbot freqtrade --offline backtesting`` with a guarded test strategy
(tests/strategies/churn_strategies.py) and checks Freqtrade's own trade list.
"""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app.results import read_backtest
from tests.helpers import (
    API_ENV,
    REPO_ROOT,
    SHARED_PAIRS,
    clean_env,
    dry_run_args,
    make_project,
    run_cli,
)

pytestmark = pytest.mark.freqtrade

DAY_MS = 86_400_000
CAP = 0.003


def backtest(
    project: Path, data: Path, strategy: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one guarded offline backtest in ``project``."""
    args = ["freqtrade", "--offline", "backtesting", "-c", "user_data/configs/config.backtest.json"]
    args += ["--strategy-path", str(REPO_ROOT / "tests" / "strategies"), "--strategy", strategy]
    args += ["--datadir", str(data), "--pairs", *SHARED_PAIRS]
    return run_cli(args, project, env=env)


def trades_of(project: Path) -> list[dict[str, Any]]:
    """The trade list in Freqtrade's order (the order trades closed)."""
    (result_zip,) = sorted((project / "user_data" / "backtest_results").glob("*.zip"))
    (result,) = read_backtest(result_zip)
    return list(result.trades)


def log_lines(project: Path, message: str) -> list[dict[str, Any]]:
    path = project / "user_data" / "logs" / "risk.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line["message"] == message]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="module")
def capped(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One backtest with RISK_LIVE_MAX_CONCURRENT_TRADES=1 and a 0.3 % daily loss cap."""
    project = make_project(tmp_path_factory.mktemp("capped"))
    env = {"RISK_LIVE_MAX_CONCURRENT_TRADES": "1", "RISK_DAILY_LOSS_CAP_PCT": str(CAP)}
    result = backtest(project, shared_data, "GuardedChurnStrategy", env)
    assert result.returncode == 0, result.stderr[-3000:]
    return project


def test_backtest_when_max_one_trade_then_no_two_trades_overlap(capped: Path) -> None:
    """With RISK_LIVE_MAX_CONCURRENT_TRADES=1 every trade closes before the next opens."""
    trades = trades_of(capped)
    assert len(trades) > 20
    for before, after in itertools.pairwise(trades):
        assert after["open_timestamp"] >= before["close_timestamp"], (before, after)
    (summary,) = log_lines(capped, "guard_summary")
    assert summary["refusals"]["MAX_CONCURRENT_TRADES"] > 0  # the rule really acted


def test_backtest_when_daily_loss_cap_reached_then_no_entry_until_midnight(capped: Path) -> None:
    """After the day's loss reaches the cap, no trade opens before 00:00 UTC.

    Checked two ways: against the guard's HALTED windows, and independently from the trade
    list (one trade at a time, so at each entry today's loss is exactly the realised one).
    """
    trades = trades_of(capped)
    halts = [
        (ms(line["at"]), ms(line["until"]))
        for line in log_lines(capped, "risk_state_changed")
        if line["new"] == "HALTED" and line["reason"] == "DAILY_LOSS_CAP"
    ]
    reopened = [
        line
        for line in log_lines(capped, "risk_state_changed")
        if line["old"] == "HALTED" and not line["at"].endswith("T00:00:00Z")
    ]
    assert reopened == []  # the cap latches until 00:00 UTC
    assert halts, "the cap never triggered: the test would prove nothing"
    for start, end in halts:
        assert end % DAY_MS == 0
        # Strictly after: a trade that opened and closed in the very candle that hit the cap
        # came before the refusal (the independent check below covers that instant).
        inside = [t for t in trades if start < t["open_timestamp"] < end]
        assert inside == [], inside[:3]

    # Independent check. One trade at a time, so Freqtrade's list (close order) is also the
    # entry order. Wallet at entry = 0.99 (tradable ratio) x (1 BTC + closed profit).
    for index, trade in enumerate(trades):
        opened = trade["open_timestamp"]
        closed_before = trades[:index]
        day = opened - opened % DAY_MS
        realised_today = sum(t["profit_abs"] for t in closed_before if t["close_timestamp"] >= day)
        wallet = 0.99 * (1.0 + sum(t["profit_abs"] for t in closed_before))
        day_start = wallet - realised_today
        assert -realised_today < CAP * day_start + 1e-9, trade


def test_backtest_when_daily_drawdown_then_simulated_trip_stops_the_run_only(
    shared_data: Path, project: Path
) -> None:
    """A daily-drawdown trip in a backtest stops that run's entries, never the real breaker."""
    env = {"RISK_MAX_DAILY_DRAWDOWN_PCT": "0.01"}
    result = backtest(project, shared_data, "GuardedChurnStrategy", env)
    assert result.returncode == 0, result.stderr[-3000:]

    (trip,) = log_lines(project, "circuit_breaker_tripped")
    assert trip["simulated"] is True
    trades = trades_of(project)
    assert trades
    assert all(t["open_timestamp"] <= ms(trip["at"]) for t in trades)
    (summary,) = log_lines(project, "guard_summary")
    assert summary["refusals"]["CIRCUIT_BREAKER"] > 0
    assert not (project / "user_data" / "state" / "circuit_breaker.json").exists()


def test_backtest_when_guard_raises_then_every_entry_refused(
    shared_data: Path, project: Path
) -> None:
    """A guard that fails on every check lets no trade through (fail closed)."""
    result = backtest(project, shared_data, "ExplodingGuardStrategy", {})
    assert result.returncode == 0, result.stderr[-3000:]
    assert trades_of(project) == []
    (summary,) = log_lines(project, "guard_summary")
    assert summary["allowed"] == 0
    assert summary["refusals"] == {"GUARD_ERROR": summary["refused"]}
    assert summary["refused"] > 100
    assert len(log_lines(project, "guard_error")) == 1  # first one in full, then counted


def test_runner_when_breaker_active_then_refused_blocked_and_incident(
    shared_data: Path, project: Path
) -> None:
    """An active breaker: the runner exits 10, records the run blocked and an incident."""
    enable = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "circuit_breaker.py"),
            "enable",
            "--reason",
            "incident-123",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert enable.returncode == 0, enable.stderr

    result = backtest(project, shared_data, "GuardedChurnStrategy", {})

    assert result.returncode == 10, result.stderr[-3000:]
    assert "CIRCUIT_BREAKER" in result.stderr
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT run_id, status, exit_code FROM runs").fetchall()
        incidents = conn.execute("SELECT run_id, description FROM incidents").fetchall()
    assert [(status, code) for _, status, code in runs] == [("blocked", 10)]
    refusal = [desc for run_id, desc in incidents if run_id == runs[0][0]]
    assert len(refusal) == 1
    assert "CIRCUIT_BREAKER" in refusal[0]
    assert "incident-123" in refusal[0]
    assert not list((project / "user_data" / "backtest_results").glob("*.zip"))


def test_hyperopt_when_guard_raises_in_worker_processes_then_no_epoch_trades(
    shared_data: Path, project: Path
) -> None:
    """The guard travels to hyperopt's worker processes (-j 2) and still fails closed there."""
    args = ["freqtrade", "--offline", "hyperopt", "-c", "user_data/configs/config.backtest.json"]
    args += ["--strategy-path", str(REPO_ROOT / "tests" / "strategies")]
    args += ["--strategy", "ExplodingGuardStrategy", "--datadir", str(shared_data)]
    args += ["--epochs", "3", "-j", "2", "--spaces", "buy", "--random-state", "3"]
    args += ["--hyperopt-loss", "SharpeHyperOptLossDaily", "--pairs", *SHARED_PAIRS]

    result = run_cli(args, project)

    assert result.returncode == 0, result.stderr[-3000:]
    (results,) = (project / "user_data" / "hyperopt_results").glob("*.fthypt")
    epochs = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(epochs) == 3
    assert [e["results_metrics"]["total_trades"] for e in epochs] == [0, 0, 0]
    assert log_lines(project, "guard_error")  # logged from the workers


FUTURES_CONFIG = {
    "dry_run": True,
    "dry_run_wallet": 1000,
    "trading_mode": "futures",
    "margin_mode": "isolated",
    "stake_currency": "USDT",
    "stake_amount": 50,
    "tradable_balance_ratio": 0.99,
    "max_open_trades": 3,
    "timeframe": "5m",
    "entry_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
    "exit_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
    "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": ["XRP/USDT:USDT"]},
    "pairlists": [{"method": "StaticPairList"}],
}


@pytest.mark.parametrize(
    ("env", "refused"),
    [({"RISK_NEAR_LIQ_BUFFER_MULTIPLIER": "4"}, True), ({"RISK_MAX_LEVERAGE": "2"}, False)],
)
def test_futures_backtest_when_leveraged_then_liquidation_buffer_and_cap_apply(
    shared_data: Path, project: Path, env: dict[str, str], refused: bool
) -> None:
    """5x with a 6 % price stop: liquidation (~20 % away) is inside a 4-stop buffer, so every
    entry is refused; with RISK_MAX_LEVERAGE=2 the trades run at 2x instead."""
    config = project / "user_data" / "configs" / "config.futures.json"
    config.write_text(json.dumps(FUTURES_CONFIG))
    args = ["freqtrade", "--offline", "backtesting", "-c", str(config)]
    args += ["--strategy-path", str(REPO_ROOT / "tests" / "strategies")]
    args += ["--strategy", "LeveragedChurnStrategy", "--datadir", str(shared_data)]

    result = run_cli(args, project, env=env)

    assert result.returncode == 0, result.stderr[-3000:]
    trades = trades_of(project)
    (summary,) = log_lines(project, "guard_summary")
    if refused:
        assert trades == []
        assert summary["refusals"] == {"NEAR_LIQUIDATION": summary["refused"]}
        assert summary["refused"] > 50
    else:
        assert len(trades) >= 5
        assert {t["leverage"] for t in trades} == {2.0}


def _wait_for_line(
    project: Path, proc: subprocess.Popen[bytes], match: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    path = project / "user_data" / "logs" / "risk.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists():
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if match(record):
                    return record
        time.sleep(0.5)
    pytest.fail(
        f"no matching guard log line; tail: {path.read_text()[-2000:] if path.exists() else ''}"
    )


def test_dry_run_when_breaker_toggled_then_bot_halts_and_resumes(
    shared_data: Path, project: Path
) -> None:
    """A dry-run bot (started with RISK_ALLOW_WHEN_CB=1) reads the real breaker file each
    loop: HALTED while it is active, ACTIVE again once a person disables it."""
    breaker = [sys.executable, str(REPO_ROOT / "scripts" / "circuit_breaker.py")]
    env = clean_env({**API_ENV, "RISK_ALLOW_WHEN_CB": "1"})
    subprocess.run(
        [*breaker, "enable", "--reason", "maintenance"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    args = dry_run_args(project, shared_data, ["ETH/BTC", "LTC/BTC"])
    args += ["--strategy-path", str(REPO_ROOT / "tests" / "strategies")]
    args += ["--strategy", "GuardedChurnStrategy"]
    with (project / "bot.log").open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=project, env=env, stdout=out, stderr=out
        )
        try:
            halted = _wait_for_line(
                project,
                proc,
                lambda r: r["message"] == "risk_state_changed" and r["new"] == "HALTED",
            )
            subprocess.run(
                [*breaker, "disable", "--reason", "done"],
                cwd=project,
                env=env,
                check=True,
                capture_output=True,
            )
            resumed = _wait_for_line(
                project,
                proc,
                lambda r: r["message"] == "risk_state_changed" and r["old"] == "HALTED",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)

    assert halted["reason"] == "CIRCUIT_BREAKER"
    assert "maintenance" in halted["detail"]
    assert resumed["new"] == "ACTIVE"
    (started,) = log_lines(project, "guard_started")
    assert started["mode"] == "live"
    assert [r["level"] for r in log_lines(project, "circuit_breaker_override")] == ["WARNING"]
    # While halted the bot kept proposing entries; each refusal reason became an incident,
    # written by the guard's background writer and drained before the bot exited.
    refused = [r for r in log_lines(project, "entry_refused") if r["reason"] == "CIRCUIT_BREAKER"]
    assert refused
    registry = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(registry) as conn:
        (run_id,) = conn.execute("SELECT run_id FROM runs WHERE kind = 'dry_run'").fetchone()
        rows = conn.execute(
            "SELECT severity, run_id FROM incidents WHERE description LIKE 'entry refused%'"
        ).fetchall()
    assert rows
    assert {(severity, rid) for severity, rid in rows} == {("warning", run_id)}
    assert not log_lines(project, "incidents_unwritten")
