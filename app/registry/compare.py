"""Side-by-side comparison of two runs: metrics with their difference, and changed inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.registry.records import RunRecord
from app.registry.store import Registry

# Inputs and outputs that explain why two runs' figures differ.
COMPARED_FIELDS = (
    "kind",
    "strategy",
    "timeframe",
    "timerange",
    "pairs",
    "config_hash",
    "strategy_hash",
    "data_fingerprint",
    "params",
    "freqtrade_version",
    "equity_hash",
)


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric of both runs; ``diff`` is ``b - a`` when both have it."""

    key: str
    a: float | None
    b: float | None

    @property
    def diff(self) -> float | None:
        """``b - a``, or ``None`` when either run lacks the metric."""
        if self.a is None or self.b is None:
            return None
        return self.b - self.a

    def to_json(self) -> dict[str, Any]:
        """JSON-ready row."""
        return {"key": self.key, "a": self.a, "b": self.b, "diff": self.diff}


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two runs, their metrics side by side and the recorded fields that differ."""

    run_a: RunRecord
    run_b: RunRecord
    metrics: list[MetricRow]
    differences: list[tuple[str, Any, Any]]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready document with stable keys."""
        return {
            "run_a": self.run_a.run_id,
            "run_b": self.run_b.run_id,
            "metrics": [row.to_json() for row in self.metrics],
            "differences": [{"field": f, "a": a, "b": b} for f, a, b in self.differences],
        }


def compare_runs(registry: Registry, run_a: str, run_b: str) -> Comparison:
    """Compare two recorded runs (both must exist)."""
    a, b = registry.require_run(run_a), registry.require_run(run_b)
    metrics_a, metrics_b = registry.run_metrics(run_a), registry.run_metrics(run_b)
    rows = [
        MetricRow(key, metrics_a.get(key), metrics_b.get(key))
        for key in sorted(metrics_a.keys() | metrics_b.keys())
    ]
    json_a, json_b = a.to_json(), b.to_json()
    differences = [
        (field, json_a[field], json_b[field])
        for field in COMPARED_FIELDS
        if json_a[field] != json_b[field]
    ]
    return Comparison(a, b, rows, differences)
