"""The guard's tax on hyperopt: epochs/s of the guarded MaCrossover over the plain one.

Both strategies have identical signals (tests/strategies/ma_crossover_pair.py); the
guarded one runs with every ``RISK_*`` rule on, with limits generous enough that no
entry is refused (checked: every epoch makes the same trades on both sides).

Two measurements, both side by side:

* ``--rounds R``: ``tradingbot freqtrade --offline hyperopt`` as a user runs it (-j 1, the
  7 shared 5m pairs, ``--spaces buy``, SharpeHyperOptLossDaily, one random state), twice
  per strategy with ``E1`` and ``E2`` epochs so that start-up cancels out:
  ``epochs/s = (E2 - E1) / (T2 - T1)``. Plain and guarded alternate round after round;
  the ratio of the medians is printed, from wall time and from CPU time. The two sides
  are separate processes minutes apart, so on a machine shared with other jobs a round
  can swing by 10 % either way: read these from a quiet machine.
* ``--in-process E``: both strategies' hyperopt set up in this one process; each of
  ``E`` epochs draws one parameter set and runs Freqtrade's own epoch function
  (``generate_optimizer``: load the data, backtest, loss) for the plain and then the
  guarded strategy or the other way round, alternating. Both halves of an epoch see the
  same load, so the per-epoch ratio holds steady where separate runs do not; a full
  garbage collection before each timed epoch (as Freqtrade's hyperopt does after each)
  keeps one side from collecting the other's cyclic trade objects. The three
  callbacks the guard owns are timed by the same wrapper on both sides, which shows what
  the guard's own code costs: ``(1 - guarded share) / (1 - plain share)``.

``--noop loop|entries|all`` (diagnosis, with ``--in-process``): the guarded side's
``bot_loop_start``, its two entry callbacks or all three are replaced by Freqtrade's
defaults (the limits are generous: the same trades), to see which part the end-to-end
ratio follows.

    .venv/bin/python benchmarks/bench_guard_hyperopt.py [--rounds 3] [--epochs 10 40]
        [--in-process 40] [--noop loop|entries|all]
"""

from __future__ import annotations

import argparse
import gc
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
from typing import Any

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


# What ``--noop`` replaces the guarded side's callbacks with: Freqtrade's defaults.
NOOPS: dict[str, Any] = {
    "bot_loop_start": lambda **kwargs: None,
    "custom_stake_amount": lambda **kwargs: kwargs["proposed_stake"],
    "confirm_trade_entry": lambda **kwargs: True,
}
NOOP_GROUPS = {
    "loop": ("bot_loop_start",),
    "entries": ("custom_stake_amount", "confirm_trade_entry"),
    "all": tuple(NOOPS),
}


def side_by_side(
    epochs: int, workdir: Path, noop: tuple[str, ...] = ()
) -> dict[str, dict[str, list[float]]]:
    """Per strategy: each epoch's seconds, callback seconds and trade count (see above)."""
    import random

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
    configure_logging(log_file=workdir / "risk.jsonl", to_stderr=False)
    try:
        with OfflineExchange(DATA, mode=Mode.HISTORIC) as exchange:
            overlay = workdir / "overlay.json"
            overlay.write_text(json.dumps(ccxt_overlay(exchange.url)))
            optimizers: dict[str, Any] = {}
            callback_ns: dict[str, list[int]] = {}
            for name in MA_PAIR:
                args = {
                    "config": [str(CONFIG), str(overlay)],
                    "strategy": name,
                    "strategy_path": str(STRATEGIES),
                    "datadir": str(DATA),
                    "user_data_dir": str(workdir / name / "user_data"),
                    "pairs": PAIRS,
                    "epochs": epochs,
                    "spaces": ["buy"],
                    "hyperopt_loss": "SharpeHyperOptLossDaily",
                    "hyperopt_jobs": 1,
                    "hyperopt_min_trades": 1,
                    "disableparamexport": True,  # never write the strategy's parameter file
                }
                (workdir / name / "user_data").mkdir(parents=True)
                config = Configuration(args, RunMode.HYPEROPT).get_config()
                logging.getLogger("freqtrade").setLevel(logging.WARNING)
                optimizer = Hyperopt(config).hyperopter
                optimizer.prepare_hyperopt()  # loads and analyses the candles once
                instance = optimizer.backtesting.strategy
                callback_ns[name] = [0]
                for callback in CALLBACKS:  # instance attributes shadow the class's methods
                    method = getattr(instance, callback)
                    if name == MA_PAIR[1] and callback in noop:
                        method = NOOPS[callback]
                    setattr(instance, callback, _timed(method, callback_ns[name]))
                optimizers[name] = optimizer
            strategy = optimizers[MA_PAIR[1]].backtesting.strategy
            space = [
                (attr_name, list(attr.range))
                for attr_name, attr in strategy.enumerate_parameters()
                if attr.in_space and attr.optimize and attr.space == "buy"
            ]
            draw = random.Random(7)
            out: dict[str, dict[str, list[float]]] = {
                name: {"epoch": [], "callbacks": [], "trades": []} for name in MA_PAIR
            }
            for epoch in range(epochs):
                params = {attr_name: draw.choice(values) for attr_name, values in space}
                for name in MA_PAIR if epoch % 2 else MA_PAIR[::-1]:
                    # Freqtrade's hyperopt collects after every epoch too; here it also keeps
                    # one side from paying for the other's garbage (trades are cyclic).
                    gc.collect()
                    before = callback_ns[name][0]
                    began = time.perf_counter()
                    result = optimizers[name].generate_optimizer(params)
                    out[name]["epoch"].append(time.perf_counter() - began)
                    out[name]["callbacks"].append((callback_ns[name][0] - before) / 1e9)
                    out[name]["trades"].append(result["results_metrics"]["total_trades"])
            return out
    finally:
        reset_logging()


