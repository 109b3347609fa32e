"""What the runner decides before Freqtrade starts (make_plan)."""

from __future__ import annotations

import json
from pathlib import Path

from app.runner.ftargs import parse_invocation
from app.runner.runner import make_plan


def _config(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"exchange": {"name": "binance"}, "dry_run": True, **extra}))
    return path


def test_plan_when_strategy_only_in_config_then_it_is_the_runs_strategy(tmp_path: Path) -> None:
    """A config's "strategy" names the run (the drawdown gate and ingestion need it)."""
    config = _config(tmp_path, strategy="FromConfig")

    plan = make_plan(parse_invocation(["backtesting", "-c", str(config)]), {})

    assert plan.strategies == ["FromConfig"]
    assert plan.strategy == "FromConfig"


def test_plan_when_strategy_list_then_all_names_joined(tmp_path: Path) -> None:
    """--strategy-list runs carry every name; arguments win over the config."""
    config = _config(tmp_path, strategy="FromConfig")
    argv = ["backtesting", "-c", str(config), "--strategy-list", "A", "B"]

    assert make_plan(parse_invocation(argv), {}).strategy == "A,B"


def test_plan_when_caller_passes_correlation_id_then_reused(tmp_path: Path) -> None:
    """A sweep's id in TRADINGBOT_CORRELATION_ID ties its runs together; else a new one."""
    inv = parse_invocation(["backtesting", "-c", str(_config(tmp_path))])

    assert make_plan(inv, {"TRADINGBOT_CORRELATION_ID": "sweep_1"}).correlation_id == "sweep_1"
    assert make_plan(inv, {}).correlation_id != make_plan(inv, {}).correlation_id


def test_plan_when_backtesting_then_fresh_results_and_own_logfile(tmp_path: Path) -> None:
    """Backtests are never served from Freqtrade's cache and log to a file of their own."""
    plan = make_plan(parse_invocation(["backtesting", "-c", str(_config(tmp_path))]), {})

    assert plan.extra_args[plan.extra_args.index("--cache") + 1] == "none"
    assert plan.logfile is not None
    assert str(plan.logfile) in plan.extra_args
