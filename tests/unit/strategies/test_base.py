"""GuardedStrategy (app/strategies/base.py): hooks, fail-closed callbacks, pickling.

The strategies are real Freqtrade strategies with a real DataProvider and Freqtrade's own
trade lists. Only the wallet is a stand-in (``FixedWallets``): Freqtrade's ``Wallets``
needs an exchange with markets, which the integration backtests provide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType, RunMode
from freqtrade.persistence import LocalTrade, Trade, init_db

from app.errors import ConfigError
from app.strategies import GUARDED_CALLBACKS, GuardedStrategy
from tests.strategies.churn_strategies import (
    ChurnLogic,
    ExplodingGuardStrategy,
    GuardedChurnStrategy,
)
from tests.unit.risk.conftest import LogReader

NOW = datetime(2018, 1, 12, 12, 0, tzinfo=UTC)


class FixedWallets:
    """Stands in for Freqtrade's Wallets: the guard only asks for the tradable total."""

    def __init__(self, total: float) -> None:
        self.total = total

    def get_total_stake_amount(self) -> float:
        return self.total


class HookedStrategy(GuardedChurnStrategy):
    """Records hook calls; behaviour switchable per test."""

    hook_answer: Any = True

    def confirm_entry(self, **kwargs: Any) -> bool:
        self.confirm_calls = getattr(self, "confirm_calls", 0) + 1
        if isinstance(self.hook_answer, Exception):
            raise self.hook_answer
        return bool(self.hook_answer)

    def propose_stake_amount(self, **kwargs: Any) -> float:
        if isinstance(self.hook_answer, Exception):
            raise self.hook_answer
        return float(kwargs["proposed_stake"])

    def propose_leverage(self, **kwargs: Any) -> float:
        if isinstance(self.hook_answer, Exception):
            raise self.hook_answer
        return 10.0


def _config(runmode: RunMode) -> dict[str, Any]:
    return {
        "runmode": runmode,
        "timeframe": "5m",
        "stake_currency": "BTC",
        "candle_type_def": CandleType.SPOT,
        "dataformat_ohlcv": "feather",
        "datadir": Path(),
        "timerange": None,
    }


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean working directory and no RISK_* variables from the outside."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("RISK_", "TRADINGBOT_")):
            monkeypatch.delenv(name)
    LocalTrade.reset_trades()
    yield monkeypatch
    LocalTrade.reset_trades()


def _start(cls: type[GuardedStrategy], runmode: RunMode = RunMode.BACKTEST) -> Any:
    strategy = cls(_config(runmode))
    strategy.dp = DataProvider(_config(runmode), None)
    strategy.wallets = FixedWallets(1.0)
    strategy.bot_start()
    return strategy


def _confirm(strategy: Any, *, amount: float = 0.2, rate: float = 0.05) -> bool:
    return bool(
        strategy.confirm_trade_entry(
            pair="ETH/BTC",
            order_type="limit",
            amount=amount,
            rate=rate,
            time_in_force="GTC",
            current_time=NOW,
            entry_tag=None,
            side="long",
        )
    )


def _stake(strategy: Any, proposed: float, min_stake: float | None = 0.001) -> float:
    return float(
        strategy.custom_stake_amount(
            pair="ETH/BTC",
            current_time=NOW,
            current_rate=0.05,
            proposed_stake=proposed,
            min_stake=min_stake,
            max_stake=1.0,
            leverage=1.0,
            entry_tag=None,
            side="long",
        )
    )


def _leverage(strategy: Any) -> float:
    return float(
        strategy.leverage(
            pair="ETH/BTC",
            current_time=NOW,
            current_rate=0.05,
            proposed_leverage=1.0,
            max_leverage=20.0,
            entry_tag=None,
            side="long",
        )
    )


@pytest.mark.parametrize("callback", sorted(GUARDED_CALLBACKS))
def test_subclass_when_overriding_guarded_callback_then_type_error(callback: str) -> None:
    """A strategy cannot bypass the guard by overriding one of its callbacks."""
    with pytest.raises(TypeError, match=GUARDED_CALLBACKS[callback]):
        type("Sneaky", (ChurnLogic, GuardedStrategy), {callback: lambda self, **kw: True})


@pytest.mark.usefixtures("env")
def test_callbacks_when_guard_never_started_then_entries_refused(risk_log: LogReader) -> None:
    """Without bot_start there is no guard: refuse (False / 0 / leverage 1) and say so."""
    strategy = GuardedChurnStrategy(_config(RunMode.BACKTEST))
    assert _confirm(strategy) is False
    assert _stake(strategy, 0.05) == 0.0
    assert _leverage(strategy) == 1.0
    assert any(r["message"] == "guard_error" for r in risk_log())


def test_bot_start_when_setting_bad_then_config_error(env: pytest.MonkeyPatch) -> None:
    """A bad RISK_* value stops the bot at start (Freqtrade wraps it and exits)."""
    env.setenv("RISK_MAX_POSITION_PCT", "lots")
    with pytest.raises(ConfigError, match="RISK_MAX_POSITION_PCT='lots'"):
        _start(GuardedChurnStrategy)


class LoopHookStrategy(GuardedChurnStrategy):
    """Implements the loop hook; records each call."""

    def on_bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        self.loop_calls = [*getattr(self, "loop_calls", []), (current_time, kwargs)]


@pytest.mark.usefixtures("env")
def test_bot_loop_start_when_hook_implemented_then_called_after_the_guard() -> None:
    """A subclass's on_bot_loop_start gets every loop with Freqtrade's arguments."""
    strategy = _start(LoopHookStrategy)
    strategy.bot_loop_start(current_time=NOW, extra="x")
    strategy.bot_loop_start(current_time=NOW.replace(hour=13))
    assert strategy.loop_calls == [(NOW, {"extra": "x"}), (NOW.replace(hour=13), {})]


