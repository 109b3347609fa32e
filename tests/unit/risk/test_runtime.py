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
import json
import os
import re
import subprocess
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType, RunMode
from freqtrade.persistence import LocalTrade, Trade, init_db
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.logs import CORRELATION_ID_ENV, RUN_ID_ENV
from app.risk.breaker_view import FileBreakerView, MemoryBreakerView
from app.risk.decision import RiskState
from app.risk.feeds import BacktestPriceFeed, LiveTradeFeed
from app.risk.guard import GuardMode
from app.risk.runtime import GuardRuntime, _DayPeak, _final_summary, guard_mode
from tests.strategies.churn_strategies import GuardedChurnStrategy
from tests.unit.risk.conftest import LogReader
from tests.unit.strategies.test_base import NOW
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
        _open(step.pair, stake=step.stake, rate=rate, now=now, fee=0.001, short=step.short)
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
    runtime = strategy.guard_runtime
    guard = runtime.guard
    return (
        guard.state.state,
        guard.state.changes,
        guard.breaker.state(FIRST).status,
        dict(guard.refusals),
        guard.allowed,
        runtime._day_peak.peak,
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
    lower equity does not lower it, a higher one raises it; a new day forgets it."""
    peak = _DayPeak()
    day = datetime(2026, 1, 1, tzinfo=UTC)

    assert peak.observe(day, 100.0) == 100.0
    assert peak.observe(day, None) == 100.0
    assert peak.observe(day, 90.0) == 100.0
    assert peak.observe(day, 110.0) == 110.0
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
    assert (line["level"], line["allowed"]) == ("INFO", 3)


# -- ROUND 3, SECOND PASS: the runtime's remaining survivors ----------------------------------


class StandInExchange:
    """Stands in for Freqtrade's futures exchange (its markets and leverage tiers come from
    the internet): records what the runtime asks ``dry_run_liquidation_price``."""

    def __init__(self, price: float | None) -> None:
        self.price = price
        self.asked: list[dict[str, Any]] = []

    def dry_run_liquidation_price(self, **kwargs: Any) -> float | None:
        self.asked.append(kwargs)
        return self.price


class CountingWallets(FixedWallets):
    """Freqtrade's Wallets stand-in that counts the runtime's reads; 5 of collateral."""

    def __init__(self) -> None:
        self.reads = 0

    def get_total_stake_amount(self) -> float:
        self.reads += 1
        return 1.0

    def get_collateral(self) -> float:
        return 5.0


def _counted(obj: Any, name: str) -> list[tuple[Any, ...]]:
    """Count the calls of ``obj.name`` (the real method still runs): the shortcuts are
    about work not done, which only a count can see."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(obj, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    setattr(obj, name, counted)
    return calls


def _open(
    pair: str, *, stake: float, rate: float, now: datetime, fee: float = 0.0, short: bool = False
) -> LocalTrade:
    """Open a backtest trade the way Freqtrade's backtest lists record it."""
    trade = LocalTrade(
        pair=pair,
        stake_amount=stake,
        open_rate=rate,
        amount=stake / rate,
        fee_open=fee,
        fee_close=fee,
        open_date=now,
        is_open=True,
        exchange="binance",
        leverage=1.0,
        is_short=short,
    )
    LocalTrade.add_bt_trade(trade)
    return trade


def _closes(
    pair: str, closes: list[float], first: datetime = FIRST - STEP
) -> dict[str, pd.DataFrame]:
    dates = pd.date_range(first, periods=len(closes), freq="5min", tz="UTC")
    frame = pd.DataFrame(
        {"date": dates, "open": closes, "high": closes, "low": closes, "close": closes}
        | {"volume": 1.0}
    )
    return {pair: frame}


