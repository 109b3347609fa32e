"""Output of the registry and params commands: rich tables for people, JSON for programs.

JSON output is one document on stdout, keys stable across versions (new keys may be
added, existing ones keep their meaning); times are ISO-8601 UTC with a ``Z``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.registry.records import IncidentRecord, ParamSetRecord, RunRecord, iso_utc


def console() -> Console:
    """A console for stdout; wide when piped so tables are not folded to 80 columns."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=200, color_system=None)


def print_json(document: Mapping[str, Any]) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")


def fmt_number(value: float | None) -> str:
    """A figure for a table: ``-`` when absent, else up to 6 significant digits."""
    if value is None:
        return "-"
    return f"{value:.6g}"


def fmt_time(run_time: Any) -> str:
    """``2026-11-21 10:15:00`` (UTC, seconds) or ``-``."""
    text = iso_utc(run_time)
    return "-" if text is None else text[:19].replace("T", " ")


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, no_wrap=name in {"Run", "Incident", "Key"})
    return table


REASON_WIDTH = 60


def fmt_reason(reason: str | None) -> str:
    """Why a run ended, on one line and cut to :data:`REASON_WIDTH` characters, or ``-``."""
    if not reason:
        return "-"
    line = " ".join(reason.split())
    return line if len(line) <= REASON_WIDTH else line[: REASON_WIDTH - 3] + "..."


def runs_table(runs: Iterable[RunRecord], title: str = "Runs") -> Table:
    """One row per run, newest first."""
    columns = ["Run", "Kind", "Strategy", "Status", "Started (UTC)", "Secs", "Exit", "Reason"]
    table = _table(title, columns)
    for run in runs:
        table.add_row(
            run.run_id,
            run.kind,
            run.strategy or "-",
            run.status,
            fmt_time(run.started_utc),
            "-" if run.duration_s is None else f"{run.duration_s:.1f}",
            "-" if run.exit_code is None else str(run.exit_code),
            escape(fmt_reason(run.end_reason)),
        )
    return table


def run_table(run: RunRecord) -> Table:
    """Every field of one run."""
    table = _table(f"Run {run.run_id}", ["Field", "Value"])
    for key, value in run.to_json().items():
        shown = json.dumps(value) if isinstance(value, list | dict) else value
        table.add_row(key, "-" if shown is None else escape(str(shown)))
    return table


def metrics_table(metrics: Mapping[str, float], title: str = "Metrics") -> Table:
    """Metrics sorted by key."""
    table = _table(title, ["Key", "Value"])
    for key in sorted(metrics):
        table.add_row(key, fmt_number(metrics[key]))
    return table


def incidents_table(incidents: Iterable[IncidentRecord], title: str = "Incidents") -> Table:
    """One row per incident, newest first."""
    table = _table(title, ["Incident", "Created (UTC)", "Severity", "Run", "Description"])
    for incident in incidents:
        table.add_row(
            incident.incident_id,
            fmt_time(incident.created_utc),
            incident.severity,
            incident.run_id or "-",
            escape(incident.description),
        )
    return table


def param_sets_table(sets: Iterable[ParamSetRecord], title: str) -> Table:
    """One row per parameter set, newest first."""
    table = _table(title, ["Set", "Active", "Source run", "Promoted (UTC)", "Retired", "Prev"])
    for item in sets:
        table.add_row(
            str(item.id),
            "yes" if item.active else "",
            item.source_run_id,
            fmt_time(item.promoted_utc),
            fmt_time(item.retired_utc),
            "-" if item.previous_id is None else str(item.previous_id),
        )
    return table
