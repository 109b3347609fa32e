"""Every metric the exporter serves: name, type, labels and help text, in one table.

Sources add samples to a :class:`Batch` by name; the collector turns the batch into
metric families from this table, so a name, a label set or a type is written once. The
RUNBOOK documents each entry (a test checks that every name here is in it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

Kind = Literal["gauge", "counter", "histogram"]
# Histogram value: cumulative (upper bound text, count) pairs ending with "+Inf", and sum.
HistogramValue = tuple[list[tuple[str, float]], float]


@dataclass(frozen=True, slots=True)
class Spec:
    """One metric family."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str


def _g(name: str, labels: tuple[str, ...], text: str) -> Spec:
    return Spec(name, "gauge", labels, text)


BOT = ("bot",)
CATALOG: tuple[Spec, ...] = (
    # circuit breaker and slots (state folder)
    _g("tradingbot_circuit_breaker_active", (), "1 while the circuit breaker stops entries and "
       "runs, also when its file cannot be read (fail closed); else 0."),
    _g("tradingbot_circuit_breaker_until_timestamp_seconds", (), "When the active breaker ends "
       "by itself (Unix time); 0 when it has no end or is not active."),
    _g("tradingbot_backtest_slots_in_use", (), "Backtest/hyperopt slots held (lock files "
       "refreshed within RISK_CONCURRENCY_TTL_SEC)."),
    _g("tradingbot_backtest_slots_limit", (), "RISK_MAX_CONCURRENT_BACKTESTS; 0 = unlimited."),
    # run registry
    Spec("tradingbot_runs_total", "counter", ("kind", "status"), "Runs in the registry by kind "
         "and status (status running: the runs running now, it goes down)."),
    Spec("tradingbot_incidents_total", "counter", ("severity",), "Incidents in the registry by "
         "severity."),
    _g("tradingbot_last_run_timestamp_seconds", ("kind", "status"), "Newest run of this kind "
       "and status (end time, start time while running; Unix time)."),
    _g("tradingbot_strategy_max_drawdown_ratio", ("strategy",), "max_drawdown_account of the "
       "strategy's newest succeeded backtest (0..1)."),
    _g("tradingbot_last_backup_timestamp_seconds", (), "End of the last successful backup (Unix "
       "time); 0 = never."),
    # bots over Freqtrade's REST API
    _g("tradingbot_bot_up", BOT, "1 when the bot's REST API answered, else 0."),
    _g("tradingbot_bot_state", (*BOT, "state"), "1 for the bot's state (running, paused, "
       "stopped), 0 for the others."),
    _g("tradingbot_bot_last_process_timestamp_seconds", BOT, "End of the bot's last loop (its "
       "start before the first loop; Unix time), from /health."),
    _g("tradingbot_bot_open_trades", BOT, "Open trades of the bot."),
    _g("tradingbot_bot_max_open_trades", BOT, "The bot's max_open_trades (+Inf = unlimited)."),
    _g("tradingbot_bot_profit_ratio", BOT, "Profit of all trades (closed and open) over the "
       "starting capital (Freqtrade's profit_all_ratio)."),
    _g("tradingbot_bot_drawdown_ratio", BOT, "Current drawdown of the bot's account from its "
       "peak (Freqtrade's current_drawdown, closed trades; 0..1)."),
    # the guard inside each bot (guard metrics files)
    _g("tradingbot_risk_state", (*BOT, "state"), "1 for the guard's risk state (ACTIVE, "
       "COOLDOWN, HALTED), 0 for the others."),
    Spec("tradingbot_guard_refusals_total", "counter", (*BOT, "reason"), "Entries the guard "
         "refused, by reason code (continues across bot restarts)."),
    Spec("tradingbot_guard_check_duration_seconds", "histogram", BOT, "Duration of the guard's "
         "checks: each entry check and each loop's account check."),
    _g("tradingbot_daily_drawdown_ratio", BOT, "Equity's fall from today's peak (0..1; absent "
       "when neither daily rule is on: equity is then not valued)."),
    _g("tradingbot_daily_drawdown_limit_ratio", BOT, "RISK_MAX_DAILY_DRAWDOWN_PCT (absent when "
       "the rule is off)."),
    _g("tradingbot_daily_loss_ratio", BOT, "Today's loss (realised + unrealised) over the day "
       "start equity; 0 on a day in profit (absent as the drawdown ratio)."),
    _g("tradingbot_daily_loss_cap_ratio", BOT, "RISK_DAILY_LOSS_CAP_PCT (absent when the rule "
       "is off)."),
    _g("tradingbot_loss_streak", BOT, "Consecutive losing closed trades (absent when "
       "RISK_LOSS_STREAK_MAX is not set: the streak is not tracked)."),
    _g("tradingbot_guard_updated_timestamp_seconds", BOT, "When the bot's guard last published "
       "its metrics (Unix time)."),
    # the exporter itself
    _g("tradingbot_exporter_source_up", ("source",), "1 when the source was collected in this "
       "scrape, 0 when it failed or timed out."),
    _g("tradingbot_exporter_source_duration_seconds", ("source",), "Time spent collecting the "
       "source in this scrape."),
)  # fmt: skip
SPECS = {spec.name: spec for spec in CATALOG}


@dataclass
class Batch:
    """Samples gathered by the sources of one scrape."""

    samples: list[tuple[str, tuple[str, ...], float | HistogramValue]] = field(default_factory=list)

    def add(self, name: str, value: float | HistogramValue, **labels: str) -> None:
        """Add one sample; ``labels`` must be exactly the catalog's label names."""
        spec = SPECS[name]
        if set(labels) != set(spec.labels):
            raise ValueError(f"{name} takes labels {spec.labels}, got {sorted(labels)}")
        self.samples.append((name, tuple(labels[key] for key in spec.labels), value))


def families(batches: Sequence[Batch]) -> Iterator[Metric]:
    """Metric families in catalog order; a repeated name + label set keeps its first value."""
    rows: dict[str, dict[tuple[str, ...], float | HistogramValue]] = {}
    for batch in batches:
        for name, labels, value in batch.samples:
            rows.setdefault(name, {}).setdefault(labels, value)
    for spec in CATALOG:
        series = rows.get(spec.name)
        if not series:
            continue
        if spec.kind == "histogram":
            hist = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
            for labels, value in series.items():
                assert isinstance(value, tuple)
                hist.add_metric(list(labels), value[0], value[1])
            yield hist
            continue
        family: GaugeMetricFamily | CounterMetricFamily = (
            CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            if spec.kind == "counter"
            else GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
        )
        for labels, value in series.items():
            assert not isinstance(value, tuple)
            family.add_metric(list(labels), value)
        yield family