@pytest.fixture
def account_limits(
    trade_lists: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """A loss cap of 25 % and a drawdown limit of 50 % (floors 0.75 and 0.5 of 1.0)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("RISK_DAILY_LOSS_CAP_PCT", "0.25")
    monkeypatch.setenv("RISK_MAX_DAILY_DRAWDOWN_PCT", "0.5")
    return monkeypatch


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_only_prices_move_above_the_floors_then_no_refresh_and_no_evaluation() -> None:
    """A backtest candle where nothing but prices moved and equity stays above every floor
    neither refreshes the trade feed nor runs the account rules; a price that takes equity
    down to the loss cap's floor (exactly 0.75: loss = cap, which refuses) runs them."""
    strategy = _strategy(_closes("ETH/BTC", [0.0625, 0.0625, 0.07, 0.03125, 0.03125]))
    runtime = strategy.guard_runtime
    evaluations = _counted(runtime.guard, "evaluate_account")
    refreshes = _counted(runtime.trades, "refresh")
    strategy.bot_loop_start(current_time=FIRST)
    assert (len(evaluations), len(refreshes)) == (1, 1)

    strategy.bot_loop_start(current_time=FIRST + STEP)  # nothing open, nothing changed
    _open("ETH/BTC", stake=0.5, rate=0.0625, now=FIRST + STEP)
    strategy.bot_loop_start(current_time=FIRST + 2 * STEP)  # open, equity 1.06 > 0.75
    assert (len(evaluations), len(refreshes)) == (1, 1)
    assert runtime.guard.state.state is RiskState.ACTIVE

    strategy.bot_loop_start(current_time=FIRST + 4 * STEP)  # 8 x 0.03125: equity 0.75
    assert len(evaluations) == 2
    assert runtime.guard.state.state is RiskState.HALTED


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_an_open_trade_cannot_be_valued_then_rules_run_every_candle() -> None:
    """Without a price for an open trade's pair equity is unknown: never "above the floor",
    so the loss cap sees it (and refuses, fail closed) on every candle."""
    late = _closes("XRP/BTC", [0.01] * 4, first=FIRST + 10 * STEP)  # no candle closed yet
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 4) | late)
    runtime = strategy.guard_runtime
    evaluations = _counted(runtime.guard, "evaluate_account")
    strategy.bot_loop_start(current_time=FIRST)
    _open("XRP/BTC", stake=0.1, rate=0.01, now=FIRST)

    for index in (1, 2, 3):
        strategy.bot_loop_start(current_time=FIRST + index * STEP)

    assert len(evaluations) == 4


@pytest.mark.usefixtures("account_limits")
def test_snapshot_when_nothing_changed_then_shared_and_wallet_read_once_per_trade_set() -> None:
    """Stake sizing and entry confirmation of one candle share one snapshot; a backtest
    reads the wallet again only when a trade opened or closed, and values open trades
    once per candle (the loop's valuation serves the entry checks)."""
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 4))
    wallets = strategy.wallets = CountingWallets()
    runtime = strategy.guard_runtime
    valuations = _counted(runtime.prices, "unrealised")

    first = runtime.snapshot(FIRST)
    assert first.unrealised == 0.0  # nothing open
    assert runtime.snapshot(FIRST) is first
    later = runtime.snapshot(FIRST + STEP)
    assert later is not first and wallets.reads == 1
    _open("ETH/BTC", stake=0.1, rate=0.05, now=FIRST + STEP)
    assert runtime.snapshot(FIRST + STEP) is not later
    assert wallets.reads == 2
    runtime.on_loop(FIRST + 2 * STEP)
    runtime.snapshot(FIRST + 2 * STEP)
    assert len(valuations) == 2  # once at FIRST + STEP, once at FIRST + 2 x STEP


