"""GuardRuntime (app/risk/runtime.py): the backtest shortcuts decide exactly as evaluating
every candle does.

In backtests ``on_loop`` skips the account rules on idle and quiet candles and compares
Freqtrade's candle times (``ZoneInfo('UTC')``) with day bounds in the same tzinfo. The
reference runtime here evaluates every candle (``skip_quiet = False``) and gets its times
as ``datetime.UTC``, as before those optimisations. Both watch the same random price paths
and the same random trades (Freqtrade's own ``LocalTrade`` lists, a real
``DataProvider``); after every candle their risk state, breaker, refusal counts and entry
decisions must be identical.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType, RunMode
from freqtrade.persistence import LocalTrade
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.logs import RUN_ID_ENV
from app.risk.guard import GuardMode
from app.risk.runtime import GuardRuntime, _DayPeak, _final_summary, guard_mode
from tests.strategies.churn_strategies import GuardedChurnStrategy
from tests.unit.risk.conftest import LogReader
from tests.unit.strategies.test_base import _config as _base_config

PAIRS = ("ETH/BTC", "LTC/BTC")
STEP = timedelta(minutes=5)
# 22:00 UTC: the paths cross midnight, where the daily limits reset.
FIRST = datetime(2018, 1, 11, 22, 0, tzinfo=ZoneInfo("UTC"))
CANDLES = 48
LIMITS = {
    "RISK_LIVE_MAX_CONCURRENT_TRADES": "3",
    "RISK_MAX_EXPOSURE_PCT": "0.5",
    "RISK_MAX_POSITION_PCT": "0.3",
    "RISK_LOSS_STREAK_MAX": "2",
    "RISK_SESSION_COOLDOWN_MINUTES": "30",
    "RISK_DATA_STALE_TIMEOUT_SEC": "900",
    "RISK_MAX_ENTRY_DEVIATION_PCT": "0.05",
}


class FixedWallets:
    """Stands in for Freqtrade's Wallets (it needs an exchange with markets)."""

    def get_total_stake_amount(self) -> float:
        return 1.0


@dataclass(frozen=True)
class Step:
    """What happens on one candle: open, close, or nothing; before ``bot_loop_start`` or
    after it (the backtest's exits and entries of that candle, seen by the entry checks
    before the next loop)."""

    kind: str  # "open", "close" or "none"
    pair: str
    stake: float
    short: bool
    after_loop: bool


def _frames(returns: dict[str, list[float]]) -> dict[str, pd.DataFrame]:
    """Candles of a random walk per pair, one candle before FIRST (so a close is known)."""
    frames = {}
    for pair, steps in returns.items():
        closes, price = [], 0.05
        for step in steps:
            price *= 1 + step
            closes.append(price)
        dates = pd.date_range(FIRST - STEP, periods=len(closes), freq="5min", tz="UTC")
        frames[pair] = pd.DataFrame(
            {"date": dates, "open": closes, "high": closes, "low": closes, "close": closes}
            | {"volume": 1.0}
        )
    return frames


def _strategy(frames: dict[str, pd.DataFrame]) -> Any:
    config = {
        "runmode": RunMode.BACKTEST,
        "timeframe": "5m",
        "stake_currency": "BTC",
        "candle_type_def": CandleType.SPOT,
        "dataformat_ohlcv": "feather",
        "datadir": Path(),
        "timerange": None,
    }
    strategy = GuardedChurnStrategy(config)
    strategy.dp = DataProvider(config, None)
    for pair, frame in frames.items():
        strategy.dp._set_cached_df(pair, "5m", frame, CandleType.SPOT)
    strategy.wallets = FixedWallets()
    strategy.bot_start()
    return strategy


def _close_at(frame: pd.DataFrame, now: datetime) -> float:
    """The close of the last candle closed at ``now`` (what the guard values trades at)."""
    closed = frame[frame["date"] <= pd.Timestamp(now - STEP)]
    return float(closed["close"].iloc[-1])


def _apply(step: Step, now: datetime, frames: dict[str, pd.DataFrame]) -> None:
    """Open or close a backtest trade the way Freqtrade's backtest lists record it."""
    rate = _close_at(frames[step.pair], now)
    if step.kind == "open":
        trade = LocalTrade(
            pair=step.pair,
            stake_amount=step.stake,
            open_rate=rate,
            amount=step.stake / rate,
            fee_open=0.001,
            fee_close=0.001,
            open_date=now,
            is_open=True,
            exchange="binance",
            leverage=1.0,
            is_short=step.short,
        )
        LocalTrade.add_bt_trade(trade)
    elif step.kind == "close":
        open_trades = [t for t in LocalTrade.bt_trades_open if t.pair == step.pair]
        if open_trades:
            trade = open_trades[0]
            trade.close_rate = rate
            trade.close_date = now
            trade.close_profit_abs = trade.calc_profit(rate)
            trade.is_open = False
            LocalTrade.close_bt_trade(trade)


def _decisions(strategy: Any) -> tuple[Any, ...]:
    guard = strategy.guard_runtime.guard
    return (
        guard.state.state,
        guard.state.changes,
        guard.breaker.state(FIRST).status,
        dict(guard.refusals),
        guard.allowed,
    )


def _entry(strategy: Any, now: datetime, pair: str, frames: dict[str, pd.DataFrame]) -> bool:
    rate = _close_at(frames[pair], now)
    return bool(
        strategy.confirm_trade_entry(
            pair=pair,
            order_type="limit",
            amount=0.1 / rate,
            rate=rate,
            time_in_force="GTC",
            current_time=now,
            entry_tag=None,
            side="long",
        )
    )


