"""DrillStrategy: enters whenever flat, leaves after HOLD_SECONDS, re-enters next loop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from freqtrade.persistence import LocalTrade, PairLocks

from app.drill.strategies.drill_strategy import HOLD_SECONDS, DrillStrategy
from app.strategies import GuardedStrategy

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def strategy() -> Iterator[DrillStrategy]:
    PairLocks.use_db = False
    PairLocks.timeframe = "1m"
    PairLocks.reset_locks()
    yield DrillStrategy({"timeframe": "1m", "stake_currency": "BTC"})
    PairLocks.reset_locks()
    PairLocks.use_db = True


def test_strategy_when_loaded_then_guarded_with_exit_callbacks(strategy: DrillStrategy) -> None:
    """The drill strategy goes through the guard; exit signals are on (Freqtrade asks
    custom_exit only then)."""
    assert isinstance(strategy, GuardedStrategy)
    assert strategy.use_exit_signal is True


def test_entry_when_candle_has_volume_then_signal_else_none(strategy: DrillStrategy) -> None:
    """Every candle with volume signals an entry; filled-in gaps (no volume) do not."""
    frame = pd.DataFrame({"close": [1.0, 1.0, 1.0], "volume": [5.0, 0.0, 2.0]})
    out = strategy.populate_entry_trend(frame, {"pair": "A/BTC"})
    assert out["enter_long"].fillna(0).tolist() == [1, 0, 1]


def test_exit_when_held_long_enough_then_custom_exit(strategy: DrillStrategy) -> None:
    """A trade is left HOLD_SECONDS after it opened, not before."""
    trade = LocalTrade(pair="A/BTC", open_date=NOW, open_rate=1.0, amount=1.0, stake_amount=1.0,
                       fee_open=0.0, fee_close=0.0, exchange="binance")  # fmt: skip
    early = NOW + timedelta(seconds=HOLD_SECONDS - 0.5)
    late = NOW + timedelta(seconds=HOLD_SECONDS)
    assert strategy.custom_exit("A/BTC", trade, early, 1.0, 0.0) is None
    assert strategy.custom_exit("A/BTC", trade, late, 1.0, 0.0) == "drill_exit"


def test_loop_start_when_pair_auto_locked_then_released_but_protection_lock_kept(
    strategy: DrillStrategy,
) -> None:
    """Freqtrade's one-candle "Auto lock" after an exit is lifted at the next loop; a lock
    with another reason (a protection) stays. (Freqtrade's unlock reads the wall clock.)"""
    now = datetime.now(UTC)
    strategy.lock_pair("A/BTC", now + timedelta(minutes=5), reason="Auto lock")
    strategy.lock_pair("B/BTC", now + timedelta(minutes=5), reason="StoplossGuard")
    assert strategy.is_pair_locked("A/BTC", candle_date=now)

    strategy.on_bot_loop_start(current_time=now)

    assert not strategy.is_pair_locked("A/BTC", candle_date=now)
    assert strategy.is_pair_locked("B/BTC", candle_date=now)
