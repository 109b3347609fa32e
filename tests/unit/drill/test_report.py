"""The drill report: stable JSON keys, a timeline in drill seconds, and the terminal view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from app.drill.bot import BotLife
from app.drill.builtins import load_builtin
from app.drill.evidence import GuardLine, TradeBook, TradeRow
from app.drill.market import plan_market
from app.drill.observations import ActionRecord, FaultRecord, Observations
from app.drill.orchestrator import DrillPlan
from app.drill.report import build_report, render, timeline
from app.drill.scenario import Action
from app.drill.verdicts import judge
from app.settings import load_settings

T0 = 1_900_000_000_000


def observations() -> Observations:
    scenario = load_builtin("breaker-mid-run")
    trades = [
        TradeRow(1, "A/BTC", T0, T0 + 4_000, False, 1.0, "drill_exit", -0.5),
        TradeRow(2, "B/BTC", T0 + 2_000, T0 + 6_000, False, 1.0, "drill_exit", 0.25),
        TradeRow(3, "A/BTC", T0 + 12_000, None, True, 1.0, None),
    ]
    refused = {"reason": "CIRCUIT_BREAKER", "pair": "A/BTC", "detail": "on"}
    return Observations(
        t0_ms=T0,
        end_ms=T0 + 55_000,
        quiet_ms=T0 + 45_000,
        faults=[FaultRecord(scenario.faults.events[0], T0 + 5_000, T0 + 45_000, 7)],
        actions=[ActionRecord(Action.BREAKER_ON, T0 + 10_000, T0 + 10_100, "breaker active")],
        bots=[BotLife(1, 42, T0 - 9_000, T0 + 56_000, 130, "drill end")],
        book=TradeBook(tuple(trades), ("o1", "o2", "o3")),
        guard=[GuardLine(T0 + 10_500 + i, "entry_refused", refused, 1) for i in range(3)],
        last_loop_ms=T0 + 54_000,
    )


def plan() -> DrillPlan:
    return DrillPlan(load_builtin("breaker-mid-run"), plan_market(None, None), load_settings({}),
                     ("tradingbot", "drill", "breaker-mid-run"))  # fmt: skip


def report_of(obs: Observations, workdir: Path) -> dict[str, Any]:
    """The report of a failed breaker-mid-run drill that observed ``obs``."""
    verdicts = judge(plan().scenario.expect, obs)
    return build_report(plan=plan(), run_id="run_x", correlation_id="c1", obs=obs,
                        verdicts=verdicts, bot_runs=[], started_ms=T0 - 10_000,
                        workdir=workdir, status="failed", exit_code=1)  # fmt: skip


def test_timeline_when_built_then_ordered_in_drill_seconds_with_sums_per_10s() -> None:
    """Events come in time order, in seconds from t0; entries, exits and refusals are summed
    per 10 s with pairs, profit and reasons."""
    rows = timeline(observations())
    assert [r["t_s"] for r in rows] == sorted(r["t_s"] for r in rows)
    assert rows[0] == {"t_s": -9.0, "kind": "bot", "what": "bot 1 started (runner pid 42)"}
    entries = [r for r in rows if r["kind"] == "entries"]
    assert [r["what"] for r in entries] == ["2 x (A/BTC 1, B/BTC 1)", "1 x (A/BTC 1)"]
    assert {"t_s": 4.0, "kind": "exits", "what": "2 x, profit -0.25"} in rows
    assert {"t_s": 10.5, "kind": "refusals", "what": "3 x (CIRCUIT_BREAKER 3)"} in rows
    assert {"t_s": 45.0, "kind": "fault", "what": "http_500 on klines ends: 7 hit"} in rows


def test_report_when_built_then_json_with_stable_keys_and_metrics(tmp_path: Path) -> None:
    """The report is JSON with the documented keys; metrics count what the drill saw."""
    obs = observations()
    report = report_of(obs, tmp_path)
    assert set(report) == {
        "drill", "status", "exit_code", "expectations", "metrics", "timeline", "bots",
        "bot_runs", "faults", "entries",
    }  # fmt: skip
    assert json.loads(json.dumps(report)) == report
    assert report["drill"]["synthetic"] is True
    assert report["metrics"]["entries"] == 3
    assert report["metrics"]["refusals"] == 3
    assert report["metrics"]["faulted_requests"] == 7
    assert report["metrics"]["realised_profit"] == -0.25
    assert report["metrics"]["startup_s"] == 9.0
    failed = [e for e in report["expectations"] if not e["held"]]
    assert report["metrics"]["expectations_failed"] == len(failed) > 0
    assert report["entries"][2] == {"id": 3, "pair": "A/BTC", "t_s": 12.0, "closed_t_s": None,
                                    "exit_reason": None}  # fmt: skip


def test_render_when_printed_then_verdict_each_expectation_and_timeline(tmp_path: Path) -> None:
    """The terminal view names the drill, every expectation with its evidence, the verdict."""
    report = report_of(observations(), tmp_path)
    console = Console(record=True, width=200)
    render(report, console)
    text = console.export_text()
    assert "Drill breaker-mid-run (run_x" in text
    assert "SYNTHETIC candles" in text
    for expectation in report["expectations"]:
        assert expectation["name"] in text
    assert "FAILED" in text
    assert "Verdict: FAILED (exit 1)" in text
