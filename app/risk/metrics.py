"""Prometheus counters of the guard (prometheus-client objects in the default registry).

The exporter (``scripts/exporter.py``) can serve them from the same process; in other
processes they are per-process totals. The entry-check and refusal counters count live
and dry-run checks only (a backtest's are in its ``guard_summary`` line). Label values
are the stable reason codes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ENTRY_CHECKS = Counter(
    "tradingbot_guard_entry_checks_total",
    "Entry checks made by the guard, by outcome (allowed/refused).",
    ["outcome"],
)
ENTRY_REFUSALS = Counter(
    "tradingbot_guard_entry_refusals_total",
    "Entries refused by the guard, by reason code.",
    ["reason"],
)
GUARD_ERRORS = Counter(
    "tradingbot_guard_errors_total",
    "Exceptions inside the guard (each refused the entry with GUARD_ERROR).",
)
STAKES_TRIMMED = Counter(
    "tradingbot_guard_stakes_trimmed_total",
    "Stakes cut to RISK_MAX_POSITION_PCT of the wallet.",
)
BREAKER_TRIPS = Counter(
    "tradingbot_guard_breaker_trips_total",
    "Circuit breaker trips by the daily drawdown rule (simulated ones included).",
    ["simulated"],
)
RISK_STATE = Gauge(
    "tradingbot_guard_risk_state",
    "1 for the current risk state (ACTIVE, COOLDOWN, HALTED), 0 for the others.",
    ["state"],
)
RUN_GATE_REFUSALS = Counter(
    "tradingbot_run_gate_refusals_total",
    "Runs refused by the pre-run gates, by reason code.",
    ["reason"],
)
SLOTS_RECLAIMED = Counter(
    "tradingbot_slots_reclaimed_total",
    "Concurrency slots reclaimed from dead or expired runs.",
)

ALLOWED = ENTRY_CHECKS.labels(outcome="allowed")
REFUSED = ENTRY_CHECKS.labels(outcome="refused")
