"""``tradingbot telegram``: the service, ``--once``, and the outbox (thin CLI)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import RiskSettings

DESCRIPTION = """\
Deliver the Telegram outbox (operations messages written by every tradingbot process) and
answer the operator's commands from the chats in TELEGRAM_ALLOWED_CHAT_IDS: /status,
/halt <minutes> <reason>, /resume, /incidents [n], /runs [n]. Runs until SIGINT/SIGTERM;
--once answers the pending commands, delivers what waits and exits. Needs its own bot
token (never the one of Freqtrade's Telegram module: two pollers of one token break each
other). --outbox and --purge inspect and clean the outbox; they need no token.
Exit codes: 0 done; 2 bad settings or arguments; 9 Telegram rejected the token, cannot be
reached (--once: messages still wait) or another poller runs on this host."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tradingbot telegram``."""
    p = subparsers.add_parser(
        "telegram",
        help="deliver Telegram operations messages and answer operator commands",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--once", action="store_true", help="answer pending commands, deliver, then exit"
    )
    mode.add_argument("--outbox", action="store_true", help="show the outbox and exit")
    mode.add_argument(
        "--purge",
        choices=("sent", "dead", "waiting"),
        help="delete outbox messages of this status (waiting = not yet sent: they are lost)",
    )
    p.add_argument(
        "--older-than",
        type=float,
        default=0.0,
        metavar="DAYS",
        help="with --purge: only messages older than DAYS (default 0: all of that status)",
    )
    p.add_argument(
        "--configs-dir",
        type=Path,
        default=Path("user_data/configs"),
        help="Freqtrade configs whose telegram.token must differ (user_data/configs)",
    )
    p.add_argument("--json", action="store_true", help="--outbox / --purge: print JSON")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from app.telegram.settings import get_telegram_settings

    settings = get_settings()  # validates RISK_* and TELEGRAM_*: exit 2 on a bad value
    if args.outbox or args.purge:
        return _outbox(args, settings)
    from app.telegram.run import run_service

    for line in run_service(settings, get_telegram_settings(), args.configs_dir, once=args.once):
        print(line)
    return 0


def _outbox(args: argparse.Namespace, settings: RiskSettings) -> int:
    from datetime import UTC, datetime, timedelta

    from app.errors import ConfigError
    from app.registry import Registry
    from app.registry.outbox import WAITING, Outbox

    with Registry.from_settings(settings) as registry:
        outbox = Outbox(registry)
        if args.purge:
            if args.older_than < 0:
                raise ConfigError(f"--older-than {args.older_than} is negative; give days >= 0")
            statuses = list(WAITING) if args.purge == "waiting" else [args.purge]
            before = datetime.now(UTC) - timedelta(days=args.older_than)
            deleted = outbox.purge(statuses, before=before)
            print(json.dumps({"deleted": deleted}) if args.json else f"Deleted {deleted} messages.")
            return 0
        counts = outbox.counts()
        items = outbox.items([*WAITING, "dead"], limit=50)
    if args.json:
        rows = [
            {
                "id": item.id,
                "chat_id": item.chat_id,
                "event": item.event,
                "severity": item.severity,
                "status": item.status,
                "attempts": item.attempts,
                "created_utc": item.created_utc.isoformat(),
                "last_error": item.last_error,
                "text": item.text,
            }
            for item in items
        ]
        print(json.dumps({"counts": counts, "messages": rows}, indent=2))
        return 0
    print(", ".join(f"{status}: {n}" for status, n in counts.items()))
    for item in items:
        first = item.text.splitlines()[0] if item.text else ""
        error = f" -- {item.last_error}" if item.last_error else ""
        print(
            f"#{item.id} {item.status} chat {item.chat_id} {item.created_utc:%Y-%m-%d %H:%M:%S}Z "
            f"attempts {item.attempts}: {first}{error}"
        )
    return 0