def report_side_by_side(epochs: int, noop: str | None = None) -> None:
    """Run :func:`side_by_side` and print the ratios."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-guard-side-by-side-"))
    try:
        out = side_by_side(epochs, workdir, NOOP_GROUPS[noop] if noop else ())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    plain, guarded = (out[name] for name in MA_PAIR)
    if noop:
        print(f"\nthe guarded side's {', '.join(NOOP_GROUPS[noop])} replaced by no-ops")
    if plain["trades"] != guarded["trades"]:
        raise SystemExit(f"the guard changed trades: {plain['trades']} vs {guarded['trades']}")
    ratios = [p / g for p, g in zip(plain["epoch"], guarded["epoch"], strict=True)]
    plain_share = sum(plain["callbacks"]) / sum(plain["epoch"])
    guarded_share = sum(guarded["callbacks"]) / sum(guarded["epoch"])
    print(
        f"\nin one process, {epochs} epochs, the same parameters on both sides "
        f"({statistics.mean(guarded['trades']):.0f} trades per epoch on each):\n"
        f"  epochs/s guarded / plain: median of the per-epoch ratios "
        f"{statistics.median(ratios):.4f}, all epochs "
        f"{sum(plain['epoch']) / sum(guarded['epoch']):.4f}   target >= 0.97\n"
        f"  the three callbacks: plain {sum(plain['callbacks']):.3f} s of "
        f"{sum(plain['epoch']):.2f} s ({plain_share:.2%}), guarded "
        f"{sum(guarded['callbacks']):.3f} s of {sum(guarded['epoch']):.2f} s "
        f"({guarded_share:.2%}); ratio from these shares "
        f"{(1 - guarded_share) / (1 - plain_share):.4f}"
    )


def wall_clock_rounds(rounds: int, low: int, high: int) -> None:
    """Alternating subprocess rounds: epochs/s from wall time and from CPU time."""
    project = Path(tempfile.mkdtemp(prefix="bench-guard-hyperopt-"))
    try:
        shutil.copytree(REPO_ROOT / "user_data" / "configs", project / "user_data" / "configs")
        for name in MA_PAIR:  # warm the page cache and .pyc files; not counted
            hyperopt_seconds(name, low, project)
        rates: dict[str, list[float]] = {name: [] for name in MA_PAIR}
        cpu_rates: dict[str, list[float]] = {name: [] for name in MA_PAIR}
        for round_no in range(1, rounds + 1):
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
        f"\nmedian of {rounds} rounds ({low} -> {high} epochs, -j 1, every rule on): "
        f"plain {plain:.2f} epochs/s, guarded {guarded:.2f} epochs/s, "
        f"ratio guarded / plain {guarded / plain:.3f}   target >= 0.97"
    )
    plain_cpu, guarded_cpu = (statistics.median(cpu_rates[n]) for n in MA_PAIR)
    print(
        f"per CPU second (user + system): plain {plain_cpu:.2f} epochs, guarded "
        f"{guarded_cpu:.2f} epochs, ratio guarded / plain {guarded_cpu / plain_cpu:.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="0: skip")
    parser.add_argument("--epochs", type=int, nargs=2, default=(10, 40), metavar=("E1", "E2"))
    parser.add_argument("--in-process", type=int, default=40, metavar="EPOCHS", help="0: skip")
    parser.add_argument("--noop", choices=tuple(NOOP_GROUPS), help="diagnosis, see above")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no market data at {DATA} (../shared/data): nothing to measure")
        return 1
    if args.rounds:
        wall_clock_rounds(args.rounds, *args.epochs)
    if args.in_process:
        report_side_by_side(args.in_process, args.noop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
