"""config/grafana: provisioning files and the dashboard, checked without Grafana.

Every panel query is sent to a real Prometheus and its metric names are compared with a
real scrape in tests/integration/test_observability_e2e.py; here the files' structure.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from app.exporter.catalog import SPECS
from tests.helpers import REPO_ROOT

GRAFANA = REPO_ROOT / "config" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "tradingbot.json"
METRIC = re.compile(r"\btradingbot_[a-z_]+")
SUFFIXES = ("_bucket", "_sum", "_count")


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query panel."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def metric_names(expr: str) -> set[str]:
    """The exported metric family names an expression uses (histogram series folded)."""
    names = set()
    for found in METRIC.findall(expr):
        family = found
        for suffix in SUFFIXES:
            if found.endswith(suffix) and found.removesuffix(suffix) in SPECS:
                family = found.removesuffix(suffix)
        names.add(family)
    return names


def test_dashboard_when_read_then_panels_have_ids_queries_and_the_datasource() -> None:
    """Unique ids; every panel queries the provisioned datasource by its uid."""
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
                                .read_text())["datasources"][0]  # fmt: skip
    panels = dashboard()["panels"]
    ids = [panel["id"] for panel in panels]

    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        assert all(t["datasource"]["uid"] == datasource["uid"] for t in panel["targets"])
    assert datasource["url"] == "http://prometheus:9090"


def test_dashboard_when_read_then_every_panel_of_the_issue_is_there() -> None:
    """Bots, state, profit/drawdown vs limits, trades vs max, guard state, refusals, p95,
    breaker, incidents, runs, slots: each has a panel querying its metrics."""
    used = set().union(*(metric_names(expr) for _, expr in panel_queries()))
    wanted = {
        "tradingbot_bot_up", "tradingbot_bot_state", "tradingbot_bot_profit_ratio",
        "tradingbot_bot_drawdown_ratio", "tradingbot_daily_drawdown_ratio",
        "tradingbot_daily_drawdown_limit_ratio", "tradingbot_daily_loss_ratio",
        "tradingbot_daily_loss_cap_ratio", "tradingbot_bot_open_trades",
        "tradingbot_bot_max_open_trades", "tradingbot_risk_state",
        "tradingbot_guard_refusals_total", "tradingbot_guard_check_duration_seconds",
        "tradingbot_circuit_breaker_active", "tradingbot_incidents_total",
        "tradingbot_runs_total", "tradingbot_backtest_slots_in_use",
        "tradingbot_backtest_slots_limit",
    }  # fmt: skip

    assert wanted <= used
    assert used <= set(SPECS), used - set(SPECS)


def test_provisioning_when_read_then_dashboards_path_is_the_compose_mount() -> None:
    """The provider reads the folder compose mounts the dashboards into."""
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "tradingbot.yml")
                              .read_text())["providers"][0]  # fmt: skip
    grafana = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["grafana"]

    assert f"./config/grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]
    assert "./config/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
