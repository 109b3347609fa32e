"""The drill's report: one JSON document, and the same as tables for a terminal.

The JSON (written to ``user_data/drills/<run_id>/report.json``, and to ``--json REPORT``)
has stable keys: ``drill`` (ids, scenario, market, times, folder), ``status``,
``exit_code``, ``expectations`` (``name``, ``held``, ``evidence``), ``timeline`` (``t_s``
from the moment the bot was trading, ``kind``, ``what``), ``bots``, ``bot_runs`` (the
runner's registry rows), ``faults``, ``entries`` and ``metrics``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from app.drill.observations import Observations
from app.drill.verdicts import Verdict
from app.registry.records import RunRecord

if TYPE_CHECKING:
    from app.drill.orchestrator import DrillPlan

BUCKET_MS = 10_000  # entries and refusals are summed per 10 s in the timeline
PAUSE_SHOWN_MS = 500  # shorter holds of the scenario clock (breaker writes) are not listed


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _bucketed(
    obs: Observations, items: list[tuple[int, str]], kind: str
) -> list[tuple[int, str, str]]:
    """``(time, label)`` items summed per 10 s bucket: "7 x (SYNA/BTC 3, SYNB/BTC 4)"."""
    base = obs.t0_ms or 0
    buckets: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for ms, label in items:
        buckets[(ms - base) // BUCKET_MS].append((ms, label))
    rows = []
    for key in sorted(buckets):
        group = buckets[key]
        counts = Counter(label for _, label in group)
        detail = ", ".join(f"{label} {n}" for label, n in sorted(counts.items()))
        rows.append((group[0][0], kind, f"{len(group)} x ({detail})"))
    return rows


def _exits(obs: Observations) -> list[tuple[int, str, str]]:
    """Closed trades per 10 s bucket with their realised profit (a crash shows here)."""
    base = obs.t0_ms or 0
    buckets: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for trade in obs.book.trades:
        if trade.close_ms is not None:
            key = (trade.close_ms - base) // BUCKET_MS
            buckets[key].append((trade.close_ms, trade.profit_abs or 0.0))
    return [
        (
            min(ms for ms, _ in group),
            "exits",
            f"{len(group)} x, profit {sum(p for _, p in group):+.6g}",
        )
        for _, group in sorted(buckets.items())
    ]


def timeline(obs: Observations) -> list[dict[str, Any]]:
    """Faults, actions, bot starts and ends, entries, refusals and state changes, in order."""
    rows: list[tuple[int, str, str]] = []
    for life in obs.bots:
        rows.append((life.started_ms, "bot", f"bot {life.index} started (runner pid {life.pid})"))
        if life.ended_ms is not None:
            by = life.stopped_by or "nobody: it ended by itself"
            what = f"bot {life.index} ended, exit {life.returncode} (stopped by {by})"
            rows.append((life.ended_ms, "bot", what))
    if obs.t0_ms is not None:
        rows.append((obs.t0_ms, "bot", "first trade: the scenario's clock starts (t=0)"))
    for fault in obs.faults:
        rows.append((fault.start_ms, "fault", f"{fault.event.describe()} begins"))
        rows.append((fault.end_ms, "fault", f"{fault.event.describe()} ends: {fault.hits} hit"))
    rows += [(a.done_ms, "action", f"{a.action.value}: {a.detail}") for a in obs.actions]
    rows += [
        (start, "clock", f"scenario clock held {length / 1000:.1f} s while the action ran")
        for start, length in obs.pauses
        if length >= PAUSE_SHOWN_MS
    ]
    for line in obs.lines("risk_state_changed"):
        fields = line.fields
        what = f"{fields.get('old')} -> {fields.get('new')} ({fields.get('reason')})"
        rows.append((line.ms, "state", what))
    rows += [
        (line.ms, "state", f"guard tripped the breaker: {line.fields.get('detail')}")
        for line in obs.lines("circuit_breaker_tripped")
    ]
    rows += _bucketed(obs, [(t.open_ms, t.pair) for t in obs.entries()], "entries")
    rows += _exits(obs)
    if obs.resume_wait_ms >= PAUSE_SHOWN_MS:
        waited = f"waited {obs.resume_wait_ms / 1000:.1f} s past the scenario's end for an entry"
        rows.append((obs.end_ms - obs.resume_wait_ms, "clock", waited))
    refusals = [(r.ms, str(r.fields.get("reason"))) for r in obs.refusals()]
    rows += _bucketed(obs, refusals, "refusals")
    errors = [(line.ms, str(line.fields.get("where"))) for line in obs.lines("guard_error")]
    rows += _bucketed(obs, errors, "guard errors")
    rows.sort(key=lambda row: row[0])
    return [{"t_s": obs.t_s(ms), "kind": kind, "what": what} for ms, kind, what in rows]


def _metrics(obs: Observations | None, verdicts: Sequence[Verdict]) -> dict[str, float]:
    failed = sum(not v.held for v in verdicts)
    metrics: dict[str, float] = {"expectations": len(verdicts), "expectations_failed": failed}
    if obs is None:
        return metrics
    metrics |= {
        "entries": len(obs.book.trades),
        "realised_profit": round(sum(t.profit_abs or 0.0 for t in obs.book.trades), 10),
        "refusals": len(obs.refusals()),
        "bot_starts": len(obs.bots),
        "faulted_requests": sum(f.hits for f in obs.faults),
    }
    if obs.t0_ms is not None:
        metrics["duration_s"] = round((obs.end_ms - obs.t0_ms) / 1000, 3)
        metrics["startup_s"] = round((obs.t0_ms - obs.bots[0].started_ms) / 1000, 3)
    return metrics


def build_report(
    *,
    plan: DrillPlan,
    run_id: str,
    correlation_id: str,
    obs: Observations | None,
    verdicts: Sequence[Verdict],
    bot_runs: Sequence[RunRecord],
    started_ms: int,
    workdir: Path,
    status: str,
    exit_code: int,
) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    market = plan.market
    report: dict[str, Any] = {
        "drill": {
            "run_id": run_id,
            "correlation_id": correlation_id,
            "scenario": plan.scenario.to_json(),
            "pairs": list(market.pairs),
            "timeframe": market.timeframe,
            "datadir": str(market.datadir) if not market.synthetic else "synthetic",
            "synthetic": market.synthetic,
            "started_utc": _iso(started_ms),
            "trading_utc": _iso(obs.t0_ms if obs else None),
            "ended_utc": _iso(obs.end_ms if obs and obs.end_ms else None),
            "folder": str(workdir),
            "startup_problem": obs.startup_problem if obs else None,
        },
        "status": status,
        "exit_code": exit_code,
        "expectations": [
            {"name": v.expectation, "held": v.held, "evidence": list(v.evidence)} for v in verdicts
        ],
        "metrics": _metrics(obs, verdicts),
        "timeline": timeline(obs) if obs else [],
        "bots": [],
        "bot_runs": [
            {"run_id": r.run_id, "status": r.status, "exit_code": r.exit_code}
            for r in sorted(bot_runs, key=lambda r: r.started_utc)
        ],
        "faults": [],
        "entries": [],
    }
    if obs is not None:
        report["bots"] = [
            {"index": b.index, "pid": b.pid, "started_t_s": obs.t_s(b.started_ms),
             "ended_t_s": obs.t_s(b.ended_ms) if b.ended_ms else None,
             "exit_code": b.returncode, "stopped_by": b.stopped_by}
            for b in obs.bots
        ]  # fmt: skip
        report["faults"] = [
            {**f.event.to_json(), "start_t_s": obs.t_s(f.start_ms), "hits": f.hits}
            for f in obs.faults
        ]
        report["entries"] = [
            {"id": t.id, "pair": t.pair, "t_s": obs.t_s(t.open_ms),
             "closed_t_s": obs.t_s(t.close_ms) if t.close_ms else None,
             "exit_reason": t.exit_reason}
            for t in obs.entries()
        ]  # fmt: skip
    return report


# -- THE TERMINAL ----------------------------------------------------------------------------


def render(report: dict[str, Any], console: Console) -> None:
    """Print the report as an operator reads it: verdict, expectations, timeline."""
    drill = report["drill"]
    scenario = drill["scenario"]
    data = "SYNTHETIC candles" if drill["synthetic"] else drill["datadir"]
    console.print(
        f"[bold]Drill {scenario['name']}[/bold] ({drill['run_id']}, correlation "
        f"{drill['correlation_id']}): {', '.join(drill['pairs'])} {drill['timeframe']} on {data}"
    )
    if scenario.get("description"):
        console.print(scenario["description"])
    if drill.get("startup_problem"):
        console.print(f"[red]{drill['startup_problem']}[/red]")
    timeline_table = Table(title="Timeline (t = seconds from the bot's first trade)")
    for column in ("t", "kind", "what"):
        timeline_table.add_column(column, justify="right" if column == "t" else "left")
    for row in report["timeline"]:
        timeline_table.add_row(f"{row['t_s']:+.1f}", row["kind"], row["what"])
    console.print(timeline_table)
    expectations = Table(title="Expectations")
    for column in ("", "expectation", "evidence"):
        expectations.add_column(column)
    for item in report["expectations"]:
        mark = "[green]held[/green]" if item["held"] else "[red]FAILED[/red]"
        expectations.add_row(mark, item["name"], "\n".join(item["evidence"]))
    console.print(expectations)
    verdict = {"succeeded": "[green]PASSED[/green]", "failed": "[red]FAILED[/red]"}.get(
        report["status"], f"[yellow]{report['status'].upper()}[/yellow]"
    )
    console.print(f"Verdict: {verdict} (exit {report['exit_code']}); folder {drill['folder']}")
