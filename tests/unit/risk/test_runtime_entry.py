"""GuardRuntime's entry side (app/risk/runtime.py): ``stake``, ``confirm`` and the
liquidation estimate it hands the near-liquidation rule.

Real strategies, a real DataProvider and Freqtrade's own trade lists. Two stand-ins:
the wallet (Freqtrade's ``Wallets`` needs an exchange with markets) and, for the
liquidation tests, the exchange's ``dry_run_liquidation_price`` (it needs the exchange's
leverage tiers from the network); the stand-in records what the runtime asks it, which is
what these tests check: Freqtrade's formula gets the inputs ``update_liquidation_prices``
would give it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType, RunMode
from freqtrade.persistence import LocalTrade, Trade, init_db

from app.risk.decision import Reason
from app.risk.runtime import GuardRuntime
from tests.strategies.churn_strategies import GuardedChurnStrategy, LeveragedChurnStrategy

NOW = datetime(2018, 1, 12, 12, 0, tzinfo=UTC)
PAIR = "ETH/BTC"
RATE = 0.1


class Wallets:
    """Freqtrade's ``Wallets`` as the guard reads it: the tradable total and collateral."""

    def __init__(self, total: float = 1.0, collateral: float = 0.75) -> None:
        self.total = total
        self.collateral = collateral

    def get_total_stake_amount(self) -> float:
        return self.total

    def get_collateral(self) -> float:
        return self.collateral


class LiquidationDesk:
    """The exchange's ``dry_run_liquidation_price``: answers ``price`` and records calls."""

    def __init__(self, price: float | None) -> None:
        self.price = price
        self.calls: list[dict[str, Any]] = []

    def dry_run_liquidation_price(self, **kwargs: Any) -> float | None:
        self.calls.append(kwargs)
        return self.price


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean working directory, no RISK_* variables from outside, empty trade lists."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("RISK_", "TRADINGBOT_")):
            monkeypatch.delenv(name)
    LocalTrade.reset_trades()
    yield monkeypatch
    LocalTrade.reset_trades()


def _runtime(
    cls: type[Any] = GuardedChurnStrategy,
    runmode: RunMode = RunMode.BACKTEST,
    **config: Any,
) -> GuardRuntime:
    full = {
        "runmode": runmode,
        "timeframe": "5m",
        "stake_currency": "BTC",
        "candle_type_def": CandleType.SPOT,
        "dataformat_ohlcv": "feather",
        "datadir": Path(),
        "timerange": None,
    } | config
    strategy = cls(full)
    strategy.dp = DataProvider(full, None)
    strategy.wallets = Wallets()
    strategy.bot_start()
    runtime = strategy.guard_runtime
    assert runtime is not None
    # As in Freqtrade's loops: bot_loop_start comes first on every candle (in backtests its
    # trade feed refresh starts the run; a later start would forget custom_stake_amount's
    # leverage).
    runtime.on_loop(NOW)
    return runtime


def _stake(runtime: GuardRuntime, leverage: float) -> float:
    return runtime.stake(pair=PAIR, now=NOW, proposed=0.1, min_stake=None, leverage=leverage)


def _confirm(runtime: GuardRuntime, amount: float, side: str = "long") -> Any:
    return runtime.confirm(pair=PAIR, side=side, amount=amount, rate=RATE, now=NOW)


def _short() -> str:
    """The word short built at run time, not the interned literal (``is`` would differ)."""
    return "".join(["sh", "ort"])


# -- THE STAKE OF THE ORDER -------------------------------------------------------------


@pytest.mark.parametrize(("amount", "allowed"), [(8.0, True), (12.0, False)])
def test_confirm_when_stake_asked_with_leverage_then_margin_counts_not_notional(
    env: pytest.MonkeyPatch, amount: float, allowed: bool
) -> None:
    """After custom_stake_amount at 2x, an order of notional 0.8 (1.2) uses 0.4 (0.6) of a
    wallet of 1 in margin: within (beyond) a 50 % exposure cap."""
    env.setenv("RISK_MAX_EXPOSURE_PCT", "0.5")
    runtime = _runtime()
    _stake(runtime, leverage=2.0)
    decision = _confirm(runtime, amount)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.TOTAL_EXPOSURE


def test_confirm_when_no_stake_asked_before_then_leverage_one(env: pytest.MonkeyPatch) -> None:
    """Without custom_stake_amount first (or after its leverage was used once) the order
    counts at leverage 1: notional 0.8 is beyond a 50 % exposure cap."""
    env.setenv("RISK_MAX_EXPOSURE_PCT", "0.5")
    runtime = _runtime()
    assert _confirm(runtime, 8.0).reason is Reason.TOTAL_EXPOSURE
    _stake(runtime, leverage=2.0)
    assert _confirm(runtime, 8.0).allowed
    assert _confirm(runtime, 8.0).reason is Reason.TOTAL_EXPOSURE  # the 2x was used up


