"""``tradingbot registry import DIR`` and ``tradingbot registry verify RUN_ID``."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.registry.cli import add_json_flag, registry_commands


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands = registry_commands(subparsers)

    parser = commands.add_parser(
        "import",
        help="record result files made outside the runner (idempotent)",
        description="Import every Freqtrade backtest result (.zip/.json) and hyperopt result "
        "(.fthypt) under DIR as succeeded runs with their metrics. Files already in the "
        "registry are skipped, so importing twice adds nothing.",
    )
    parser.add_argument("folder", type=Path, metavar="DIR")
    add_json_flag(parser)
    parser.set_defaults(handler=_import)

    parser = commands.add_parser(
        "verify",
        help="re-run a recorded backtest and compare its trade fingerprint",
        description="Re-run RUN_ID's exact command (recorded as a new run) and compare the "
        "equity hash of its trades with the recorded one. Refuses, with the reason, when "
        "the strategy, its parameters, the config or the candles changed since. Exit codes: "
        "0 reproduced, 1 different trades, 8 cannot verify, 5 unknown run.",
    )
    parser.add_argument("run_id", metavar="RUN_ID")
    add_json_flag(parser)
    parser.set_defaults(handler=_verify)


def _import(args: argparse.Namespace) -> int:
    from app.registry import Registry
    from app.registry.render import console, print_json
    from app.runner.importer import import_results

    with Registry.from_settings() as registry:
        report = import_results(registry, args.folder)
    if args.json:
        print_json(
            {
                "imported": report.imported,
                "skipped": report.skipped,
                "unreadable": report.unreadable,
            }
        )
    else:
        out = console()
        out.print(
            f"Imported {len(report.imported)} run(s); skipped {len(report.skipped)} already "
            f"recorded; {len(report.unreadable)} unreadable."
        )
        for line in report.unreadable:
            out.print(f"  unreadable: {line}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    import os

    from app.registry import Registry
    from app.registry.render import console, print_json
    from app.runner.verify import verify_run
    from app.settings import get_settings

    settings = get_settings()
    with Registry.from_settings(settings) as registry:
        result = verify_run(
            registry, settings, args.run_id, dict(os.environ), report_to_stderr=args.json
        )
    if args.json:
        print_json(
            {
                "run_id": result.run_id,
                "new_run_id": result.new_run_id,
                "reproduced": result.reproduced,
                "recorded_equity_hash": result.recorded_hash,
                "new_equity_hash": result.new_hash,
            }
        )
    elif result.reproduced:
        console().print(
            f"REPRODUCED: {result.new_run_id} made the same trades as {result.run_id} "
            f"(equity hash {result.recorded_hash[:16]})"
        )
    else:
        console().print(
            f"NOT REPRODUCED: {result.new_run_id} made different trades than {result.run_id} "
            f"(recorded {result.recorded_hash[:16]}, now {str(result.new_hash)[:16]})"
        )
    return result.exit_code
