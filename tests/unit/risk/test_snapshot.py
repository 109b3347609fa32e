"""Account snapshots (app/risk/snapshot.py): derived totals and the UTC day."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.risk.snapshot import (
    AccountSnapshot,
    Candle,
    DayClock,
    EntryRequest,
    GuardContext,
    OpenPosition,
    utc_midnight,
)
from tests.unit.risk.builders import MIDNIGHT, NEXT_MIDNIGHT, NOW, account, breaker


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


def test_same_day_when_exactly_midnight_then_true() -> None:
    """00:00 UTC itself belongs to the new day (the start is inclusive)."""
    assert account().same_day(MIDNIGHT)
    assert not account().same_day(MIDNIGHT - timedelta(microseconds=1))


def test_build_when_day_start_given_then_kept_instead_of_taken_at_midnight() -> None:
    """An explicit day start (the runtime's cached day) wins over the snapshot's own day."""
    yesterday = MIDNIGHT - timedelta(days=1)

    acct = account(day_start=yesterday)

    assert acct.day_start == yesterday
    assert not acct.same_day(NOW)


def test_build_when_only_wallet_given_then_nothing_realised_open_or_losing() -> None:
    """Defaults: no PnL today, no open trade, no streak, no peak sampled yet."""
    acct = account()

    assert (acct.realised_today, acct.unrealised, acct.equity) == (0.0, 0.0, 1000.0)
    assert (acct.loss_streak, acct.last_loss_at, acct.day_peak_equity) == (0, None, None)
    assert (acct.open_positions, acct.open_stake_total, acct.stake_by_pair) == ((), 0, {})


def test_position_and_entry_when_not_stated_then_long_unleveraged_and_bare() -> None:
    """A position is long at leverage 1; an entry has no stoploss, liquidation or minimum
    until the caller sets them; a context has no entry or candle until given them."""
    position = OpenPosition("ETH/BTC", 10.0)
    ent = EntryRequest(pair="ETH/BTC", side="long", rate=1.0, stake=1.0, timeframe_sec=300)

    assert (position.is_short, position.leverage) == (False, 1.0)
    assert ent.leverage == 1.0
    assert (ent.stoploss, ent.liquidation_price, ent.min_stake) == (None,) * 3
    assert (GuardContext(account()).entry, GuardContext(account(), ent).candle) == (None, None)


@pytest.mark.parametrize(
    "value",
    [
        OpenPosition("ETH/BTC", 1.0),
        Candle(NOW, 1.0),
        EntryRequest(pair="ETH/BTC", side="long", rate=1.0, stake=1.0, timeframe_sec=300),
        GuardContext(AccountSnapshot.build(taken_at=NOW, breaker=breaker(), wallet=1.0)),
        AccountSnapshot.build(taken_at=NOW, breaker=breaker(), wallet=1.0),
    ],
    ids=lambda value: type(value).__name__,
)
def test_values_when_assigned_then_refused(value: object) -> None:
    """Snapshots are frozen: a rule cannot change what the next rule sees."""
    field = next(iter(dataclasses.fields(value)))  # type: ignore[arg-type]

    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field.name, None)


def test_day_clock_when_same_day_then_cached_day_returned() -> None:
    """Within a day the clock returns its cached midnight (no recomputation per candle)."""
    clock = DayClock()
    first = clock.day(NOW)

    assert first == MIDNIGHT
    assert (clock.start, clock.end) == (MIDNIGHT, NEXT_MIDNIGHT)
    assert clock.day(MIDNIGHT) is first
    assert clock.day(NEXT_MIDNIGHT - timedelta(microseconds=1)) is first


@pytest.mark.parametrize(
    "moment", [NEXT_MIDNIGHT, NEXT_MIDNIGHT + timedelta(hours=30), MIDNIGHT - timedelta(hours=1)]
)
def test_day_clock_when_day_changes_either_way_then_new_midnight(moment: datetime) -> None:
    """At the next 00:00 (inclusive), days later, or back in time, the day is recomputed."""
    clock = DayClock()
    clock.day(NOW)

    assert clock.day(moment) == utc_midnight(moment)
    assert clock.end == utc_midnight(moment) + timedelta(days=1)


def test_same_day_when_days_later_then_false() -> None:
    """Any moment after the day, not only the next midnight, is another day."""
    assert not account().same_day(NEXT_MIDNIGHT + timedelta(days=2, hours=1))


def test_build_when_called_with_positions_then_type_error() -> None:
    """``build`` takes keywords only: a wallet can never be passed where the PnL goes."""
    with pytest.raises(TypeError):
        AccountSnapshot.build(NOW, breaker(), 1000.0)  # type: ignore[call-arg]


def test_snapshot_when_constructed_directly_then_no_open_stake() -> None:
    """Built without :meth:`build` and without positions, the derived totals are empty."""
    acct = AccountSnapshot(
        taken_at=NOW,
        breaker=breaker(),
        wallet=1000.0,
        realised_today=0.0,
        unrealised=0.0,
        day_start=MIDNIGHT,
        day_peak_equity=None,
        loss_streak=0,
        last_loss_at=None,
    )

    assert (acct.open_positions, acct.open_stake_total, acct.stake_by_pair) == ((), 0.0, {})


# Freqtrade's backtest times carry ZoneInfo("UTC"); the others must still work.
_ZONES = [
    UTC,
    ZoneInfo("UTC"),
    ZoneInfo("Etc/UTC"),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(0)),  # datetime.UTC itself (the same object)
    timezone(timedelta(0), "Z"),  # zero offset and equal to UTC, yet another zone object
    ZoneInfo("Europe/London"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Pacific/Kiritimati"),
]
_moments = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001  # hypothesis takes naive bounds
    max_value=datetime(2040, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from(_ZONES),
)


def _old_midnight(moment: datetime) -> datetime:
    """utc_midnight as it was before it kept the caller's UTC tzinfo."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@given(moment=_moments)
def test_utc_midnight_when_any_zone_then_same_instant_as_datetime_utc_midnight(
    moment: datetime,
) -> None:
    """Same instant and zero offset whatever the zone; a UTC zone's tzinfo is kept."""
    midnight = utc_midnight(moment)

    assert midnight == _old_midnight(moment)
    assert midnight.utcoffset() == timedelta(0)
    assert (midnight.hour, midnight.minute, midnight.second, midnight.microsecond) == (0, 0, 0, 0)
    if any(moment.tzinfo is zone for zone in (UTC, ZoneInfo("UTC"), ZoneInfo("Etc/UTC"))):
        assert midnight.tzinfo is moment.tzinfo  # the fast same-tzinfo comparisons
    else:
        assert midnight.tzinfo is UTC


@given(moments=st.lists(_moments, min_size=1, max_size=30))
def test_day_clock_when_times_in_any_zone_then_decides_as_datetime_utc_bounds(
    moments: list[datetime],
) -> None:
    """The clock's day and bounds decide every comparison as datetime.UTC bounds would."""
    clock = DayClock()
    for moment in moments:
        day = clock.day(moment)
        old = _old_midnight(moment)
        assert day == old
        assert clock.start is not None
        assert clock.end is not None
        assert (clock.start <= moment < clock.end) is (old <= moment < old + timedelta(days=1))
        for other in moments:
            assert (day <= other) is (old <= other)
            assert (other < clock.end) is (other < old + timedelta(days=1))
