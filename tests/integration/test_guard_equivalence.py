"""The guard's backtest shortcuts on real data: the same trades, refusals and halts as
evaluating every candle with ``datetime.UTC`` times.

Two in-process Freqtrade backtests of ``GuardedMaCrossoverStrategy`` on the 7 shared 5m
pairs with limits that bite (position trimming, exposure, the daily loss cap and
drawdown, the losing streak): the runtime as shipped (idle and quiet candles skipped, day
bounds in the candles' own ``ZoneInfo('UTC')``), and the reference (``skip_quiet =
False``: the account rules run on every candle; every callback gets its time as
``datetime.UTC``, as the guard compared times before it kept the candles' tzinfo).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freqtrade.configuration import Configuration
from freqtrade.data import history
from freqtrade.data.converter import trim_dataframes
from freqtrade.enums import RunMode
from freqtrade.optimize.backtesting import Backtesting
from freqtrade.persistence import LocalTrade
from freqtrade.resolvers import StrategyResolver

from app.logs import configure_logging, reset_logging
from app.offline_exchange.overlay import ccxt_overlay
from app.offline_exchange.replay import Mode
from app.offline_exchange.server import OfflineExchange
from tests.helpers import REPO_ROOT, SHARED_PAIRS

pytestmark = pytest.mark.freqtrade

TIGHT = {
    "RISK_LIVE_MAX_CONCURRENT_TRADES": "3",
    "RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT": "0.5",
    "RISK_MAX_EXPOSURE_PCT": "0.12",
    "RISK_MAX_POSITION_PCT": "0.04",
    "RISK_DAILY_LOSS_CAP_PCT": "0.002",
    "RISK_MAX_DAILY_DRAWDOWN_PCT": "0.004",
    "RISK_LOSS_STREAK_MAX": "2",
    "RISK_SESSION_COOLDOWN_MINUTES": "120",
    "RISK_DATA_STALE_TIMEOUT_SEC": "3600",
    "RISK_MAX_ENTRY_DEVIATION_PCT": "0.5",
    "RISK_NEAR_LIQ_BUFFER_MULTIPLIER": "1",
    "RISK_MAX_LEVERAGE": "5",
}
CALLBACKS = ("bot_loop_start", "custom_stake_amount", "confirm_trade_entry", "leverage")
# Log fields that name the run rather than a decision.
RUN_FIELDS = {"ts", "correlation_id", "run_id"}


def _utc_times(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        kwargs["current_time"] = kwargs["current_time"].astimezone(UTC)
        return method(*args, **kwargs)

    return call


def _proofs(feed: Any) -> list[Any]:
    """The answers of ``feed.calm_until`` (the real method still runs)."""
    answers: list[Any] = []
    real = feed.calm_until

    def counted(*args: Any, **kwargs: Any) -> Any:
        answers.append(real(*args, **kwargs))
        return answers[-1]

    feed.calm_until = counted
    return answers


def _backtests(backtesting: Backtesting) -> list[tuple[Any, list[dict[str, Any]], list[Any]]]:
    """(runtime, trades, calm proofs) of the shipped run, then of the reference run."""
    data, timerange = backtesting.load_bt_data()
    runs = []
    for reference in (False, True):
        strategy = StrategyResolver.load_strategy(backtesting.config)
        backtesting._set_strategy(strategy)  # as Backtesting.start(): bot_start runs
        runtime = strategy.guard_runtime
        proofs = _proofs(runtime.prices)
        if reference:
            runtime.skip_quiet = False
            for name in CALLBACKS:  # instance attributes shadow the methods
                setattr(strategy, name, _utc_times(getattr(strategy, name)))
        processed = strategy.advise_all_indicators(data)
        trimmed = trim_dataframes(processed, timerange, backtesting.required_startup)
        start, end = history.get_timerange(trimmed)
        result = backtesting.backtest(processed=processed, start_date=start, end_date=end)
        runtime.final_summary()  # the guard_summary line of this run
        trades = result["results"].drop(columns=["orders"], errors="ignore")
        runs.append((runtime, trades.to_dict("records"), proofs))
    return runs


@pytest.fixture(scope="module")
def outcomes(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(shipped, reference): trades, guard counts, decision log lines and runtime."""
    work = tmp_path_factory.mktemp("equivalence")
    (work / "user_data").mkdir()
    saved = {k: v for k, v in os.environ.items() if k.startswith(("RISK_", "TRADINGBOT_"))}
    for name in saved:
        del os.environ[name]
    os.environ.update(TIGHT)
    log = work / "risk.jsonl"
    configure_logging(log_file=log, to_stderr=False, level=logging.DEBUG)
    try:
        with OfflineExchange(shared_data, mode=Mode.HISTORIC) as exchange:
            overlay = work / "overlay.json"
            overlay.write_text(json.dumps(ccxt_overlay(exchange.url)))
            args: dict[str, Any] = {
                "config": [str(REPO_ROOT / "user_data/configs/config.backtest.json"), str(overlay)],
                "strategy": "GuardedMaCrossoverStrategy",
                "strategy_path": str(REPO_ROOT / "tests" / "strategies"),
                "datadir": str(shared_data),
                "user_data_dir": str(work / "user_data"),
                "pairs": list(SHARED_PAIRS),
                "export": "none",
            }
            config = Configuration(args, RunMode.BACKTEST).get_config()
            backtesting = Backtesting(config)  # switches Freqtrade's trade database off
            try:
                runs = _backtests(backtesting)
            finally:
                backtesting.cleanup()  # ... and on again, for the tests that follow
                LocalTrade.reset_trades()
        lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        yield [
            {
                "runtime": runtime,
                "trades": trades,
                "proofs": proofs,
                "refusals": dict(runtime.guard.refusals),
                "allowed": runtime.guard.allowed,
                "lines": [
                    {k: v for k, v in line.items() if k not in RUN_FIELDS}
                    for line in lines
                    if line.get("correlation_id") == runtime.guard.correlation_id
                    and line["message"] != "guard_started"
                ],
            }
            for runtime, trades, proofs in runs
        ]
    finally:
        reset_logging()
        for name in [k for k in os.environ if k.startswith(("RISK_", "TRADINGBOT_"))]:
            del os.environ[name]
        os.environ.update(saved)