@pytest.mark.parametrize(
    ("mode", "level"), [(RunMode.BACKTEST, "INFO"), (RunMode.HYPEROPT, "DEBUG")]
)
def test_new_run_when_previous_run_counted_then_its_summary_at_mode_level_and_counts_reset(
    trade_lists: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    risk_log: LogReader,
    mode: RunMode,
    level: str,
) -> None:
    """The next hyperopt epoch (Freqtrade resets its trade lists) ends the run before: its
    ``guard_summary`` at INFO in a backtest, DEBUG in hyperopt; a run that counted nothing
    logs none."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    strategy = GuardedChurnStrategy(_base_config(mode))
    strategy.dp = DataProvider(_base_config(mode), None)
    strategy.wallets = FixedWallets()
    strategy.bot_start()
    runtime = strategy.guard_runtime
    runtime.snapshot(FIRST)  # the first run starts: nothing counted, no summary
    runtime.guard.allowed = 2
    LocalTrade.reset_trades()

    runtime.snapshot(FIRST)

    (line,) = [r for r in risk_log() if r["message"] == "guard_summary"]
    assert (line["level"], line["allowed"]) == (level, 2)
    assert runtime.guard.allowed == 0


@pytest.fixture
def trade_db(trade_lists: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Freqtrade's trade database in memory (dry-run), a state folder, no correlation id."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv(CORRELATION_ID_ENV, raising=False)
    init_db("sqlite://")
    yield
    Trade.session.remove()
    Trade.use_db = False


def _started(
    mode: RunMode, config: dict[str, Any] | None = None, exchange: Any = None
) -> GuardRuntime:
    config = _base_config(mode) | (config or {})
    strategy = GuardedChurnStrategy(config)
    strategy.dp = DataProvider(config, exchange)
    strategy.wallets = CountingWallets()
    strategy.bot_start()
    runtime: GuardRuntime = strategy.guard_runtime
    return runtime


@pytest.mark.usefixtures("trade_db")
def test_for_strategy_when_backtest_then_no_publisher_and_incidents_written_in_line(
    risk_log: LogReader,
) -> None:
    """A backtest uses an in-memory breaker (it never reads the live bot's file), publishes
    no metrics and writes incidents in line (deterministic); its correlation id is ``bot-``
    and 12 hex digits; ``guard_started`` names the breaker and only the limits set."""
    runtime = _started(RunMode.BACKTEST)

    assert isinstance(runtime.guard.breaker, MemoryBreakerView)
    (started,) = [r for r in risk_log() if r["message"] == "guard_started"]
    assert started["breaker"] == "in-memory"
    assert None not in started["limits"].values()
    assert runtime.publisher is None
    assert runtime.guard.incidents is not None and runtime.guard.incidents.background is False
    assert re.fullmatch(r"bot-[0-9a-f]{12}", runtime.guard.correlation_id)


@pytest.mark.usefixtures("trade_db")
@pytest.mark.parametrize(
    ("mode", "same_data"), [(RunMode.HYPEROPT, True), (RunMode.BACKTEST, False)]
)
def test_for_strategy_when_hyperopt_then_price_series_kept_across_epochs(
    mode: RunMode, same_data: bool
) -> None:
    """Hyperopt's epochs backtest the candles of one data file: its price feed keeps the
    series from one epoch to the next; a backtest's reloads them for each run."""
    runtime = _started(mode)

    assert isinstance(runtime.prices, BacktestPriceFeed)
    assert runtime.prices.same_data is same_data


@pytest.mark.parametrize(("streak", "window"), [("3", 3), (None, 0)])
def test_for_strategy_when_dry_run_then_publisher_background_incidents_and_streak_window(
    trade_db: None,
    monkeypatch: pytest.MonkeyPatch,
    risk_log: LogReader,
    streak: str | None,
    window: int,
) -> None:
    """Dry-run reads the breaker file, publishes the guard's metrics, queues incidents (the
    loop never waits for the registry) and reads as many closed trades as
    RISK_LOSS_STREAK_MAX needs (none without a streak limit)."""
    if streak is not None:
        monkeypatch.setenv("RISK_LOSS_STREAK_MAX", streak)

    runtime = _started(RunMode.DRY_RUN)

    assert isinstance(runtime.guard.breaker, FileBreakerView)
    (started,) = [r for r in risk_log() if r["message"] == "guard_started"]
    assert started["breaker"] == str(runtime.guard.settings.breaker_file)
    assert runtime.publisher is not None
    assert runtime.guard.incidents is not None and runtime.guard.incidents.background is True
    assert isinstance(runtime.trades, LiveTradeFeed) and runtime.trades.streak_window == window


@pytest.mark.usefixtures("trade_db")
def test_publisher_when_loop_and_entry_checked_then_their_durations_within_the_calls() -> None:
    """Dry-run, the published check durations are those of the loop and the entry check:
    two of them, together no longer than the two calls took."""
    runtime = _started(RunMode.DRY_RUN)
    publisher = runtime.publisher
    assert publisher is not None

    before = perf_counter()
    runtime.confirm(pair="ETH/BTC", side="long", amount=1.0, rate=0.05, now=NOW)
    runtime.on_loop(NOW)
    elapsed = perf_counter() - before

    checks = publisher.snapshot(0.0).check_seconds
    assert checks.count == 2
    assert 0.0 < checks.total <= elapsed


@pytest.mark.usefixtures("trade_db")
@pytest.mark.parametrize(("notional", "allowed"), [(0.5, True), (0.7, False)])
def test_confirm_when_leveraged_then_stake_is_notional_over_leverage(
    notional: float, allowed: bool
) -> None:
    """At leverage 2 the position cap (30 % of 1.0) applies to the margin, notional / 2:
    0.5 of notional passes, 0.7 does not."""
    os.environ["RISK_MAX_POSITION_PCT"] = "0.3"
    runtime = _started(RunMode.BACKTEST)
    runtime.on_loop(NOW)  # Freqtrade's loop comes first (it starts the run)
    runtime.stake(pair="ETH/BTC", now=NOW, proposed=0.1, min_stake=None, leverage=2.0)

    decision = runtime.confirm(
        pair="ETH/BTC", side="long", amount=notional / 0.05, rate=0.05, now=NOW
    )

    assert decision.allowed is allowed


@pytest.mark.usefixtures("trade_db")
def test_stake_when_its_snapshot_starts_a_new_run_then_leverage_kept_for_confirm() -> None:
    """The first call of a run may be the stake sizing (its snapshot finds the new run and
    starts it afresh): the entry's leverage is recorded after that, so the confirmation
    judges the margin (0.5 notional / 2 = 0.25, under the 30 % cap), not the notional."""
    os.environ["RISK_MAX_POSITION_PCT"] = "0.3"
    runtime = _started(RunMode.BACKTEST)
    runtime.stake(pair="ETH/BTC", now=NOW, proposed=0.1, min_stake=None, leverage=2.0)

    decision = runtime.confirm(pair="ETH/BTC", side="long", amount=0.5 / 0.05, rate=0.05, now=NOW)

    assert decision.allowed


@pytest.mark.usefixtures("trade_db")
def test_confirm_when_unleveraged_then_no_liquidation_price_asked() -> None:
    """With the near-liquidation rule on, an unleveraged entry (spot) passes without asking
    the exchange for a liquidation price."""
    os.environ["RISK_NEAR_LIQ_BUFFER_MULTIPLIER"] = "2"
    exchange = StandInExchange(price=0.0499)
    runtime = _started(RunMode.BACKTEST, exchange=exchange)
    runtime.on_loop(NOW)
    runtime.stake(pair="ETH/BTC", now=NOW, proposed=0.1, min_stake=None, leverage=1.0)

    assert runtime.confirm(pair="ETH/BTC", side="long", amount=2.0, rate=0.05, now=NOW).allowed
    assert exchange.asked == []


@pytest.mark.usefixtures("trade_db")
@pytest.mark.parametrize(
    ("margin_mode", "cross"),
    [
        (json.loads('{"margin_mode": "cross"}'), True),  # as Freqtrade reads its config
        ({"margin_mode": "isolated"}, False),
        ({}, False),
    ],
)
@pytest.mark.parametrize("side", ["long", "short"])
def test_confirm_when_leveraged_then_liquidation_price_asked_as_freqtrade_estimates_it(
    margin_mode: dict[str, str], cross: bool, side: str
) -> None:
    """Freqtrade's dry-run formula gets the side, the margin, and for cross margin the
    whole collateral and every open trade; a liquidation price too close refuses."""
    os.environ["RISK_NEAR_LIQ_BUFFER_MULTIPLIER"] = "2"
    exchange = StandInExchange(price=0.0499)
    runtime = _started(RunMode.BACKTEST, margin_mode, exchange=exchange)
    other = _open("LTC/BTC", stake=0.1, rate=0.01, now=NOW)
    runtime.on_loop(NOW)
    runtime.stake(pair="ETH/BTC", now=NOW, proposed=0.1, min_stake=None, leverage=2.0)
    text_side = "".join(list(side))  # an equal string, not the same object

    decision = runtime.confirm(pair="ETH/BTC", side=text_side, amount=2.0, rate=0.05, now=NOW)

    (asked,) = exchange.asked
    assert asked["is_short"] is (side == "short")
    assert (asked["stake_amount"], asked["leverage"], asked["amount"]) == (0.05, 2.0, 2.0)
    assert asked["wallet_balance"] == (5.0 if cross else 0.05)
    assert asked["open_trades"] == ([other] if cross else [])
    assert decision.reason == "NEAR_LIQUIDATION"


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_cooldown_ends_between_candles_then_next_candle_ends_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 7-minute cooldown after a loss ends between two 5-minute candles: the candle
    within it skips the rules, the first candle after its end runs them again, which end
    the cooldown."""
    monkeypatch.setenv("RISK_LOSS_STREAK_MAX", "1")
    monkeypatch.setenv("RISK_SESSION_COOLDOWN_MINUTES", "7")
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 4))
    trade = _open("ETH/BTC", stake=0.1, rate=0.05, now=FIRST - STEP)
    trade.close_rate, trade.close_date, trade.is_open = 0.04, FIRST, False
    trade.close_profit_abs = trade.calc_profit(0.04)
    LocalTrade.close_bt_trade(trade)
    state = strategy.guard_runtime.guard.state
    refreshes = _counted(strategy.guard_runtime.trades, "refresh")

    strategy.bot_loop_start(current_time=FIRST)
    strategy.bot_loop_start(current_time=FIRST + STEP)  # still cooling down: a quiet candle
    assert state.state is RiskState.COOLDOWN
    assert len(refreshes) == 1

    strategy.bot_loop_start(current_time=FIRST + 2 * STEP)  # 10 minutes after the loss
    assert state.state is RiskState.ACTIVE


@pytest.mark.usefixtures("trade_db")
def test_confirm_when_no_stake_asked_before_then_unleveraged() -> None:
    """An entry whose stake the guard did not size (no ``custom_stake_amount`` before it)
    counts as unleveraged: 0.5 of notional is a 0.5 stake, above the 30 % cap."""
    os.environ["RISK_MAX_POSITION_PCT"] = "0.3"
    runtime = _started(RunMode.BACKTEST)
    runtime.on_loop(NOW)

    decision = runtime.confirm(pair="ETH/BTC", side="long", amount=10.0, rate=0.05, now=NOW)

    assert decision.reason == "POSITION_SIZE"


@pytest.mark.usefixtures("trade_db")
@pytest.mark.parametrize(("price", "allowed"), [(0.01, True), (0.0499, False), (None, False)])
def test_confirm_when_liquidation_price_far_then_allowed_near_or_unknown_then_refused(
    price: float | None, allowed: bool
) -> None:
    """At leverage 2 a liquidation 80 % away passes, 0.2 % away is refused, and one the
    exchange cannot estimate is refused (fail closed)."""
    os.environ["RISK_NEAR_LIQ_BUFFER_MULTIPLIER"] = "2"
    runtime = _started(RunMode.BACKTEST, exchange=StandInExchange(price=price))
    runtime.on_loop(NOW)
    runtime.stake(pair="ETH/BTC", now=NOW, proposed=0.1, min_stake=None, leverage=2.0)

    decision = runtime.confirm(pair="ETH/BTC", side="long", amount=2.0, rate=0.05, now=NOW)

    assert decision.allowed is allowed


def test_on_loop_when_trades_open_and_no_equity_rule_then_quiet_candles_skip_without_error(
    trade_lists: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, risk_log: LogReader
) -> None:
    """With no rule driven by equity (here only a trade count limit) an open trade leaves
    nothing to value: later candles skip the rules, and nothing fails."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("RISK_LIVE_MAX_CONCURRENT_TRADES", "3")
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 4))
    evaluations = _counted(strategy.guard_runtime.guard, "evaluate_account")
    _open("ETH/BTC", stake=0.1, rate=0.05, now=FIRST - STEP)

    for index in (0, 1, 2):
        strategy.bot_loop_start(current_time=FIRST + index * STEP)

    assert len(evaluations) == 1
    assert [r for r in risk_log() if r["message"] == "guard_error"] == []


