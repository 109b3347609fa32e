"""``tradingbot registry ...``: query the run registry.

Other modules add subcommands to ``registry`` (``import``, ``verify``) through
:func:`registry_commands`, which returns the ``registry`` command's own subparsers and
creates them on first use, whatever the order of ``COMMAND_MODULES``::

    def register(subparsers):
        commands = registry_commands(subparsers)
        parser = commands.add_parser("import", help="...")
        add_json_flag(parser)
        parser.set_defaults(handler=_import)

The registry comes from ``RISK_DB_URL`` / ``RISK_DB_PATH``; every command takes
``--json`` for machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.registry.store import Registry

    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

_REGISTRY_COMMANDS: weakref.WeakKeyDictionary[SubParsers, SubParsers] = weakref.WeakKeyDictionary()


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """The ``--json`` flag every registry/params command has."""
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of tables"
    )


def registry_commands(subparsers: SubParsers) -> SubParsers:
    """The subparsers of ``tradingbot registry``, created on the first call."""
    commands = _REGISTRY_COMMANDS.get(subparsers)
    if commands is None:
        parser = subparsers.add_parser(
            "registry",
            help="list, show and compare recorded runs and incidents",
            description="Query the run registry (RISK_DB_URL or RISK_DB_PATH). "
            "Exit codes: 0 ok, 5 registry error or unknown run, 2 bad arguments.",
        )
        commands = parser.add_subparsers(dest="registry_command", metavar="SUBCOMMAND")
        commands.required = True
        _REGISTRY_COMMANDS[subparsers] = commands
    return commands


def register(subparsers: SubParsers) -> None:
    """Add ``registry upgrade|runs|show|compare|incidents`` and ``params ...``."""
    from app.registry import params_cli

    commands = registry_commands(subparsers)

    parser = commands.add_parser("upgrade", help="apply pending schema migrations")
    parser.set_defaults(handler=_upgrade)
    add_json_flag(parser)

    parser = commands.add_parser("runs", help="list runs, newest first")
    parser.add_argument("--strategy", help="only this strategy (class name)")
    parser.add_argument("--kind", help="only this kind: backtest, hyperopt, dry_run, ...")
    parser.add_argument("--limit", type=int, default=50, help="at most N runs (default 50)")
    parser.set_defaults(handler=_runs)
    add_json_flag(parser)

    parser = commands.add_parser("show", help="every field, metric and incident of a run")
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.set_defaults(handler=_show)
    add_json_flag(parser)

    parser = commands.add_parser("compare", help="two runs' metrics side by side (B - A)")
    parser.add_argument("run_a", metavar="RUN_A")
    parser.add_argument("run_b", metavar="RUN_B")
    parser.set_defaults(handler=_compare)
    add_json_flag(parser)

    parser = commands.add_parser("incidents", help="list incidents, newest first")
    parser.add_argument("--limit", type=int, default=50, help="at most N incidents (default 50)")
    parser.add_argument("--run", dest="run_id", help="only incidents of this run")
    parser.set_defaults(handler=_incidents)
    add_json_flag(parser)

    params_cli.register(subparsers)


def open_registry() -> Registry:
    """The registry configured by the settings (imported lazily: the CLI stays fast)."""
    from app.registry.store import Registry

    return Registry.from_settings()


def open_for_query() -> Registry:
    """The registry, after marking runs whose runner is gone as ``interrupted``.

    Every query (runs, show, compare, incidents) shows ended runs as ended, not
    ``running`` forever.
    """
    registry = open_registry()
    registry.mark_interrupted_runs()
    return registry


def _upgrade(args: argparse.Namespace) -> int:
    from app.registry.engine import safe_url
    from app.registry.render import console, print_json

    with open_registry() as registry:
        revision = registry.upgrade()
        url = safe_url(registry.url)
    if args.json:
        print_json({"url": url, "revision": revision})
    else:
        console().print(f"Registry {url} is at revision {revision}.")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from app.registry.render import console, print_json, runs_table

    with open_for_query() as registry:
        runs = registry.list_runs(strategy=args.strategy, kind=args.kind, limit=args.limit)
    if args.json:
        print_json({"runs": [run.to_json() for run in runs]})
    elif runs:
        console().print(runs_table(runs))
    else:
        console().print("No runs recorded (with these filters).")
    return 0


def _show(args: argparse.Namespace) -> int:
    from app.registry.render import console, incidents_table, metrics_table, print_json, run_table

    with open_for_query() as registry:
        run = registry.require_run(args.run_id)
        metrics = registry.run_metrics(run.run_id)
        incidents = registry.list_incidents(run_id=run.run_id, limit=1000)
    if args.json:
        print_json(
            {
                "run": run.to_json(),
                "metrics": metrics,
                "incidents": [i.to_json() for i in incidents],
            }
        )
        return 0
    out = console()
    out.print(run_table(run))
    out.print(metrics_table(metrics) if metrics else "No metrics recorded.")
    if incidents:
        out.print(incidents_table(incidents))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from rich.table import Table

    from app.registry.compare import compare_runs
    from app.registry.render import console, fmt_number, print_json

    with open_for_query() as registry:
        comparison = compare_runs(registry, args.run_a, args.run_b)
    if args.json:
        print_json(comparison.to_json())
        return 0
    table = Table(title=f"A = {args.run_a}   B = {args.run_b}", title_justify="left")
    for name in ("Key", "A", "B", "B - A"):
        table.add_column(name, no_wrap=True, justify="left" if name == "Key" else "right")
    for row in comparison.metrics:
        table.add_row(row.key, fmt_number(row.a), fmt_number(row.b), fmt_number(row.diff))
    out = console()
    out.print(table)
    if comparison.differences:
        diffs = Table(title="Recorded fields that differ", title_justify="left")
        for name in ("Field", "A", "B"):
            diffs.add_column(name)
        for field, a, b in comparison.differences:
            diffs.add_row(field, json.dumps(a), json.dumps(b))
        out.print(diffs)
    else:
        out.print("Recorded inputs are identical.")
    return 0


def _incidents(args: argparse.Namespace) -> int:
    from app.registry.render import console, incidents_table, print_json

    with open_for_query() as registry:
        incidents = registry.list_incidents(limit=args.limit, run_id=args.run_id)
    if args.json:
        print_json({"incidents": [i.to_json() for i in incidents]})
    elif incidents:
        console().print(incidents_table(incidents))
    else:
        console().print("No incidents recorded.")
    return 0
