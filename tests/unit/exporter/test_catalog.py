"""The metric catalog (app/exporter/catalog.py): the contract names, documented."""

from __future__ import annotations

from app.exporter.catalog import CATALOG
from tests.helpers import REPO_ROOT

# The metric names of the issue: a contract with operators.
CONTRACT = {
    "tradingbot_circuit_breaker_active", "tradingbot_circuit_breaker_until_timestamp_seconds",
    "tradingbot_backtest_slots_in_use", "tradingbot_backtest_slots_limit",
    "tradingbot_runs_total", "tradingbot_incidents_total",
    "tradingbot_last_run_timestamp_seconds", "tradingbot_strategy_max_drawdown_ratio",
    "tradingbot_last_backup_timestamp_seconds", "tradingbot_bot_up", "tradingbot_bot_state",
    "tradingbot_bot_last_process_timestamp_seconds", "tradingbot_bot_open_trades",
    "tradingbot_bot_max_open_trades", "tradingbot_bot_profit_ratio",
    "tradingbot_bot_drawdown_ratio", "tradingbot_risk_state",
    "tradingbot_guard_refusals_total", "tradingbot_guard_check_duration_seconds",
    "tradingbot_daily_drawdown_ratio", "tradingbot_daily_drawdown_limit_ratio",
    "tradingbot_daily_loss_ratio", "tradingbot_daily_loss_cap_ratio", "tradingbot_loss_streak",
    "tradingbot_exporter_source_up",
}  # fmt: skip


def test_catalog_when_read_then_every_contract_name_with_its_labels() -> None:
    """Every name of the issue is served, with the issue's labels; counters end in _total."""
    specs = {spec.name: spec for spec in CATALOG}

    assert set(specs) >= CONTRACT
    assert specs["tradingbot_runs_total"].labels == ("kind", "status")
    assert specs["tradingbot_guard_refusals_total"].labels == ("bot", "reason")
    assert specs["tradingbot_guard_check_duration_seconds"].kind == "histogram"
    assert specs["tradingbot_exporter_source_up"].labels == ("source",)
    per_bot = ("tradingbot_bot_", "tradingbot_risk_", "tradingbot_guard_", "tradingbot_daily_")
    for spec in CATALOG:
        assert (spec.kind == "counter") == spec.name.endswith("_total"), spec.name
        bot_metric = spec.name.startswith(per_bot) or spec.name == "tradingbot_loss_streak"
        assert ("bot" in spec.labels) == bot_metric, spec.name


def test_runbook_when_read_then_documents_every_metric() -> None:
    """docs/RUNBOOK.md documents each metric the exporter serves."""
    runbook = (REPO_ROOT / "docs" / "RUNBOOK.md").read_text()

    assert [spec.name for spec in CATALOG if f"`{spec.name}" not in runbook] == []
