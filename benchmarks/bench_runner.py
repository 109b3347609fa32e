"""Guarded runner overhead.

    .venv/bin/python benchmarks/bench_runner.py [--rounds 3]

1. ``tradingbot freqtrade --offline backtesting ...`` (registry record, gates, its own
   offline exchange, result ingestion) vs plain ``freqtrade backtesting ...`` against an
   offline exchange that is already running, on the 7 shared pairs, alternating in one
   script: median wall times and their ratio (aim <= 1.05).
2. Record + ingest of one backtest: reading a real result file and writing its run and
   metrics to a fresh SQLite registry, ms (median, p95).

Needs ../shared/data/binance. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.offline_exchange.overlay import ccxt_overlay
from app.offline_exchange.server import OfflineExchange
from app.registry import Registry
from app.results import read_backtest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "binance"
PAIRS = ["ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC"]
COMMON = ["--strategy", "MaCrossoverStrategy", "--datadir", str(DATA), "--pairs", *PAIRS]


def _project() -> Path:
    work = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    for folder in ("configs", "strategies"):
        shutil.copytree(
            ROOT / "user_data" / folder,
            work / "user_data" / folder,
            ignore=shutil.ignore_patterns("*.json", "__pycache__")
            if folder == "strategies"
            else None,
        )
    return work


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=cwd, env=env)
    return time.perf_counter() - start


def _record_and_ingest(result: Path, rounds: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as folder:
        registry = Registry(f"sqlite:///{folder}/registry.sqlite")
        registry.upgrade()
        for _ in range(rounds):
            start = time.perf_counter()
            [stats] = read_backtest(result)
            run_id = registry.start_run(kind="backtest", correlation_id="bench", strategy="S")
            registry.add_metrics(run_id, stats.metrics)
            registry.finish_run(
                run_id, status="succeeded", exit_code=0, result_path=str(result),
                equity_hash=stats.equity_hash,
            )  # fmt: skip
            times.append((time.perf_counter() - start) * 1000)
        registry.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the shared data at {DATA}")
    work = _project()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISK_", "FREQTRADE__"))}
    config = ["-c", "user_data/configs/config.backtest.json"]
    try:
        with OfflineExchange(DATA) as exchange:
            overlay = work / "overlay.json"
            overlay.write_text(json.dumps(ccxt_overlay(exchange.url)))
            plain = [sys.executable, "-m", "freqtrade", "backtesting", *config, "-c", str(overlay)]
            plain += [*COMMON, "--cache", "none", "--backtest-directory", "plain_results"]
            (work / "plain_results").mkdir()
            guarded = [sys.executable, "-m", "app", "freqtrade", "--offline", "backtesting"]
            guarded += [*config, *COMMON]
            _timed(plain, work, env)  # warm the page cache and .pyc files
            plain_s, guarded_s = [], []
            for _ in range(args.rounds):
                plain_s.append(_timed(plain, work, env))
                guarded_s.append(_timed(guarded, work, env))
        p, g = statistics.median(plain_s), statistics.median(guarded_s)
        print(f"Backtest, 7 shared pairs, median of {args.rounds} runs each:")
        print(f"  plain freqtrade (exchange already up) : {p:6.2f} s")
        print(f"  tradingbot freqtrade --offline        : {g:6.2f} s")
        print(f"  ratio guarded / plain                 : {g / p:6.3f}  (aim <= 1.05)")
        result = next((work / "user_data" / "backtest_results").glob("*.zip"))
        ingest = sorted(_record_and_ingest(result, 50))
        print(
            f"Record + ingest of one backtest: median {statistics.median(ingest):.1f} ms, "
            f"p95 {ingest[int(len(ingest) * 0.95) - 1]:.1f} ms"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
