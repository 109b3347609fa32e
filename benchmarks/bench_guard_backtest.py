"""The guard's cost in backtests and hyperopt: the same strategy with and without the guard.

Two pairs of strategies with identical signals (tests/strategies/): the project's
``MaCrossoverStrategy`` (plain / guarded) and a worst case, ``ChurnStrategy``, that trades
on a third of all candles. The guarded ones run every rule, with limits generous enough
that no entry is refused (the script checks that the trade lists match). Offline, on the
7 shared 5m pairs (../shared/data):

1. backtest loop, in process: Freqtrade's ``Backtesting.backtest()`` only (data loaded
   and analysed once), plain and guarded runs alternated, best of ``--repeats``:
   wall and CPU ratio guarded / plain (target <= 1.03). On a busy machine these ratios
   are noisy, so the script also times the guarded callbacks *inside* each guarded run
   and prints ``1 + guard / (run - guard)``, which other processes cannot skew;
2. hyperopt epochs per second through ``tradingbot freqtrade --offline hyperopt`` (-j 1)
   for the MaCrossover pair, from two runs per strategy with different epoch counts so
   start-up cancels out: ``(E2 - E1) / (T2 - T1)``; ratio guarded / plain (target >= 0.97);
3. for reference, the end-to-end wall time of one ``tradingbot freqtrade --offline
   backtesting`` run per strategy of the MaCrossover pair.

    .venv/bin/python benchmarks/bench_guard_backtest.py [--repeats 5] [--epochs 5 25]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data" / "binance"
STRATEGIES = REPO_ROOT / "tests" / "strategies"
CONFIG = REPO_ROOT / "user_data" / "configs" / "config.backtest.json"
PAIRS = ["ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC"]
MA_PAIR = ("UnguardedMaCrossoverStrategy", "GuardedMaCrossoverStrategy")
CHURN_PAIR = ("ChurnStrategy", "GuardedChurnStrategy")
CALLBACKS = ("bot_loop_start", "custom_stake_amount", "confirm_trade_entry")
# Every rule on; none should refuse an entry of these strategies (checked: equal trades).
ALL_RULES = {
    "RISK_LIVE_MAX_CONCURRENT_TRADES": "10",
    "RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT": "0.5",
    "RISK_MAX_EXPOSURE_PCT": "0.9",
    "RISK_MAX_POSITION_PCT": "0.2",
    "RISK_DAILY_LOSS_CAP_PCT": "0.9",
    "RISK_MAX_DAILY_DRAWDOWN_PCT": "0.9",
    "RISK_LOSS_STREAK_MAX": "500",
    "RISK_DATA_STALE_TIMEOUT_SEC": "3600",
    "RISK_MAX_ENTRY_DEVIATION_PCT": "0.5",
    "RISK_NEAR_LIQ_BUFFER_MULTIPLIER": "1",
    "RISK_MAX_LEVERAGE": "5",
}


def _timed(fn: Callable[..., Any], total: list[int]) -> Callable[..., Any]:
    clock = time.perf_counter_ns

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            total[0] += clock() - start

    return wrapper


def in_process(pair: tuple[str, str], repeats: int, workdir: Path) -> dict[str, Any]:
    """Wall/CPU seconds per backtest run and the guard's own time, for one pair."""
    from freqtrade.configuration import Configuration
    from freqtrade.data import history
    from freqtrade.data.converter import trim_dataframes
    from freqtrade.enums import RunMode
    from freqtrade.optimize.backtesting import Backtesting
    from freqtrade.resolvers import StrategyResolver

    from app.offline_exchange.overlay import ccxt_overlay
    from app.offline_exchange.replay import Mode
    from app.offline_exchange.server import OfflineExchange

    out: dict[str, Any] = {k: {n: [] for n in pair} for k in ("wall", "cpu", "trades")}
    out["guard"] = []
    with OfflineExchange(DATA, mode=Mode.HISTORIC) as exchange:
        overlay = workdir / "overlay.json"
        overlay.write_text(json.dumps(ccxt_overlay(exchange.url)))
        args: dict[str, Any] = {
            "config": [str(CONFIG), str(overlay)],
            "strategy": pair[0],
            "strategy_path": str(STRATEGIES),
            "datadir": str(DATA),
            "user_data_dir": str(workdir / "user_data"),
            "pairs": PAIRS,
            "export": "none",
        }
        config = Configuration(args, RunMode.BACKTEST).get_config()
        logging.getLogger("freqtrade").setLevel(logging.WARNING)  # keep the output readable
        backtesting = Backtesting(config)
        data, timerange = backtesting.load_bt_data()
        prepared = {}
        guard_ns = [0]
        for name in pair:
            strategy = StrategyResolver.load_strategy({**config, "strategy": name})
            backtesting._set_strategy(strategy)  # as Backtesting.start() does for each one
            if strategy.guard_runtime if hasattr(strategy, "guard_runtime") else None:
                for callback in CALLBACKS:  # instance attributes shadow the guarded methods
                    setattr(strategy, callback, _timed(getattr(strategy, callback), guard_ns))
            processed = strategy.advise_all_indicators(data)
            trimmed = trim_dataframes(processed, timerange, backtesting.required_startup)
            start, end = history.get_timerange(trimmed)
            prepared[name] = (strategy, processed, start, end)
        for _ in range(repeats + 1):  # the first round warms caches and is dropped
            for name in pair:
                strategy, processed, start, end = prepared[name]
                backtesting._set_strategy(strategy)
                copy = {p: frame.copy() for p, frame in processed.items()}
                guard_ns[0] = 0
                began, began_cpu = time.perf_counter(), time.process_time()
                result = backtesting.backtest(processed=copy, start_date=start, end_date=end)
                out["wall"][name].append(time.perf_counter() - began)
                out["cpu"][name].append(time.process_time() - began_cpu)
                out["trades"][name].append(len(result["results"]))
                if hasattr(strategy, "guard_runtime"):
                    out["guard"].append((guard_ns[0] / 1e9, out["wall"][name][-1]))
    for key in ("wall", "cpu", "trades"):
        for name in pair:
            out[key][name] = out[key][name][1:]
    out["guard"] = out["guard"][1:]
    return out