def test_for_strategy_when_backtest_process_exits_then_last_run_summary_logged(
    tmp_path: Path,
) -> None:
    """The last backtest run of a process has no next run to end it: its ``guard_summary``
    is written at exit (a real interpreter exiting); a dry-run bot's guard writes none."""
    log = tmp_path / "risk.jsonl"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from freqtrade.data.dataprovider import DataProvider\n"
        "from freqtrade.enums import RunMode\n"
        "from app.logs import configure_logging\n"
        "from tests.strategies.churn_strategies import GuardedChurnStrategy\n"
        "from tests.unit.strategies.test_base import _config\n"
        "configure_logging(log_file=Path(sys.argv[1]), to_stderr=False)\n"
        "strategy = GuardedChurnStrategy(_config(RunMode.BACKTEST))\n"
        "strategy.dp = DataProvider(_config(RunMode.BACKTEST), None)\n"
        "strategy.bot_start()\n"
        "strategy.guard_runtime.guard.allowed = 4\n"
        "from freqtrade.persistence import init_db\n"
        "init_db('sqlite://')\n"
        "live = GuardedChurnStrategy(_config(RunMode.DRY_RUN))\n"
        "live.dp = DataProvider(_config(RunMode.DRY_RUN), None)\n"
        "live.bot_start()\n"
        "live.guard_runtime.guard.allowed = 5\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISK_", "TRADINGBOT_"))}
    env["RISK_STATE_DIR"] = str(tmp_path / "state")

    subprocess.run(
        [sys.executable, "-c", script, str(log)],
        cwd=Path(__file__).parents[3],
        env=env,
        check=True,
        timeout=60,
    )

    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    (summary,) = [line for line in lines if line["message"] == "guard_summary"]
    assert (summary["level"], summary["allowed"]) == ("INFO", 4)


