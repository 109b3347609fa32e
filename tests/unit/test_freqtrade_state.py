"""Test isolation of Freqtrade's persistence globals (tests/freqtrade_state.py)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from freqtrade.persistence import LocalTrade, PairLocks, Trade, init_db
from freqtrade.persistence.custom_data import CustomDataWrapper

from tests import freqtrade_state
from tests.helpers import REPO_ROOT


def _closed_trade() -> LocalTrade:
    trade = LocalTrade(
        pair="ETH/BTC",
        stake_amount=0.01,
        open_rate=0.05,
        amount=0.2,
        fee_open=0.001,
        fee_close=0.001,
        open_date=datetime(2018, 1, 12, tzinfo=UTC),
        is_open=False,
        exchange="binance",
    )
    trade.close_date = datetime(2018, 1, 12, 1, tzinfo=UTC)
    return trade


def test_restore_when_test_left_backtest_mode_then_database_mode_and_sessions_back() -> None:
    """A test that opened a database and "cleaned up" into backtest mode leaves no trace."""
    freqtrade_state.restore(None)  # the import-time state: database mode, no session
    saved = freqtrade_state.save()

    init_db("sqlite://")
    Trade.use_db = False
    PairLocks.use_db = False
    PairLocks.timeframe = "5m"
    CustomDataWrapper.use_db = False
    freqtrade_state.restore(saved)

    assert (Trade.use_db, PairLocks.use_db, CustomDataWrapper.use_db) == (True, True, True)
    assert PairLocks.timeframe == ""
    assert "session" not in Trade.__dict__


def test_restore_when_session_existed_before_then_that_session_back() -> None:
    """A test that replaced an earlier test's database gets the earlier one back."""
    init_db("sqlite://")
    before = Trade.session
    saved = freqtrade_state.save()

    init_db("sqlite://")
    freqtrade_state.restore(saved)

    assert Trade.session is before


def test_restore_when_backtest_lists_changed_in_place_then_contents_back() -> None:
    """Trades appended to (or lists swapped out of) LocalTrade are gone after the test."""
    LocalTrade.reset_trades()
    trades = LocalTrade.bt_trades
    saved = freqtrade_state.save()

    LocalTrade.bt_trades.append(_closed_trade())
    LocalTrade.bt_open_open_trade_count = 3
    freqtrade_state.restore(saved)
    appended_then_restored = list(LocalTrade.bt_trades)
    LocalTrade.reset_trades()
    freqtrade_state.restore(saved)

    assert appended_then_restored == []
    assert LocalTrade.bt_trades is trades
    assert LocalTrade.bt_open_open_trade_count == 0


def test_save_when_freqtrade_not_loaded_then_none_and_nothing_imported() -> None:
    """Tests without Freqtrade never pay for importing it (nor do mutation runs)."""
    code = (
        "import sys; from tests import freqtrade_state as s; "
        "assert s.save() is None; s.restore(None); "
        "assert 'freqtrade' not in sys.modules, 'imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
