"""The ``tradingbot`` command line: a thin layer over the library.

Each subcommand lives in its own module exposing ``register(subparsers)``; that
function adds a parser whose ``handler`` default takes the parsed namespace and
returns an exit code. Modules are imported lazily per invocation so that
``tradingbot --help`` stays fast (Freqtrade alone costs about 2 s to import).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from app import __version__
from app.errors import TradingBotError

# Modules contributing subcommands, in --help order.
COMMAND_MODULES: tuple[str, ...] = (
    "app.runner.cli",
    "app.offline_exchange.cli",
    "app.demo",
    "app.registry.cli",
    "app.runner.registry_cli",
    "app.sweep.cli",
    "app.sweep.report_cli",
    "app.exporter.cli",
    "app.telegram.cli",
    "app.drill.cli",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="tradingbot",
        description="Freqtrade strategy and operations bundle: guarded runs, "
        "offline exchange, run registry.",
    )
    parser.add_argument("--version", action="version", version=f"tradingbot {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except TradingBotError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