def test_confirm_when_guard_allows_then_hook_decides(env: pytest.MonkeyPatch) -> None:
    """The subclass hook runs only after the guard allowed, and can still say no."""
    strategy = _start(HookedStrategy)
    assert _confirm(strategy) is True
    strategy.hook_answer = False
    assert _confirm(strategy) is False
    assert strategy.confirm_calls == 2


def test_confirm_when_guard_refuses_then_hook_not_called(env: pytest.MonkeyPatch) -> None:
    """A refused entry never reaches the strategy's own confirmation."""
    env.setenv("RISK_LIVE_MAX_CONCURRENT_TRADES", "1")
    strategy = _start(HookedStrategy)
    LocalTrade.add_bt_trade(
        LocalTrade(
            pair="LTC/BTC",
            stake_amount=0.01,
            open_rate=0.01,
            amount=1.0,
            fee_open=0.0,
            fee_close=0.0,
            open_date=NOW,
            is_open=True,
            exchange="binance",
        )
    )
    assert _confirm(strategy) is False
    assert getattr(strategy, "confirm_calls", 0) == 0
    assert strategy.guard_runtime.guard.refusals == {"MAX_CONCURRENT_TRADES": 1}


@pytest.mark.usefixtures("env")
def test_confirm_when_hook_raises_then_refused_with_guard_error(risk_log: LogReader) -> None:
    """Freqtrade would allow an entry whose confirmation raised; the base class refuses."""
    strategy = _start(HookedStrategy)
    strategy.hook_answer = RuntimeError("strategy bug")
    assert _confirm(strategy) is False
    errors = [r for r in risk_log() if r["message"] == "guard_error"]
    assert "strategy bug" in errors[0]["detail"]


@pytest.mark.usefixtures("env")
def test_confirm_when_guard_itself_raises_then_refused() -> None:
    """A guard forced to raise (a rule with a bug) refuses every entry."""
    strategy = _start(ExplodingGuardStrategy)
    assert _confirm(strategy) is False
    assert strategy.guard_runtime.guard.refusals == {"GUARD_ERROR": 1}


@pytest.mark.usefixtures("env")
def test_confirm_when_snapshot_cannot_be_built_then_refused() -> None:
    """An exception outside the rules (here: the wallet) refuses too."""
    strategy = _start(GuardedChurnStrategy)
    strategy.wallets = None  # Freqtrade never does this; any failure will do
    assert _confirm(strategy) is False
    assert _stake(strategy, 0.05) == 0.0


def test_stake_when_above_position_cap_then_trimmed(env: pytest.MonkeyPatch) -> None:
    """custom_stake_amount returns the hook's stake cut to RISK_MAX_POSITION_PCT x wallet."""
    env.setenv("RISK_MAX_POSITION_PCT", "0.02")
    strategy = _start(HookedStrategy)
    assert _stake(strategy, 0.05) == pytest.approx(0.02)
    assert _stake(strategy, 0.01) == pytest.approx(0.01)
    assert _stake(strategy, 0.05, min_stake=0.03) == 0.0  # trimmed below the minimum
    strategy.hook_answer = ValueError("no stake for you")
    assert _stake(strategy, 0.05) == 0.0


def test_leverage_when_above_cap_then_capped(env: pytest.MonkeyPatch) -> None:
    """leverage() returns the hook's proposal capped at RISK_MAX_LEVERAGE; 1 on error."""
    env.setenv("RISK_MAX_LEVERAGE", "3")
    strategy = _start(HookedStrategy)
    assert _leverage(strategy) == 3.0
    strategy.hook_answer = RuntimeError("bad")
    assert _leverage(strategy) == 1.0


def test_confirm_when_dry_run_and_breaker_file_corrupt_then_refused(
    env: pytest.MonkeyPatch, tmp_path: Path, risk_log: LogReader
) -> None:
    """Live/dry-run reads the real breaker file: a corrupt one refuses entries."""
    init_db("sqlite://")
    try:
        env.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
        (tmp_path / "state").mkdir()
        (tmp_path / "state" / "circuit_breaker.json").write_text('{"active": tru')
        strategy = _start(GuardedChurnStrategy, RunMode.DRY_RUN)
        assert _confirm(strategy) is False
        refused = [r for r in risk_log() if r["message"] == "entry_refused"]
        assert refused[0]["reason"] == "CIRCUIT_BREAKER"
        assert "not valid JSON" in refused[0]["detail"]
        (tmp_path / "state" / "circuit_breaker.json").write_text('{"active": false}')
        assert _confirm(strategy) is True
    finally:
        Trade.session.remove()
        Trade.use_db = False


@pytest.mark.usefixtures("env")
def test_strategy_when_pickled_like_hyperopt_then_copy_still_guards() -> None:
    """Hyperopt sends the strategy to workers with cloudpickle; the guard travels along."""
    strategy = _start(ExplodingGuardStrategy)
    copy = cloudpickle.loads(cloudpickle.dumps(strategy))
    assert copy.guard_runtime is not None
    assert _confirm(copy) is False
    assert copy.guard_runtime.guard.refusals == {"GUARD_ERROR": 1}


@pytest.mark.usefixtures("env")
def test_confirm_when_even_error_reporting_fails_then_still_refused() -> None:
    """If recording the GUARD_ERROR itself raises, the entry is refused all the same."""
    strategy = _start(GuardedChurnStrategy)
    runtime = strategy.guard_runtime

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError("disk full")

    runtime.confirm = broken
    runtime.stake = broken
    runtime.guard.fail = broken
    assert _confirm(strategy) is False
    assert _stake(strategy, 0.05) == 0.0