# -- CALM BLOCKS: candles proven not to reach the day's peak or a floor -------------------


@pytest.mark.usefixtures("account_limits")
@pytest.mark.parametrize(("adjusting", "valued"), [(False, 1), (True, 6)])
def test_on_loop_when_prices_proven_calm_then_open_trades_not_valued_until_the_block_ends(
    adjusting: bool, valued: int
) -> None:
    """Flat closes after an entry (equity just under the day's peak by the fees, far above
    the floors): the first candle values the trade and proves the rest of the data calm,
    so the next five candles value nothing. With position adjustment (an open trade's
    amount may change in place) nothing is proven: every candle values the trade."""
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 8))
    strategy.position_adjustment_enable = adjusting
    runtime = strategy.guard_runtime
    strategy.bot_loop_start(current_time=FIRST)
    _open("ETH/BTC", stake=0.1, rate=0.05, now=FIRST, fee=0.001)
    valuations = _counted(runtime.prices, "unrealised")
    evaluations = _counted(runtime.guard, "evaluate_account")

    for index in range(1, 7):
        strategy.bot_loop_start(current_time=FIRST + index * STEP)

    assert (len(valuations), len(evaluations)) == (valued, 0)
    assert runtime._day_peak.peak == 1.0  # the flat candles never reached it


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_a_trade_opens_inside_a_calm_block_then_the_new_set_is_valued() -> None:
    """A block holds for the trades it was proven for: a second trade opened inside it is
    valued on the next candle (a new proof), and a price drop to the loss cap's floor
    right after is seen on its candle."""
    closes = [0.05] * 5 + [0.01] * 3
    strategy = _strategy(_closes("ETH/BTC", closes) | _closes("LTC/BTC", [0.05] * 8))
    runtime = strategy.guard_runtime
    strategy.bot_loop_start(current_time=FIRST)
    _open("ETH/BTC", stake=0.1, rate=0.05, now=FIRST, fee=0.001)
    strategy.bot_loop_start(current_time=FIRST + STEP)
    strategy.bot_loop_start(current_time=FIRST + 2 * STEP)
    _open("LTC/BTC", stake=0.1, rate=0.05, now=FIRST + 2 * STEP, fee=0.001)
    _open("ETH/BTC", stake=0.3, rate=0.05, now=FIRST + 2 * STEP, fee=0.001)
    valuations = _counted(runtime.prices, "unrealised")

    strategy.bot_loop_start(current_time=FIRST + 3 * STEP)
    assert len(valuations) == 1
    strategy.bot_loop_start(current_time=FIRST + 5 * STEP)  # ETH at 0.01 from FIRST + 5 x STEP
    assert runtime.guard.state.state is RiskState.HALTED


