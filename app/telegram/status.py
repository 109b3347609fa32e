"""What ``/status``, ``/incidents`` and ``/runs`` answer: read-only views, plain text.

The bots' risk states come from the guard's own log (``risk_state_changed`` lines in
``user_data/logs/risk.jsonl``, the newest per correlation id, read from the file's last
:data:`TAIL_BYTES`), matched to the registry's running ``dry_run``/``live`` runs by
correlation id. A bot whose state never changed since it started is ACTIVE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.circuit_breaker import BreakerStatus, read_breaker
from app.registry.outbox import Outbox
from app.registry.records import IncidentRecord, RunRecord
from app.registry.store import Registry
from app.risk.slots import SlotManager
from app.settings import RiskSettings
from app.telegram.events import hhmm

TAIL_BYTES = 4_000_000
MAX_LIST = 20
DEFAULT_LIST = 5
_LINE = 160


@dataclass(frozen=True, slots=True)
class BotState:
    """The newest ``risk_state_changed`` of one guard."""

    state: str
    reason: str
    until: str | None
    at: str


def cut(text: str, limit: int = _LINE) -> str:
    """One line of at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def risk_states(log_file: Path) -> dict[str, BotState]:
    """The newest risk state per correlation id in the guard log's tail (empty if no log)."""
    try:
        with log_file.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(size - TAIL_BYTES, 0))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return {}
    states: dict[str, BotState] = {}
    for line in tail.splitlines():
        if '"risk_state_changed"' not in line:
            continue
        try:
            record: Any = json.loads(line)
        except ValueError:
            continue  # the first, cut line of the tail, or a half-written one
        if isinstance(record, dict) and record.get("message") == "risk_state_changed":
            states[str(record.get("correlation_id"))] = BotState(
                str(record.get("new")),
                str(record.get("reason")),
                record.get("until"),
                str(record.get("ts")),
            )
    return states


def _bot_line(run: RunRecord, state: BotState | None) -> str:
    name = f"{run.strategy or '?'} ({run.kind}, {run.run_id})"
    if state is None:
        return f"- {name}: ACTIVE"
    until = f" until {hhmm(state.until)}" if state.until else ""
    why = "" if state.state == "ACTIVE" else f" {state.reason}{until}"
    return f"- {name}: {state.state}{why} since {hhmm(state.at)}"


def status_text(
    settings: RiskSettings, registry: Registry, *, log_file: Path, now: datetime
) -> str:
    """Breaker, each running bot's risk state, slots, outbox and the last incidents."""
    breaker = read_breaker(settings.breaker_file, now)
    lines = [f"Circuit breaker: {_breaker(breaker.status, breaker.describe())}"]
    bots = [
        run
        for kind in ("live", "dry_run")
        for run in registry.list_runs(kind=kind, limit=MAX_LIST)
        if run.status == "running"
    ]
    states = risk_states(log_file)
    lines.append(f"Bots running: {len(bots)}")
    lines += [_bot_line(run, states.get(run.correlation_id)) for run in bots]
    slots = SlotManager(
        settings.state_dir,
        limit=settings.max_concurrent_backtests,
        ttl_sec=settings.concurrency_ttl_sec,
    ).holders()
    limit = settings.max_concurrent_backtests or "unlimited"
    lines.append(f"Backtest/hyperopt slots: {len(slots)} in use of {limit}")
    waiting = Outbox(registry).counts()
    lines.append(f"Telegram outbox: {waiting['pending'] + waiting['held']} waiting, "
                 f"{waiting['dead']} refused by Telegram")  # fmt: skip
    lines.append("Last incidents:")
    lines += incident_lines(registry.list_incidents(limit=3)) or ["- none"]
    return "\n".join(lines)


def _breaker(status: BreakerStatus, description: str) -> str:
    label = "ACTIVE" if status in (BreakerStatus.ACTIVE, BreakerStatus.UNREADABLE) else "off"
    return f"{label} ({cut(description)})"


def incident_lines(incidents: list[IncidentRecord]) -> list[str]:
    """``- 2026-11-30 11:02Z warning: entry refused ...`` per incident."""
    return [
        f"- {hhmm(i.created_utc)} {i.severity}: {cut(i.description)}"
        + (f" [run {i.run_id}]" if i.run_id else "")
        for i in incidents
    ]


def run_lines(runs: list[RunRecord]) -> list[str]:
    """``- run_... backtest MaCrossoverStrategy succeeded (exit 0) 2026-11-30 11:02Z``."""
    return [
        f"- {r.run_id} {r.kind} {r.strategy or ''} {r.status}"
        + (f" (exit {r.exit_code})" if r.exit_code is not None else "")
        + f" {hhmm(r.started_utc)}"
        for r in runs
    ]


def parse_count(args: list[str]) -> int:
    """``[n]`` of /incidents and /runs: 1..MAX_LIST, default DEFAULT_LIST (ValueError if not)."""
    if not args:
        return DEFAULT_LIST
    text = args[0]
    if len(args) > 1 or not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIST:
        raise ValueError(f"give a whole number from 1 to {MAX_LIST}, e.g. 5")
    return int(text)