@pytest.fixture
def trade_lists() -> Iterator[None]:
    """Freqtrade's backtest trade lists and RISK_* variables, restored afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(("RISK_", "TRADINGBOT_"))}
    LocalTrade.reset_trades()
    yield
    LocalTrade.reset_trades()
    for name in [k for k in os.environ if k.startswith(("RISK_", "TRADINGBOT_"))]:
        del os.environ[name]
    os.environ.update(saved)


_returns = st.lists(
    st.floats(min_value=-0.03, max_value=0.03, allow_nan=False), min_size=CANDLES + 1
).map(lambda steps: steps[: CANDLES + 1])
_events = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(("open", "close", "close", "none", "none", "none")),
        pair=st.sampled_from(PAIRS),
        stake=st.sampled_from((0.05, 0.1, 0.25)),
        short=st.booleans(),
        after_loop=st.booleans(),
    ),
    min_size=CANDLES,
    max_size=CANDLES,
)


@pytest.mark.usefixtures("trade_lists")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    returns=st.fixed_dictionaries(dict.fromkeys(PAIRS, _returns)),
    events=_events,
    loss_cap=st.sampled_from(("0.002", "0.01", "0.05", "0.5")),
    drawdown=st.sampled_from(("0.003", "0.02", "0.08", "0.5")),
    entries=st.sets(st.integers(min_value=0, max_value=CANDLES - 1), max_size=12),
)
def test_on_loop_when_backtest_skips_candles_then_decisions_equal_every_candle_evaluated(
    returns: dict[str, list[float]],
    events: list[Step],
    loss_cap: str,
    drawdown: str,
    entries: set[int],
) -> None:
    """Idle/quiet skips and same-tzinfo day bounds change no state, refusal or entry, also
    when an entry check saw a trade close before the next loop did."""
    os.environ.update(LIMITS)
    os.environ["RISK_DAILY_LOSS_CAP_PCT"] = loss_cap
    os.environ["RISK_MAX_DAILY_DRAWDOWN_PCT"] = drawdown
    LocalTrade.reset_trades()
    frames = _frames(returns)
    fast, reference = _strategy(frames), _strategy(frames)
    reference.guard_runtime.skip_quiet = False
    for index, step in enumerate(events):
        now = FIRST + index * STEP
        if not step.after_loop:
            _apply(step, now, frames)
        fast.bot_loop_start(current_time=now)
        reference.bot_loop_start(current_time=now.astimezone(UTC))
        assert _decisions(fast) == _decisions(reference), f"candle {index} ({now})"
        if step.after_loop:
            _apply(step, now, frames)
        if index in entries:
            pair = PAIRS[index % len(PAIRS)]
            assert _entry(fast, now, pair, frames) == _entry(
                reference, now.astimezone(UTC), pair, frames
            ), f"entry at candle {index}"
    guard = reference.guard_runtime.guard
    event(f"refusal reasons: {sorted(guard.refusals)}")
    event(f"risk state changes: {min(guard.state.changes, 3)}+")


# -- ROUND 3 OF MUTATION TESTING: what the survivors showed untested -------------------------


@pytest.mark.parametrize("runmode", list(RunMode))
def test_guard_mode_when_each_freqtrade_runmode_then_live_hyperopt_or_backtest(
    runmode: RunMode,
) -> None:
    """Live and dry-run are LIVE, hyperopt is HYPEROPT, every other run mode (plot,
    webserver, the analysis commands ...) runs as a quiet BACKTEST."""
    expected = {
        RunMode.LIVE: GuardMode.LIVE,
        RunMode.DRY_RUN: GuardMode.LIVE,
        RunMode.HYPEROPT: GuardMode.HYPEROPT,
    }.get(runmode, GuardMode.BACKTEST)

    assert guard_mode(runmode) is expected


def test_day_peak_when_equity_unknown_then_peak_kept_and_new_day_starts_afresh() -> None:
    """A loop whose equity cannot be valued (a price missing) keeps the day's peak; a
    lower equity does not lower it; a new day forgets it."""
    peak = _DayPeak()
    day = datetime(2026, 1, 1, tzinfo=UTC)

    assert peak.observe(day, 100.0) == 100.0
    assert peak.observe(day, None) == 100.0
    assert peak.observe(day, 90.0) == 100.0
    assert peak.observe(day + timedelta(days=1), None) is None


@pytest.mark.parametrize(("value", "expected"), [("run-7", "run-7"), ("", None)])
def test_for_strategy_when_runner_sets_run_id_then_guard_and_incidents_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
) -> None:
    """The runner's run id (TRADINGBOT_RUN_ID) ties the guard's incidents to the run; an
    empty one is no run id."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv(RUN_ID_ENV, value)
    config = _base_config(RunMode.BACKTEST)
    strategy = GuardedChurnStrategy(config)
    strategy.dp = DataProvider(config, None)

    runtime = GuardRuntime.for_strategy(strategy)

    assert runtime.guard.run_id == expected
    assert runtime.guard.incidents is not None and runtime.guard.incidents.run_id == expected


def test_final_summary_when_runtime_alive_then_logged_when_gone_then_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, risk_log: LogReader
) -> None:
    """At exit a backtest that counted something writes its ``guard_summary``; a runtime
    already gone (a finished strategy) is skipped without an error."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    config = _base_config(RunMode.BACKTEST)
    strategy = GuardedChurnStrategy(config)
    strategy.dp = DataProvider(config, None)
    runtime = GuardRuntime.for_strategy(strategy)
    runtime.guard.allowed = 3
    gone = GuardRuntime.for_strategy(strategy)
    dead = weakref.ref(gone)
    del gone
    gc.collect()

    _final_summary(weakref.ref(runtime))
    _final_summary(dead)

    (line,) = [r for r in risk_log() if r["message"] == "guard_summary"]
    assert line["allowed"] == 3
