"""Circuit breaker CLI: ``status``, ``enable``, ``disable`` (logic in app/risk/breaker_commands).

    python scripts/circuit_breaker.py status  --state-dir user_data/state [--json]
    python scripts/circuit_breaker.py enable  --reason "manual" --minutes 60 [--json]
    python scripts/circuit_breaker.py disable --reason "investigated" [--json]

``--file PATH`` replaces ``--state-dir``; without either, RISK_CIRCUIT_BREAKER_FILE /
RISK_STATE_DIR apply. ``--until 2025-08-17T10:15:00Z`` replaces ``--minutes``; with
neither, the breaker stays on until disabled.

Exit codes: status 0 inactive (or expired, or no file), 20 active, 21 unreadable (counts as
active); 2 invalid settings or arguments; 5 the change was made but its incident could not
be recorded; 7 the breaker file could not be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from app.circuit_breaker import BreakerState, BreakerStatus, iso_utc
from app.errors import TradingBotError
from app.risk import breaker_commands as commands
from app.settings import load_settings
from app.text import printable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="circuit_breaker.py",
        description="Show, enable or disable the circuit breaker that stops entries and runs.",
        epilog="status exit codes: 0 inactive, 20 active, 21 unreadable (counts as active)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("status", "show the breaker (exit 0 inactive, 20 active, 21 unreadable)"),
        ("enable", "activate the breaker (recorded as an incident)"),
        ("disable", "deactivate the breaker (recorded as an incident)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        where = cmd.add_mutually_exclusive_group()
        where.add_argument("--state-dir", type=Path, help="folder of circuit_breaker.json")
        where.add_argument("--file", type=Path, help="the breaker file itself")
        cmd.add_argument("--json", action="store_true", help="print JSON")
        if name == "enable":
            cmd.add_argument("--reason", required=True, help="why (stored and recorded)")
            end = cmd.add_mutually_exclusive_group()
            end.add_argument("--minutes", help="deactivate after N minutes (whole number)")
            end.add_argument("--until", help="deactivate at this ISO 8601 time, e.g. ...Z")
        if name == "disable":
            cmd.add_argument("--reason", default="disabled by operator", help="why")
    return parser


def _breaker_file(args: argparse.Namespace) -> Path:
    if args.file is not None:
        return Path(args.file)
    if args.state_dir is not None:
        return Path(args.state_dir) / "circuit_breaker.json"
    return load_settings().breaker_file


def _text(state: BreakerState) -> str:
    lines = {
        BreakerStatus.ACTIVE: "circuit breaker: ACTIVE (entries and runs are refused)",
        BreakerStatus.UNREADABLE: "circuit breaker: ACTIVE (fail closed: the file is unreadable)",
        BreakerStatus.EXPIRED: "circuit breaker: inactive (expired)",
        BreakerStatus.INACTIVE: "circuit breaker: inactive",
    }
    out = [lines[state.status]]
    # The reason is whatever the file says: escaped, so that it cannot forge a line.
    if state.reason:
        out.append(f"  reason:  {printable(state.reason)}")
    if state.until:
        out.append(f"  until:   {iso_utc(state.until)}")
    elif state.status is BreakerStatus.ACTIVE:
        out.append("  until:   disabled by a person (scripts/circuit_breaker.py disable)")
    if state.problem:
        out.append(f"  problem: {state.problem}")
        out.append("  fix:     repair the file, or rewrite it with `enable` or `disable`")
    out.append(f"  file:    {printable(str(state.file))}")
    return "\n".join(out)


def _show(state: BreakerState, as_json: bool, **extra: object) -> None:
    if as_json:
        print(json.dumps({**state.to_json(), **extra}))
    else:
        print(_text(state))
        for key, value in extra.items():
            print(f"  {key}: {value}")


def _run(args: argparse.Namespace) -> int:
    file = _breaker_file(args)
    if args.command == "status":
        state = commands.status(file)
        _show(state, args.json)
        return commands.status_exit_code(state)
    from app.risk.incidents import LazyRecorder

    now = datetime.now(UTC)
    recorder = LazyRecorder(load_settings())  # opened after the change: safety first
    if args.command == "enable":
        until = commands.resolve_until(minutes=args.minutes, until=args.until, now=now)
        change = commands.enable(file, reason=args.reason, until=until, recorder=recorder, now=now)
    else:
        change = commands.disable(file, reason=args.reason, recorder=recorder, now=now)
    _show(change.state, args.json, incident_id=change.incident_id)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the command, turn domain errors into ``Error: ...`` + exit code."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except TradingBotError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
