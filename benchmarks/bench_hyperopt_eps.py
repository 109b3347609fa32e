"""Hyperopt epochs per second of each strategy next to Freqtrade's own sample strategy.

Every run is ``tradingbot freqtrade --offline hyperopt`` on the 7 shared 5m pairs
(../shared/data), spaces ``buy sell``, RiskAwareHyperOptLoss, the same random state,
``-j 1``, in a throwaway project. Freqtrade's ``templates/sample_strategy.py`` is copied to
a temporary folder at run time (never committed). Each strategy runs twice, with ``E1``
and ``E2`` epochs, so start-up (imports, data loading, indicators) cancels out:
``epochs/s = (E2 - E1) / (T2 - T1)``. The ratio is strategy / sample (target >= 1.0).

    .venv/bin/python benchmarks/bench_hyperopt_eps.py [--epochs 5 25] [--timerange ...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import freqtrade

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data" / "binance"
PAIRS = ["ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC"]
STRATEGIES = ("MaCrossoverStrategy", "BreakoutStrategy", "MeanReversionStrategy")
SAMPLE = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"


def make_project(root: Path) -> Path:
    """Configs, strategies and hyperopt losses of the repo; the sample strategy aside."""
    for folder in ("configs", "strategies", "hyperopts"):
        shutil.copytree(
            REPO_ROOT / "user_data" / folder,
            root / "user_data" / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.json")
            if folder == "strategies"
            else shutil.ignore_patterns("__pycache__"),
        )
    sample_dir = root / "sample"
    sample_dir.mkdir()
    shutil.copy(SAMPLE, sample_dir / SAMPLE.name)
    return root


def hyperopt_seconds(project: Path, strategy: str, epochs: int, timerange: str | None) -> float:
    args = [sys.executable, "-m", "app", "freqtrade", "--offline", "hyperopt"]
    args += ["-c", "user_data/configs/config.backtest.json", "--strategy", strategy]
    if strategy == "SampleStrategy":
        args += ["--strategy-path", str(project / "sample")]
    args += ["--datadir", str(DATA), "--pairs", *PAIRS, "--epochs", str(epochs)]
    args += ["--spaces", "buy", "sell", "--hyperopt-loss", "RiskAwareHyperOptLoss"]
    args += ["--random-state", "1", "-j", "1"]
    if timerange:
        args += ["--timerange", timerange]
    start = time.perf_counter()
    result = subprocess.run(args, cwd=project, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{strategy} hyperopt failed:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs=2, default=[5, 25], metavar=("E1", "E2"))
    parser.add_argument("--timerange", help="e.g. 20180115-20180125 (default: all data)")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"shared data not found at {DATA}")
    low, high = args.epochs
    with tempfile.TemporaryDirectory(prefix="bench-eps-") as tmp:
        project = make_project(Path(tmp))
        rates: dict[str, float] = {}
        for strategy in ("SampleStrategy", *STRATEGIES):
            short = hyperopt_seconds(project, strategy, low, args.timerange)
            long = hyperopt_seconds(project, strategy, high, args.timerange)
            rates[strategy] = (high - low) / (long - short)
            print(
                f"{strategy:24} {low:3d} epochs {short:6.1f} s, {high:3d} epochs {long:6.1f} s: "
                f"{rates[strategy]:5.2f} epochs/s",
                flush=True,
            )
    base = rates["SampleStrategy"]
    print(f"\n{'strategy':24} {'epochs/s':>9} {'vs sample':>10}")
    for strategy, rate in rates.items():
        print(f"{strategy:24} {rate:9.2f} {rate / base:10.2f}")


if __name__ == "__main__":
    main()