# -- HELD SPANS: the candles after a steady one that needs no valuation -------------------


@pytest.mark.usefixtures("account_limits")
@pytest.mark.parametrize("closed_before", [False, True], ids=["no-trade", "a-closed-trade"])
def test_on_loop_when_a_new_run_starts_inside_a_held_span_then_its_first_candle_is_evaluated(
    closed_before: bool,
) -> None:
    """Hyperopt's next epoch starts over at the same candles with new, empty trade lists:
    the span held for the old run does not cover it, whether the old lists were empty
    too (as long as the new ones) or held a closed trade."""
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 4))
    evaluations = _counted(strategy.guard_runtime.guard, "evaluate_account")
    if closed_before:
        trade = _open("ETH/BTC", stake=0.1, rate=0.05, now=FIRST - 2 * STEP)
        trade.close_rate, trade.close_date, trade.is_open = 0.05, FIRST - STEP, False
        trade.close_profit_abs = trade.calc_profit(0.05)
        LocalTrade.close_bt_trade(trade)
    for index in (0, 1, 2):  # the second candle starts a held span, the third is in it
        strategy.bot_loop_start(current_time=FIRST + index * STEP)
    assert len(evaluations) == 1
    LocalTrade.reset_trades()

    strategy.bot_loop_start(current_time=FIRST + STEP)

    assert len(evaluations) == 2