# -- THE LIQUIDATION ESTIMATE -----------------------------------------------------------


def _leveraged(env: pytest.MonkeyPatch, desk: LiquidationDesk, **config: Any) -> GuardRuntime:
    """LeveragedChurnStrategy (stoploss -0.3) with the near-liquidation rule at 1x the stop
    distance: at 5x the stop is 6 % away, so liquidation must be at least 6 % away."""
    env.setenv("RISK_NEAR_LIQ_BUFFER_MULTIPLIER", "1")
    runtime = _runtime(LeveragedChurnStrategy, **config)
    runtime.strategy.dp._exchange = desk
    return runtime


@pytest.mark.parametrize(
    ("side", "price", "allowed"),
    [
        ("long", RATE * 0.5, True),
        ("long", RATE * 0.97, False),
        ("short", RATE * 1.5, True),
        ("short", RATE * 1.03, False),
        ("long", None, False),  # no estimate: refused as unknown
    ],
)
def test_confirm_when_leveraged_then_rule_judges_freqtrades_liquidation_price(
    env: pytest.MonkeyPatch, side: str, price: float | None, allowed: bool
) -> None:
    """A 5x entry is judged on the price Freqtrade's dry-run formula gives."""
    desk = LiquidationDesk(price)
    runtime = _leveraged(env, desk)
    _stake(runtime, leverage=5.0)
    decision = _confirm(runtime, 2.0, _short() if side == "short" else "long")
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.NEAR_LIQUIDATION
    assert len(desk.calls) == 1
    assert desk.calls[0]["is_short"] is (side == "short")


@pytest.mark.parametrize("margin_mode", [None, "isolated"])
def test_liquidation_when_isolated_margin_then_position_alone_is_the_collateral(
    env: pytest.MonkeyPatch, margin_mode: str | None
) -> None:
    """Isolated margin (also when the config names none): the position's own margin is its
    wallet balance and no other trade counts."""
    desk = LiquidationDesk(RATE * 0.5)
    config = {} if margin_mode is None else {"margin_mode": margin_mode}
    runtime = _leveraged(env, desk, **config)
    _stake(runtime, leverage=5.0)
    assert _confirm(runtime, 2.0).allowed
    call = desk.calls[0]
    assert call == {
        "pair": PAIR,
        "open_rate": RATE,
        "is_short": False,
        "amount": 2.0,
        "stake_amount": pytest.approx(2.0 * RATE / 5.0),
        "leverage": 5.0,
        "wallet_balance": pytest.approx(2.0 * RATE / 5.0),
        "open_trades": [],
    }


def test_liquidation_when_cross_margin_then_all_collateral_and_open_trades_count(
    env: pytest.MonkeyPatch,
) -> None:
    """Cross margin: the whole collateral backs the position and every open trade counts."""
    desk = LiquidationDesk(RATE * 0.5)
    runtime = _leveraged(env, desk, margin_mode="cross")
    other = LocalTrade(
        pair="LTC/BTC",
        open_rate=0.01,
        amount=10.0,
        stake_amount=0.02,
        leverage=5.0,
        fee_open=0.0,
        fee_close=0.0,
        open_date=NOW,
        is_open=True,
        exchange="binance",
    )
    LocalTrade.add_bt_trade(other)
    _stake(runtime, leverage=5.0)
    assert _confirm(runtime, 2.0).allowed
    call = desk.calls[0]
    assert call["wallet_balance"] == 0.75
    assert call["open_trades"] == [other]
    assert call["stake_amount"] == pytest.approx(2.0 * RATE / 5.0)


def test_liquidation_when_not_leveraged_then_not_asked(env: pytest.MonkeyPatch) -> None:
    """At leverage 1 there is no liquidation price to ask for (spot)."""
    desk = LiquidationDesk(RATE * 0.99)
    runtime = _leveraged(env, desk)
    _stake(runtime, leverage=1.0)
    assert _confirm(runtime, 2.0).allowed
    assert desk.calls == []


# -- LIVE: THE CHECK'S DURATION ---------------------------------------------------------


def test_confirm_when_dry_run_then_publisher_gets_the_checks_own_duration(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Dry-run, the loop's and each entry check's durations go to the guard metrics: well
    under a second each (not a time since some other start)."""
    init_db("sqlite://")
    try:
        env.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
        runtime = _runtime(runmode=RunMode.DRY_RUN)
        publisher = runtime.publisher
        assert publisher is not None
        assert _confirm(runtime, 1.0).allowed
        publisher.publish(runtime.guard, None, NOW)
        histogram = publisher.snapshot(NOW.timestamp()).check_seconds
        assert histogram.count == 2  # the loop's check and the entry's
        assert 0.0 <= histogram.total < 1.0
    finally:
        Trade.session.remove()
        Trade.use_db = False
