"""``tradingbot sweep``: walk-forward hyperopt + out-of-sample backtests (thin CLI)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.sweep.cluster import Cluster
    from app.sweep.engine import SweepRequest

DESCRIPTION = """\
Split --timerange into --folds walk-forward folds. For each strategy and fold, run
hyperopt on the training window and a backtest of its best parameters on the test window
that follows, all through the guarded runner (registry, gates and slots; one correlation
id per sweep). The strategy's own parameter file is never touched: runs use copies under
<user_data>/hyperopt_results/sweeps/<sweep id>/. --promote promotes a strategy's last-fold
parameters only when its out-of-sample results pass: profit > 0 in a majority of folds
and in total, at least --min-oos-trades trades and max drawdown below
RISK_MAX_BACKTEST_DRAWDOWN_PCT (20 % when unset) in every fold.
--scheduler tcp://HOST:PORT runs the jobs on a running Dask cluster, --workers N on N
local worker processes started for the sweep; the results are the same as in process
(see "Sweeps on many machines" in the README).
Exit code: 0 when every run succeeded, else the first failed run's code (10 = refused by
a gate); 2 for invalid arguments (also an unreachable --scheduler); 130 on Ctrl-C."""


def _strategies(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tradingbot sweep``."""
    p = subparsers.add_parser(
        "sweep",
        help="walk-forward hyperopt and out-of-sample backtests of strategies",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: tradingbot sweep --strategies MaCrossoverStrategy,BreakoutStrategy "
        "--timerange 20180110-20180130 --folds 3 --epochs 100 --spaces buy sell "
        "--datadir ../shared/data/binance",
    )
    p.add_argument("--strategies", type=_strategies, required=True, help="A,B,C")
    p.add_argument("--timerange", required=True, help="START-END, e.g. 20180110-20180130")
    p.add_argument("--folds", type=int, required=True, help="number of walk-forward folds")
    p.add_argument("--epochs", type=int, default=100, help="hyperopt epochs per fold (100)")
    p.add_argument("--spaces", nargs="+", default=["buy", "sell"], help="(buy sell)")
    p.add_argument("--promote", action="store_true", help="promote strategies that pass")
    p.add_argument(
        "-c",
        "--config",
        dest="configs",
        action="append",
        type=Path,
        help="Freqtrade config(s) (user_data/configs/config.backtest.json)",
    )
    p.add_argument("--datadir", type=Path, help="candle folder (default: the config's)")
    p.add_argument("--pairs", nargs="+", default=[], help="pairs (default: the whitelist)")
    p.add_argument(
        "--strategy-path",
        type=Path,
        default=Path("user_data/strategies"),
        help="folder of the strategy files; promotion writes here (user_data/strategies)",
    )
    p.add_argument("--hyperopt-loss", default="RiskAwareHyperOptLoss", help="(%(default)s)")
    p.add_argument("--random-state", type=int, default=42, help="hyperopt seed (42)")
    p.add_argument("-j", "--jobs", type=int, help="hyperopt workers (Freqtrade's default)")
    p.add_argument(
        "--train-ratio", type=float, default=2.0, help="training / test window length (2.0)"
    )
    p.add_argument("--anchored", action="store_true", help="training windows all start at START")
    p.add_argument(
        "--offline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the exchange from the local candles (default on; --no-offline: real API)",
    )
    p.add_argument(
        "--protections",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pass --enable-protections to hyperopt and backtests, as live trading uses "
        "them (default on)",
    )
    p.add_argument(
        "--min-oos-trades", type=int, default=10, help="trades each test window needs (10)"
    )
    p.add_argument("--work-dir", type=Path, help="where sweep folders go")
    p.add_argument(
        "--slot-wait",
        type=float,
        default=300.0,
        help="seconds to wait for a free backtest slot before each run (300)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the jobs on this Dask scheduler's workers (started with `dask scheduler` / "
        "`dask worker`)",
    )
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run the jobs on N Dask worker processes started on this machine for the sweep",
    )
    p.set_defaults(handler=_run)


def request_from(args: argparse.Namespace) -> SweepRequest:
    """The library request for parsed arguments."""
    from app.sweep.engine import DEFAULT_CONFIG, SweepRequest

    return SweepRequest(
        strategies=args.strategies,
        timerange=args.timerange,
        folds=args.folds,
        epochs=args.epochs,
        spaces=list(args.spaces),
        configs=args.configs or [DEFAULT_CONFIG],
        datadir=args.datadir,
        pairs=list(args.pairs),
        strategy_path=args.strategy_path,
        hyperopt_loss=args.hyperopt_loss,
        random_state=args.random_state,
        jobs=args.jobs,
        train_ratio=args.train_ratio,
        anchored=args.anchored,
        offline=args.offline,
        protections=args.protections,
        promote=args.promote,
        min_oos_trades=args.min_oos_trades,
        work_dir=args.work_dir,
        slot_wait_sec=args.slot_wait,
    )


def _cluster(args: argparse.Namespace) -> contextlib.AbstractContextManager[Cluster | None]:
    """The Dask cluster asked for, or none (in process). Errors before anything is recorded."""
    if args.scheduler is None and args.workers is None:
        return contextlib.nullcontext()
    from app.sweep.cluster import check_scheduler, check_workers, connect

    if args.scheduler is not None:
        check_scheduler(args.scheduler)
    else:
        check_workers(args.workers)
    return connect(args.scheduler, args.workers)


def _run(args: argparse.Namespace) -> int:
    import json
    import os

    from rich.console import Console

    from app.registry import Registry
    from app.runner.process import Interrupted, raise_on_signals
    from app.settings import get_settings
    from app.sweep.engine import Sweep
    from app.sweep.render import ProgressBar, print_result

    raise_on_signals()
    settings = get_settings()
    sweep = Sweep(request_from(args), settings, lambda: Registry.from_settings(settings))
    # The bar draws on a copy of stderr: while runs go on, fds 1 and 2 go to sweep.log.
    with os.fdopen(os.dup(2), "w", buffering=1) as terminal:
        try:
            with _cluster(args) as cluster, ProgressBar(Console(file=terminal)) as bar:
                if cluster is not None:
                    print(f"Running the jobs on {cluster.description}", file=terminal)
                result = sweep.run(bar, cluster=cluster)
        except Interrupted as stop:
            print(
                f"Interrupted; the runs so far are in the registry (correlation id "
                f"{sweep.sweep_id}), their files in {sweep.workspace.root}",
                file=terminal,
            )
            return 128 + stop.signum
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        console = Console()
        if not console.is_terminal:  # a file or pipe: room for the whole table
            console = Console(width=180)
        print_result(result, console, str(sweep.workspace.log_file))
    return result.exit_code
