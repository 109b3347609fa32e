"""The guard's tax on hyperopt: epochs/s of the guarded MaCrossover over the plain one.

Both strategies have identical signals (tests/strategies/ma_crossover_pair.py); the
guarded one runs with every ``RISK_*`` rule on, with limits generous enough that no
entry is refused. Each measurement is ``tradingbot freqtrade --offline hyperopt`` (-j 1,
the 7 shared 5m pairs, ``--spaces buy``, SharpeHyperOptLossDaily, one random state), run
twice with ``E1`` and ``E2`` epochs so that start-up cancels out:
``epochs/s = (E2 - E1) / (T2 - T1)``. Plain and guarded runs alternate, round after
round, so a machine that gets busier hits both alike; the ratio of the medians is
printed (target >= 0.97), and the ratio within each round. Beside wall time, the same
ratio from the CPU time of the runs (user + system of the whole process tree): on a
machine shared with other jobs, their load stretches wall time far more than CPU time.
Last, ``--in-process E`` epochs of the guarded hyperopt run in this process with the
guard's callbacks timed: the guard's share of the run gives an estimated ratio
``1 / (1 + guard / rest)`` that other jobs can hardly skew (they slow both parts alike).

    .venv/bin/python benchmarks/bench_guard_hyperopt.py [--rounds 3] [--epochs 10 40]
        [--in-process 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_guard_backtest import (  # noqa: E402
    ALL_RULES,
    CALLBACKS,
    CONFIG,
    DATA,
    MA_PAIR,
    PAIRS,
    STRATEGIES,
    _timed,
    common_args,
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def hyperopt_seconds(strategy: str, epochs: int, project: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one guarded-runner hyperopt of ``strategy`` in ``project``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISK_", "TRADINGBOT_"))}
    env.update(ALL_RULES)
    args = [sys.executable, "-m", "app", "freqtrade", "--offline", "hyperopt"]
    args += [*common_args(strategy), "--epochs", str(epochs), "-j", "1", "--spaces", "buy"]
    args += ["--hyperopt-loss", "SharpeHyperOptLossDaily", "--random-state", "7"]
    began, began_cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, check=False)
    elapsed, cpu = time.perf_counter() - began, _children_cpu() - began_cpu
    if result.returncode != 0:
        raise SystemExit(f"{strategy} hyperopt failed:\n{result.stderr[-3000:]}")
    return elapsed, cpu


def guard_share(epochs: int, workdir: Path) -> tuple[float, float]:
    """(guard seconds, run seconds) of an in-process guarded hyperopt (-j 1, no pickling)."""
    sys.path.insert(0, str(REPO_ROOT))
    from freqtrade.configuration import Configuration
    from freqtrade.enums import RunMode
    from freqtrade.optimize.hyperopt import Hyperopt

    from app.logs import configure_logging, reset_logging
    from app.offline_exchange.overlay import ccxt_overlay
    from app.offline_exchange.replay import Mode
    from app.offline_exchange.server import OfflineExchange

    for name in [k for k in os.environ if k.startswith(("RISK_", "TRADINGBOT_"))]:
        del os.environ[name]
    os.environ.update(ALL_RULES)
    (workdir / "user_data").mkdir()
    configure_logging(log_file=workdir / "risk.jsonl", to_stderr=False)
    try:
        with OfflineExchange(DATA, mode=Mode.HISTORIC) as exchange:
            overlay = workdir / "overlay.json"
            overlay.write_text(json.dumps(ccxt_overlay(exchange.url)))
            args = {
                "config": [str(CONFIG), str(overlay)],
                "strategy": MA_PAIR[1],
                "strategy_path": str(STRATEGIES),
                "datadir": str(DATA),
                "user_data_dir": str(workdir / "user_data"),
                "pairs": PAIRS,
                "epochs": epochs,
                "spaces": ["buy"],
                "hyperopt_loss": "SharpeHyperOptLossDaily",
                "hyperopt_jobs": 1,
                "hyperopt_random_state": 7,
                "hyperopt_min_trades": 1,
                "disableparamexport": True,  # never write the strategy's parameter file
            }
            config = Configuration(args, RunMode.HYPEROPT).get_config()
            logging.getLogger("freqtrade").setLevel(logging.WARNING)
            hyperopt = Hyperopt(config)
            strategy = hyperopt.hyperopter.backtesting.strategy
            guard_ns = [0]
            for callback in CALLBACKS:  # instance attributes shadow the guarded methods
                setattr(strategy, callback, _timed(getattr(strategy, callback), guard_ns))
            began = time.perf_counter()
            hyperopt.start()
            return guard_ns[0] / 1e9, time.perf_counter() - began
    finally:
        reset_logging()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, nargs=2, default=(10, 40), metavar=("E1", "E2"))
    parser.add_argument("--in-process", type=int, default=20, metavar="EPOCHS", help="0: skip")
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
        cpu_rates: dict[str, list[float]] = {name: [] for name in MA_PAIR}
        for round_no in range(1, args.rounds + 1):
            order = MA_PAIR if round_no % 2 else MA_PAIR[::-1]  # alternate who goes first
            for name in order:
                short, short_cpu = hyperopt_seconds(name, low, project)
                long, long_cpu = hyperopt_seconds(name, high, project)
                rates[name].append((high - low) / (long - short))
                cpu_rates[name].append((high - low) / (long_cpu - short_cpu))
            plain, guarded = (rates[n][-1] for n in MA_PAIR)
            plain_cpu, guarded_cpu = (cpu_rates[n][-1] for n in MA_PAIR)
            print(
                f"round {round_no}: plain {plain:6.2f} epochs/s  guarded {guarded:6.2f} "
                f"epochs/s  ratio {guarded / plain:5.3f}   per CPU second: plain "
                f"{plain_cpu:5.2f}  guarded {guarded_cpu:5.2f}  ratio "
                f"{guarded_cpu / plain_cpu:5.3f}",
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
    plain_cpu, guarded_cpu = (statistics.median(cpu_rates[n]) for n in MA_PAIR)
    print(
        f"per CPU second (user + system): plain {plain_cpu:.2f} epochs, guarded "
        f"{guarded_cpu:.2f} epochs, ratio guarded / plain {guarded_cpu / plain_cpu:.3f}"
    )
    if args.in_process:
        workdir = Path(tempfile.mkdtemp(prefix="bench-guard-share-"))
        try:
            guard, run = guard_share(args.in_process, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(
            f"in process, {args.in_process} guarded epochs: the guard's callbacks took "
            f"{guard:.3f} s of {run:.2f} s ({guard / run:.2%}); estimated ratio guarded / "
            f"plain {1 / (1 + guard / (run - guard)):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
