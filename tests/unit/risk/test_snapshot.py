"""Account snapshots (app/risk/snapshot.py): derived totals and the UTC day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from app.risk.snapshot import OpenPosition, utc_midnight
from tests.unit.risk.builders import MIDNIGHT, NEXT_MIDNIGHT, NOW, account


def test_build_when_positions_given_then_stake_summed_per_pair_and_total() -> None:
    """Stake per pair and in total are derived once, at build time."""
    acct = account(
        positions=(
            OpenPosition("ETH/BTC", 10.0),
            OpenPosition("ETH/BTC", 5.0),
            OpenPosition("LTC/BTC", 2.5),
        )
    )
    assert acct.stake_by_pair == {"ETH/BTC": 15.0, "LTC/BTC": 2.5}
    assert acct.open_stake_total == 17.5


def test_equity_when_unrealised_unknown_then_none() -> None:
    """Equity is wallet + unrealised, unknown when a price is missing."""
    assert account(wallet=100.0, unrealised=-5.0).equity == 95.0
    assert account(unrealised=None).equity is None


def test_day_start_equity_when_realised_today_then_subtracted() -> None:
    """The day's start is reconstructed from the wallet and today's realised PnL."""
    assert account(wallet=1000.0, realised_today=-40.0).day_start_equity == 1040.0


def test_same_day_when_crossing_midnight_then_false() -> None:
    """The snapshot's day runs from 00:00 UTC to the next 00:00 (exclusive)."""
    acct = account()
    assert acct.day_start == MIDNIGHT
    assert acct.same_day(NOW)
    assert acct.same_day(NEXT_MIDNIGHT - timedelta(microseconds=1))
    assert not acct.same_day(NEXT_MIDNIGHT)


def test_utc_midnight_when_other_timezone_then_utc_day() -> None:
    """Days are UTC days whatever the input's offset."""
    tokyo = datetime(2025, 8, 18, 7, 0, tzinfo=timezone(timedelta(hours=9)))  # 22:00 UTC, 17th
    assert utc_midnight(tokyo) == datetime(2025, 8, 17, tzinfo=UTC)
