"""``tradingbot drill``: a paper-trading game day against the fault-injecting exchange."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "drill",
        help="rehearse an incident: a dry-run bot against a misbehaving offline exchange",
        description=(
            "Run a dry-run bot (DrillStrategy, through the guarded runner) against the offline "
            "exchange, play a scenario of exchange faults and actions (breaker on/off, kill, "
            "stop, start), and check what must hold. Prints a timeline and the verdict of "
            "every expectation; records the drill in the registry (kind drill). Exit code: 0 "
            "every expectation held, 1 one failed, 2 a bad scenario or argument (checked "
            "before anything starts), 3 bad candle data. See docs/RUNBOOK.md, Game days."
        ),
        epilog="examples: tradingbot drill --list; tradingbot drill breaker-mid-run; "
        "tradingbot drill --scenario my-drill.json --json report.json",
    )
    parser.add_argument("name", nargs="?", help="a built-in scenario (see --list)")
    parser.add_argument("--list", action="store_true", help="list the built-in scenarios")
    parser.add_argument("--scenario", type=Path, metavar="FILE", help="run a scenario file")
    parser.add_argument(
        "--datadir",
        type=Path,
        help="serve these candles (default: synthetic 1m candles made for the drill)",
    )
    parser.add_argument("--pairs", nargs="+", metavar="PAIR", help="pairs the bot trades")
    parser.add_argument(
        "--json",
        metavar="REPORT",
        help="also write the report as JSON to REPORT ('-' = stdout, the tables go to stderr)",
    )
    parser.set_defaults(handler=_run)


def _list() -> int:
    from rich.console import Console
    from rich.table import Table

    from app.drill.builtins import builtin_names, load_builtin

    table = Table(title="Built-in drills (tradingbot drill NAME)")
    for column in ("name", "seconds", "rehearses", "expects", "what happens"):
        table.add_column(column)
    for name in builtin_names():
        scenario = load_builtin(name)
        table.add_row(
            name,
            f"{scenario.duration_s:g}",
            ", ".join(scenario.alerts) or "-",
            "\n".join(str(e) for e in scenario.expect),
            scenario.description,
        )
    Console(width=160).print(table)
    return 0


def _run(args: argparse.Namespace) -> int:
    from app.errors import ConfigError

    if args.list:
        if args.name or args.scenario:
            raise ConfigError("--list takes no scenario; run it alone")
        return _list()
    if bool(args.name) == bool(args.scenario):
        raise ConfigError(
            "name one drill: a built-in NAME (tradingbot drill --list) or --scenario FILE"
        )
    return _drill(args)


def _drill(args: argparse.Namespace) -> int:
    import json
    import os
    import uuid

    from app.drill.builtins import load_builtin
    from app.drill.scenario import load_scenario
    from app.errors import ConfigError

    # The scenario first, with light imports: a bad file is refused in a fraction of a second.
    scenario = load_scenario(args.scenario) if args.scenario else load_builtin(args.name)
    report_to = None if args.json in (None, "-") else Path(args.json)
    if report_to is not None and not report_to.parent.is_dir():
        raise ConfigError(f"--json {args.json}: folder {report_to.parent} does not exist")

    from rich.console import Console

    from app.drill.orchestrator import plan_drill, run_drill
    from app.drill.report import render
    from app.logs import CORRELATION_ID_ENV
    from app.registry import Registry
    from app.runner.process import raise_on_signals
    from app.settings import get_settings

    environ = dict(os.environ)
    plan = plan_drill(
        scenario,
        datadir=args.datadir,
        pairs=args.pairs,
        environ=environ,
        command=["tradingbot", "drill", *sys.argv[2:]],
    )
    registry = Registry.from_settings(get_settings())
    correlation_id = uuid.uuid4().hex[:12]
    # The drill's own log lines (breaker changes) carry its correlation id.
    os.environ[CORRELATION_ID_ENV] = correlation_id
    raise_on_signals()
    console = Console(file=sys.stderr if args.json == "-" else sys.stdout, width=160)
    result = run_drill(
        plan,
        registry=registry,
        correlation_id=correlation_id,
        environ=environ,
        progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    render(result.report, console)
    text = json.dumps(result.report, indent=2)
    if args.json == "-":
        print(text)
    elif report_to is not None:
        report_to.write_text(text + "\n")
    return result.exit_code
