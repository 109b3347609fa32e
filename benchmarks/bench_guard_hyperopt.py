"""The guard's tax on hyperopt: epochs/s of the guarded MaCrossover over the plain one.

Both strategies have identical signals (tests/strategies/ma_crossover_pair.py); the
guarded one runs with every ``RISK_*`` rule on, with limits generous enough that no
entry is refused. Each measurement is ``tradingbot freqtrade --offline hyperopt`` (-j 1,
the 7 shared 5m pairs, ``--spaces buy``, SharpeHyperOptLossDaily, one random state), run
twice with ``E1`` and ``E2`` epochs so that start-up cancels out:
``epochs/s = (E2 - E1) / (T2 - T1)``. Plain and guarded runs alternate, round after
round, so a machine that gets busier hits both alike; the ratio of the medians is
printed (target >= 0.97), and the ratio within each round.

    .venv/bin/python benchmarks/bench_guard_hyperopt.py [--rounds 3] [--epochs 10 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_guard_backtest import ALL_RULES, DATA, MA_PAIR, common_args  # noqa: E402


def hyperopt_seconds(strategy: str, epochs: int, project: Path) -> float:
    """Wall seconds of one guarded-runner hyperopt of ``strategy`` in ``project``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISK_", "TRADINGBOT_"))}
    env.update(ALL_RULES)
    args = [sys.executable, "-m", "app", "freqtrade", "--offline", "hyperopt"]
    args += [*common_args(strategy), "--epochs", str(epochs), "-j", "1", "--spaces", "buy"]
    args += ["--hyperopt-loss", "SharpeHyperOptLossDaily", "--random-state", "7"]
    began = time.perf_counter()
    result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"{strategy} hyperopt failed:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, nargs=2, default=(10, 40), metavar=("E1", "E2"))
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no market data at {DATA} (../shared/data): nothing to measure")
        return 1
    low, high = args.epochs
    project = Path(tempfile.mkdtemp(prefix="bench-guard-hyperopt-"))
    try:
        shutil.copytree(REPO_ROOT / "user_data" / "configs", project / "user_data" / "configs")
        for name in MA_PAIR:  # warm the page cache and .pyc files; not counted
            hyperopt_seconds(name, low, project)
        rates: dict[str, list[float]] = {name: [] for name in MA_PAIR}
        for round_no in range(1, args.rounds + 1):
            order = MA_PAIR if round_no % 2 else MA_PAIR[::-1]  # alternate who goes first
            for name in order:
                short = hyperopt_seconds(name, low, project)
                long = hyperopt_seconds(name, high, project)
                rates[name].append((high - low) / (long - short))
            plain, guarded = (rates[n][-1] for n in MA_PAIR)
            print(
                f"round {round_no}: plain {plain:6.2f} epochs/s  guarded {guarded:6.2f} "
                f"epochs/s  ratio {guarded / plain:5.3f}",
                flush=True,
            )
    finally:
        shutil.rmtree(project, ignore_errors=True)
    plain, guarded = (statistics.median(rates[n]) for n in MA_PAIR)
    print(
        f"\nmedian of {args.rounds} rounds ({low} -> {high} epochs, -j 1, every rule on): "
        f"plain {plain:.2f} epochs/s, guarded {guarded:.2f} epochs/s, "
        f"ratio guarded / plain {guarded / plain:.3f}   target >= 0.97"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
