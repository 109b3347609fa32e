"""``tradingbot freqtrade``: the guarded runner's command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.errors import ConfigError

DEFAULT_SLOT_WAIT_SEC = 1800.0
MAX_SLOT_WAIT_SEC = 7 * 24 * 3600.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "freqtrade",
        help="run a Freqtrade command through the guard and the registry",
        description=(
            "Run any Freqtrade command (backtesting, hyperopt, trade, download-data, ...) with "
            "the pre-run gates, a registry record and result ingestion. Everything after the "
            "runner's own options is passed to Freqtrade unchanged; when no -c is given, "
            "user_data/configs/config.testnet.json is used. Exit code: Freqtrade's own; 1 (2 "
            "for a configuration error) when Freqtrade refused or failed but exited 0; 10 "
            "when a gate refuses the run; 2 for invalid settings or arguments; 128+N when "
            "interrupted by signal N. See docs/RUNBOOK.md, Exit codes."
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
    parser.add_argument(
        "--wait-for-slot",
        nargs="?",
        const=str(DEFAULT_SLOT_WAIT_SEC),
        metavar="SECONDS",
        help="when every backtest/hyperopt slot is busy, queue (first come, first served) "
        f"for up to SECONDS (default {DEFAULT_SLOT_WAIT_SEC:.0f}) instead of exiting 10",
    )
    parser.add_argument("freqtrade_args", nargs=argparse.REMAINDER, help="Freqtrade's arguments")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import os

    from app.runner.ftargs import parse_invocation
    from app.runner.process import FreqtradeChild, Interrupted, child_environment, raise_on_signals

    raise_on_signals()
    argv = list(args.freqtrade_args)
    wait, argv = slot_wait(args.wait_for_slot, argv)
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
            slot_wait_sec=wait,
        )
        try:
            return runner.run(argv, child=child)
        except Interrupted as stop:  # before a run was recorded: nothing to clean up
            return 128 + stop.signum


def slot_wait(value: str | None, argv: list[str]) -> tuple[float, list[str]]:
    """Seconds to wait for a slot, and Freqtrade's arguments.

    ``--wait-for-slot`` takes an optional value, so in ``--wait-for-slot backtesting ...``
    argparse hands over the subcommand as the value: it goes back in front of argv.
    """
    if value is None:
        return 0.0, argv
    try:
        seconds = float(value)
    except ValueError:
        return DEFAULT_SLOT_WAIT_SEC, [value, *argv]
    if not 0 < seconds <= MAX_SLOT_WAIT_SEC:  # also refuses nan and inf
        raise ConfigError(
            f"--wait-for-slot {value!r} is out of range; give seconds in (0, "
            f"{MAX_SLOT_WAIT_SEC:.0f}], e.g. --wait-for-slot 600"
        )
    return seconds, argv