@pytest.mark.usefixtures("account_limits")
@pytest.mark.parametrize("cooling", [False, True], ids=["idle", "cooldown-past-midnight"])
def test_on_loop_when_a_held_span_reaches_midnight_then_the_new_day_runs_the_rules(
    cooling: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No trade open, nothing moves: every candle after a look is held, until 00:00 UTC
    starts a new day (the daily limits reset), whose first candle runs the rules; also
    when a cooldown from a loss at 23:50 runs on to 00:20."""
    monkeypatch.setenv("RISK_LOSS_STREAK_MAX", "1")
    monkeypatch.setenv("RISK_SESSION_COOLDOWN_MINUTES", "30")
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 30))
    state = strategy.guard_runtime.guard.state
    evaluations = _counted(strategy.guard_runtime.guard, "evaluate_account")
    loss_at = FIRST + 22 * STEP  # 23:50

    for index in range(26):  # 22:00 .. 00:05
        now = FIRST + index * STEP
        if cooling and now == loss_at:
            trade = _open("ETH/BTC", stake=0.1, rate=0.05, now=now - STEP)
            trade.close_rate, trade.close_date, trade.is_open = 0.04, now, False
            trade.close_profit_abs = trade.calc_profit(0.04)
            LocalTrade.close_bt_trade(trade)
        strategy.bot_loop_start(current_time=now)

    expected = [FIRST, loss_at, FIRST + 24 * STEP] if cooling else [FIRST, FIRST + 24 * STEP]
    assert [call[1] for call in evaluations] == expected
    assert state.state is (RiskState.COOLDOWN if cooling else RiskState.ACTIVE)


@pytest.mark.usefixtures("trade_lists")
def test_on_loop_when_the_loss_cap_is_the_whole_day_then_its_floor_zero_raises_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, risk_log: LogReader
) -> None:
    """RISK_DAILY_LOSS_CAP_PCT=1 (its highest value) puts the floor at 0: a trade open
    above it is valued and proven calm like any other, without a guard error."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("RISK_DAILY_LOSS_CAP_PCT", "1")
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 5))
    strategy.bot_loop_start(current_time=FIRST)
    _open("ETH/BTC", stake=0.5, rate=0.05, now=FIRST, fee=0.001)

    for index in (1, 2, 3):
        strategy.bot_loop_start(current_time=FIRST + index * STEP)

    assert [r for r in risk_log() if r["message"] == "guard_error"] == []
    assert strategy.guard_runtime.guard.state.state is RiskState.ACTIVE


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_a_calm_block_ends_then_the_first_candle_after_it_is_valued(
    risk_log: LogReader,
) -> None:
    """Flat closes, then a crash: the first candle with the trade open proves the flat
    ones calm and no further; the candles in the block are held, and the crash candle is
    valued (equity ~0.6, under the loss cap's floor 0.75): halted there."""
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 5 + [0.01] * 3))
    runtime = strategy.guard_runtime
    strategy.bot_loop_start(current_time=FIRST)
    _open("ETH/BTC", stake=0.5, rate=0.05, now=FIRST, fee=0.001)
    valuations = _counted(runtime.prices, "unrealised")

    for index in (1, 2, 3, 4):
        strategy.bot_loop_start(current_time=FIRST + index * STEP)
    assert (len(valuations), runtime.guard.state.state) == (1, RiskState.ACTIVE)

    strategy.bot_loop_start(current_time=FIRST + 5 * STEP)  # ETH's 0.01 has closed

    assert runtime.guard.state.state is RiskState.HALTED
    assert [r for r in risk_log() if r["message"] == "guard_error"] == []


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_a_trade_opens_and_closes_inside_a_held_span_then_the_loss_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trade opened and closed between two loops leaves the open list as long as it
    was; the closed list grew, so the span ends and the loss starts its cooldown."""
    monkeypatch.setenv("RISK_LOSS_STREAK_MAX", "1")
    monkeypatch.setenv("RISK_SESSION_COOLDOWN_MINUTES", "30")
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 4))
    for index in (0, 1):  # the second candle starts a held span
        strategy.bot_loop_start(current_time=FIRST + index * STEP)
    trade = _open("ETH/BTC", stake=0.1, rate=0.05, now=FIRST + STEP)
    trade.close_rate, trade.close_date, trade.is_open = 0.04, FIRST + STEP, False
    trade.close_profit_abs = trade.calc_profit(0.04)
    LocalTrade.close_bt_trade(trade)

    strategy.bot_loop_start(current_time=FIRST + 2 * STEP)

    assert strategy.guard_runtime.guard.state.state is RiskState.COOLDOWN


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_a_trade_opens_inside_a_held_span_then_its_fall_is_seen_at_once() -> None:
    """A span held with no trade open ends when one opens: the next candle values it,
    and a close that takes equity under the loss cap's floor halts on that candle."""
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 3 + [0.01] * 3))
    runtime = strategy.guard_runtime
    for index in (0, 1, 2):
        strategy.bot_loop_start(current_time=FIRST + index * STEP)
    _open("ETH/BTC", stake=0.5, rate=0.05, now=FIRST + 2 * STEP, fee=0.001)

    strategy.bot_loop_start(current_time=FIRST + 3 * STEP)  # ETH at 0.01: equity ~0.6

    assert runtime.guard.state.state is RiskState.HALTED


