"""``tradingbot params promote|rollback|history``: manage promoted parameter sets."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from app.registry.cli import add_json_flag, open_registry

if TYPE_CHECKING:
    from app.registry.cli import SubParsers
    from app.registry.params import ParamPromoter

DEFAULT_STRATEGIES_DIR = Path("user_data/strategies")


def register(subparsers: SubParsers) -> None:
    """Add ``params promote|rollback|history``."""
    parser = subparsers.add_parser(
        "params",
        help="promote a hyperopt run's parameters, roll back, list history",
        description="Write the strategy parameter file Freqtrade loads "
        "(<strategy file>.json next to the strategy) from a succeeded hyperopt run, keeping "
        "every previous set in the registry. Exit codes: 0 ok, 5 refused or registry error.",
    )
    commands = parser.add_subparsers(dest="params_command", metavar="SUBCOMMAND")
    commands.required = True

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--strategies-dir",
            type=Path,
            default=DEFAULT_STRATEGIES_DIR,
            help="folder holding the strategy .py files (default user_data/strategies)",
        )
        add_json_flag(sub)

    sub = commands.add_parser("promote", help="make a hyperopt run's best parameters active")
    sub.add_argument("run_id", metavar="RUN_ID")
    sub.add_argument("--strategy", help="refuse unless the run optimised this strategy")
    common(sub)
    sub.set_defaults(handler=_promote)

    sub = commands.add_parser("rollback", help="re-activate the set the active one replaced")
    sub.add_argument("strategy", metavar="STRATEGY")
    common(sub)
    sub.set_defaults(handler=_rollback)

    sub = commands.add_parser("history", help="list a strategy's parameter sets, newest first")
    sub.add_argument("strategy", metavar="STRATEGY")
    common(sub)
    sub.set_defaults(handler=_history)


def _promoter(args: argparse.Namespace) -> ParamPromoter:
    from app.registry.params import ParamPromoter

    return ParamPromoter(open_registry(), args.strategies_dir)


def _promote(args: argparse.Namespace) -> int:
    from app.registry.render import console, print_json

    promoter = _promoter(args)
    with promoter.registry:
        result = promoter.promote(args.run_id, strategy=args.strategy)
    if args.json:
        print_json(
            {
                "param_set": result.param_set.to_json(),
                "previous": None if result.previous is None else result.previous.to_json(),
                "file": str(result.file),
            }
        )
        return 0
    new = result.param_set
    replaced = "" if result.previous is None else f" (replaces set {result.previous.id})"
    console().print(
        f"Promoted run {new.source_run_id} as parameter set {new.id} of {new.strategy}"
        f"{replaced}; wrote {result.file}."
    )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from app.registry.render import console, print_json

    promoter = _promoter(args)
    with promoter.registry:
        result = promoter.rollback(args.strategy)
    if args.json:
        print_json(
            {
                "strategy": args.strategy,
                "retired": result.retired.to_json(),
                "active": None if result.active is None else result.active.to_json(),
                "file": str(result.file),
                "file_removed": result.file_removed,
            }
        )
        return 0
    if result.active is not None:
        what = f"set {result.active.id} (from run {result.active.source_run_id}) is active again"
    elif result.file_removed:
        what = f"no set is active; removed {result.file}, the strategy's defaults apply"
    else:
        what = "no set is active; restored the file that predated the first promotion"
    console().print(f"Retired set {result.retired.id} of {args.strategy}; {what}.")
    return 0


def _history(args: argparse.Namespace) -> int:
    from app.registry.render import console, param_sets_table, print_json

    promoter = _promoter(args)
    with promoter.registry:
        history = promoter.history(args.strategy)
    if args.json:
        print_json(
            {
                "strategy": history.strategy,
                "file": None if history.file is None else str(history.file),
                "file_matches_active": history.file_matches_active,
                "param_sets": [s.to_json() for s in history.param_sets],
            }
        )
        return 0
    out = console()
    if not history.param_sets:
        out.print(f"No parameter sets promoted for {args.strategy}.")
        return 0
    out.print(param_sets_table(history.param_sets, f"Parameter sets of {args.strategy}"))
    if history.file_matches_active is False:
        out.print(
            f"Warning: {history.file} no longer holds the active set (edited by hand or "
            "rewritten by a hyperopt run without --disable-param-export)."
        )
    return 0
