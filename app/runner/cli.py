"""``tradingbot freqtrade``: the guarded runner's command line."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "freqtrade",
        help="run a Freqtrade command through the guard and the registry",
        description=(
            "Run any Freqtrade command (backtesting, hyperopt, trade, download-data, ...) with "
            "the pre-run gates, a registry record and result ingestion. Everything after the "
            "runner's own options is passed to Freqtrade unchanged; when no -c is given, "
            "user_data/configs/config.testnet.json is used. Exit code: Freqtrade's own, 10 "
            "when a gate refuses the run, 2 for invalid settings or arguments."
        ),
        epilog="example: tradingbot freqtrade --offline backtesting --strategy MaCrossoverStrategy "
        "-c user_data/configs/config.backtest.json",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="serve the exchange from local candle files on 127.0.0.1 for this command",
    )
    parser.add_argument(
        "--offline-datadir",
        type=Path,
        help="folder of candles the offline exchange serves (default: the command's datadir; "
        "required for download-data)",
    )
    parser.add_argument("freqtrade_args", nargs=argparse.REMAINDER, help="Freqtrade's arguments")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import os

    from app.runner.ftargs import parse_invocation
    from app.runner.process import FreqtradeChild, Interrupted, child_environment, raise_on_signals

    raise_on_signals()
    argv = list(args.freqtrade_args)
    # Start Freqtrade's interpreter first: its imports overlap with the runner's own work.
    command = parse_invocation(argv).command or ""
    environ = dict(os.environ)
    with FreqtradeChild(command, child_environment(environ)) as child:
        from app.registry import Registry
        from app.runner.runner import GuardedRunner
        from app.settings import get_settings

        settings = get_settings()
        runner = GuardedRunner(
            settings,
            lambda: Registry.from_settings(settings),
            offline=args.offline,
            offline_datadir=args.offline_datadir,
            environ=environ,
        )
        try:
            return runner.run(argv, child=child)
        except Interrupted as stop:  # before a run was recorded: nothing to clean up
            return 128 + stop.signum