def report_in_process(pair: tuple[str, str], result: dict[str, Any]) -> None:
    plain, guarded = pair
    trades = result["trades"]
    same = trades[plain] == trades[guarded]
    print(
        f"\n{plain} vs {guarded}: trades per run {trades[plain][0]} / {trades[guarded][0]}"
        f"{'' if same else '  WARNING: the guard changed the trades'}"
    )
    for label in ("wall", "cpu"):
        series = result[label]
        best_plain, best_guarded = min(series[plain]), min(series[guarded])
        print(
            f"  backtest loop {label}: plain {best_plain:6.3f} s  guarded {best_guarded:6.3f} s"
            f"  ratio {best_guarded / best_plain:5.3f}   (best of {len(series[plain])}; "
            f"medians {statistics.median(series[plain]):.3f} / "
            f"{statistics.median(series[guarded]):.3f})"
        )
    shares = [guard / (run - guard) for guard, run in result["guard"]]
    guard_s = min(g for g, _ in result["guard"])
    print(
        f"  guard time inside the guarded run: {guard_s:.3f} s; estimated wall ratio "
        f"{1 + min(shares):5.3f} (best) / {1 + statistics.median(shares):5.3f} (median)"
        "   target <= 1.03"
    )


def cli(args: list[str], project: Path) -> float:
    """Wall seconds of one ``python -m app freqtrade --offline ...`` run in ``project``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISK_", "TRADINGBOT_"))}
    env.update(ALL_RULES)
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "app", "freqtrade", "--offline", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {args}\n{result.stderr[-3000:]}")
    return elapsed


def common_args(strategy: str) -> list[str]:
    return ["-c", str(CONFIG), "--strategy-path", str(STRATEGIES), "--strategy", strategy,
            "--datadir", str(DATA), "--pairs", *PAIRS]  # fmt: skip


def hyperopt_rates(pair: tuple[str, str], epochs: tuple[int, int], project: Path) -> None:
    """Epochs per second per strategy, start-up cancelled out; prints the ratio."""
    rates: dict[str, float] = {}
    for name in pair:
        walls = []
        for count in epochs:
            args = ["hyperopt", *common_args(name), "--epochs", str(count), "-j", "1"]
            args += ["--spaces", "buy", "--hyperopt-loss", "SharpeHyperOptLossDaily"]
            args += ["--random-state", "7"]
            walls.append(cli(args, project))
        rates[name] = (epochs[1] - epochs[0]) / (walls[1] - walls[0])
        print(
            f"  hyperopt {name:<30} {epochs[0]:>3} epochs {walls[0]:6.1f} s, "
            f"{epochs[1]:>3} epochs {walls[1]:6.1f} s -> {rates[name]:5.2f} epochs/s"
        )
    ratio = rates[pair[1]] / rates[pair[0]]
    print(f"  hyperopt epochs/s ratio guarded / plain {ratio:5.3f}   target >= 0.97")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, nargs=2, default=(5, 25))
    parser.add_argument("--skip-cli", action="store_true", help="in-process figures only")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no market data at {DATA} (../shared/data): nothing to measure")
        return 1
    sys.path.insert(0, str(REPO_ROOT))
    from app.logs import configure_logging, reset_logging

    workdir = Path(tempfile.mkdtemp(prefix="bench-guard-"))
    (workdir / "user_data").mkdir()
    configure_logging(log_file=workdir / "risk.jsonl", to_stderr=False)
    os.environ.update(ALL_RULES)
    try:
        for pair in (MA_PAIR, CHURN_PAIR):
            report_in_process(pair, in_process(pair, args.repeats, workdir))
        if not args.skip_cli:
            project = workdir / "project"
            shutil.copytree(REPO_ROOT / "user_data" / "configs", project / "user_data/configs")
            print(f"\n{MA_PAIR[0]} vs {MA_PAIR[1]} through the CLI:")
            for name in MA_PAIR:  # warm the page cache and .pyc files; not counted
                cli(["backtesting", *common_args(name)], project)
            walls: dict[str, list[float]] = {n: [] for n in MA_PAIR}
            for _ in range(args.repeats):  # alternating, so drift hits both alike
                for name in MA_PAIR:
                    walls[name].append(cli(["backtesting", *common_args(name)], project))
            plain, guarded = (statistics.median(walls[n]) for n in MA_PAIR)
            print(
                f"  backtest end to end (median of {args.repeats}, alternating): plain "
                f"{plain:6.2f} s  guarded {guarded:6.2f} s  ratio {guarded / plain:5.3f}"
                "   target <= 1.03"
            )
            hyperopt_rates(MA_PAIR, tuple(args.epochs), project)
    finally:
        reset_logging()  # the guard's log file lives in workdir
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
