"""``tradingbot report strategies``: regenerate the results section of docs/STRATEGIES.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tradingbot report strategies``."""
    parser = subparsers.add_parser(
        "report",
        help="write reports generated from the registry",
        description="Generated reports. Exit codes: 0 ok, 2 bad document or arguments, "
        "5 registry error.",
    )
    commands = parser.add_subparsers(dest="report_command", metavar="REPORT")
    commands.required = True
    sub = commands.add_parser(
        "strategies",
        help="rewrite the results section of docs/STRATEGIES.md from the registry",
        description="Replace the text between the strategies-report markers of --doc with "
        "tables of the newest standalone backtest and the newest walk-forward sweep of "
        "each strategy, read from the registry (RISK_DB_URL / RISK_DB_PATH).",
    )
    sub.add_argument("--doc", type=Path, default=Path("docs/STRATEGIES.md"), help="(%(default)s)")
    sub.add_argument(
        "--strategies",
        help="A,B,C (default: every strategy class in --strategy-path)",
    )
    sub.add_argument(
        "--strategy-path", type=Path, default=Path("user_data/strategies"), help="(%(default)s)"
    )
    sub.add_argument("--print", action="store_true", help="print the section, change nothing")
    sub.set_defaults(handler=_strategies)


def _strategies(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from app.registry import Registry
    from app.registry.engine import safe_url
    from app.sweep.report import collect, project_strategies, render, replace_section

    names = (
        [n.strip() for n in args.strategies.split(",") if n.strip()]
        if args.strategies
        else project_strategies(args.strategy_path)
    )
    with Registry.from_settings() as registry:
        reports = collect(registry, names)
        text = render(reports, safe_url(registry.url), datetime.now(UTC))
    if args.print:
        sys.stdout.write(text + "\n")
        return 0
    replace_section(args.doc, text)
    sys.stdout.write(f"Updated {args.doc}: {len(names)} strategies from {safe_url(registry.url)}\n")
    return 0