def test_equivalence_when_limits_bite_then_reference_really_differs_in_method(
    outcomes: list[dict[str, Any]],
) -> None:
    """The shipped run skipped with ZoneInfo day bounds; the reference evaluated with UTC."""
    shipped, reference = (o["runtime"] for o in outcomes)

    assert shipped.skip_quiet
    assert shipped._clock.start.tzinfo is ZoneInfo("UTC")
    assert not reference.skip_quiet
    assert reference._clock.start.tzinfo is UTC


def test_equivalence_when_limits_bite_then_shipped_run_skipped_calm_blocks(
    outcomes: list[dict[str, Any]],
) -> None:
    """The shipped run proved calm blocks (candles it did not value), the reference never
    looked for one: the equal results below cover the blocks too."""
    shipped, reference = outcomes
    blocks = [until for until in shipped["proofs"] if until is not None]

    assert len(blocks) > 10
    assert reference["proofs"] == []


def test_guarded_backtest_when_shortcuts_on_then_trades_identical_to_reference(
    outcomes: list[dict[str, Any]],
) -> None:
    """Every trade (pair, times, rates, amounts, profit) is the same."""
    shipped, reference = outcomes

    assert len(shipped["trades"]) > 20
    assert shipped["trades"] == reference["trades"]


def test_guarded_backtest_when_shortcuts_on_then_refusals_and_halts_identical(
    outcomes: list[dict[str, Any]],
) -> None:
    """Same refusals at the same candles, same state changes and trips, same summary."""
    shipped, reference = outcomes
    messages = {line["message"] for line in shipped["lines"]}

    assert {"entry_refused", "risk_state_changed", "guard_summary"} <= messages
    assert len(shipped["refusals"]) >= 2  # more than one rule refused (streak, loss cap)
    assert shipped["refusals"] == reference["refusals"]
    assert shipped["allowed"] == reference["allowed"]
    assert shipped["lines"] == reference["lines"]