# -- THE EQUIVALENCE PROPERTY: last, as the slowest (~7 s); the mutation run's -x stops at
# the first failure, so mutants the tests above kill never pay for it ----------------------


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


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_snapshot_fails_then_guard_error_logged_and_loop_goes_on(
    risk_log: LogReader,
) -> None:
    """A loop whose snapshot cannot be built (here: the wallet) never raises into
    Freqtrade's loop: it is logged as a ``guard_error`` and entries re-check on their own."""
    strategy = _strategy(_closes("ETH/BTC", [0.05] * 4))
    strategy.wallets = None  # Freqtrade never does this; any failure will do

    strategy.bot_loop_start(current_time=FIRST)

    (error,) = [r for r in risk_log() if r["message"] == "guard_error"]
    assert error["where"] == "bot_loop_start"


@pytest.mark.usefixtures("trade_db")
def test_final_summary_when_hyperopt_then_at_debug(risk_log: LogReader) -> None:
    """Hyperopt's last epoch summary is written at DEBUG, as every epoch's (quiet workers)."""
    runtime = _started(RunMode.HYPEROPT)
    runtime.guard.allowed = 1

    runtime.final_summary()

    (line,) = [r for r in risk_log() if r["message"] == "guard_summary"]
    assert line["level"] == "DEBUG"


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_closes_wiggle_inside_the_room_then_one_valuation_proves_them_all() -> None:
    """Closes that move a little up (staying under the day's peak, the fees away) and a
    little down (far above the floors) are proven calm from the first candle: the room
    the proof gets is the whole distance to the peak and to the floor, less only the
    rounding margin."""
    wiggles = [0.05, 0.04998, 0.05002, 0.04996, 0.05001, 0.04999, 0.05002, 0.05]
    strategy = _strategy(_closes("ETH/BTC", wiggles))
    runtime = strategy.guard_runtime
    strategy.bot_loop_start(current_time=FIRST)
    _open("ETH/BTC", stake=0.1, rate=0.05, now=FIRST, fee=0.001)
    valuations = _counted(runtime.prices, "unrealised")

    for index in range(1, 7):
        strategy.bot_loop_start(current_time=FIRST + index * STEP)

    assert len(valuations) == 1
    assert runtime._day_peak.peak == 1.0


@pytest.mark.usefixtures("account_limits")
def test_on_loop_when_a_loss_was_realised_today_then_the_floor_counts_from_the_day_start() -> None:
    """The loss cap's floor starts from the day's start equity (the wallet less what was
    realised today): after a 0.08 loss, 1.08 x 0.75 = 0.81. Equity falling to 0.75 is
    below it, so that candle runs the rules and the guard halts (from 0.92, the floor
    would be 0.69 and the drop a calm candle)."""
    strategy = _strategy(
        _closes("ETH/BTC", [0.05] * 5) | _closes("LTC/BTC", [0.05, 0.05, 0.05, 0.025, 0.025])
    )
    loss = _open("ETH/BTC", stake=0.4, rate=0.05, now=FIRST - STEP)
    loss.close_rate, loss.close_date, loss.is_open = 0.04, FIRST, False
    loss.close_profit_abs = loss.calc_profit(0.04)
    LocalTrade.close_bt_trade(loss)
    _open("LTC/BTC", stake=0.5, rate=0.05, now=FIRST)
    runtime = strategy.guard_runtime

    for index in range(3):
        strategy.bot_loop_start(current_time=FIRST + index * STEP)
    assert runtime.guard.state.state is RiskState.ACTIVE
    assert runtime.trades.realised_today == pytest.approx(-0.08)

    strategy.bot_loop_start(current_time=FIRST + 3 * STEP)  # LTC at 0.025: equity 0.75
    assert runtime.guard.state.state is RiskState.HALTED
