"""What the rules see: an account snapshot and, for an entry, the proposed order.

Rules are pure functions of these values and ``now``; they never open a database,
read a file or look at the clock. The strategy adapter (``app/risk/runtime.py``) builds
the snapshot from Freqtrade's trades, wallet and candles.

Money is in the stake currency. ``wallet`` is Freqtrade's tradable capital *including*
the stake tied up in open trades (``Wallets.get_total_stake_amount``), so exposure
ratios do not grow as trades are opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from app.circuit_breaker import BreakerState

ONE_DAY = timedelta(days=1)
# Fixed zero-offset zones: a midnight may keep such a tzinfo instead of datetime.UTC.
_UTC_KEYS = frozenset({"UTC", "Etc/UTC"})


def is_utc(zone: tzinfo | None) -> bool:
    """True for ``datetime.UTC`` and the IANA UTC zones (fixed zero offset)."""
    return zone is UTC or (isinstance(zone, ZoneInfo) and zone.key in _UTC_KEYS)


def utc_midnight(moment: datetime) -> datetime:
    """00:00 UTC of the day ``moment`` falls on.

    In ``moment``'s own tzinfo when that is a UTC zone (Freqtrade's backtest candle times
    carry ``ZoneInfo('UTC')``): the same instant, but comparing two datetimes whose
    tzinfo is the same object costs about a ninth of comparing ``ZoneInfo('UTC')`` with
    ``datetime.UTC`` (the guard compares ``now`` with the day's bounds on every candle).
    """
    if not is_utc(moment.tzinfo):
        moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


class DayClock:
    """``utc_midnight`` with the current day cached (two comparisons per call)."""

    __slots__ = ("end", "start")

    def __init__(self) -> None:
        self.start: datetime | None = None
        self.end: datetime | None = None

    def day(self, now: datetime) -> datetime:
        """00:00 UTC of ``now``'s day."""
        start, end = self.start, self.end
        if start is None or end is None or not start <= now < end:
            start = self.start = utc_midnight(now)
            self.end = start + ONE_DAY
        return start


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """One open trade, reduced to what the rules need."""

    pair: str
    stake: float
    is_short: bool = False
    leverage: float = 1.0


@dataclass(frozen=True, slots=True)
class Candle:
    """The last *closed* candle of a pair: its open time and close price."""

    date: datetime
    close: float


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account at ``taken_at``. Build with :meth:`build` (it derives the totals).

    ``unrealised`` is None when some open trade has no price: rules that need equity
    then refuse (fail closed). ``day_start`` is 00:00 UTC of the snapshot's day; rules
    compare it with ``now`` so a snapshot from yesterday never halts today.
    """

    taken_at: datetime
    breaker: BreakerState
    wallet: float
    realised_today: float
    unrealised: float | None
    day_start: datetime
    day_peak_equity: float | None
    loss_streak: int
    last_loss_at: datetime | None
    open_positions: tuple[OpenPosition, ...] = ()
    open_stake_total: float = 0.0
    stake_by_pair: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        taken_at: datetime,
        breaker: BreakerState,
        wallet: float,
        open_positions: Iterable[OpenPosition] = (),
        realised_today: float = 0.0,
        unrealised: float | None = 0.0,
        day_peak_equity: float | None = None,
        loss_streak: int = 0,
        last_loss_at: datetime | None = None,
        day_start: datetime | None = None,
    ) -> AccountSnapshot:
        """Create a snapshot, summing stakes per pair and in total."""
        positions = tuple(open_positions)
        by_pair: dict[str, float] = {}
        for pos in positions:
            by_pair[pos.pair] = by_pair.get(pos.pair, 0.0) + pos.stake
        return cls(
            taken_at=taken_at,
            breaker=breaker,
            wallet=wallet,
            realised_today=realised_today,
            unrealised=unrealised,
            day_start=day_start or utc_midnight(taken_at),
            day_peak_equity=day_peak_equity,
            loss_streak=loss_streak,
            last_loss_at=last_loss_at,
            open_positions=positions,
            open_stake_total=sum(by_pair.values()),
            stake_by_pair=by_pair,
        )

    @property
    def equity(self) -> float | None:
        """Wallet plus unrealised PnL of open trades; None when a price is missing."""
        if self.unrealised is None:
            return None
        return self.wallet + self.unrealised

    @property
    def day_start_equity(self) -> float:
        """Equity at 00:00 UTC at cost: the wallet minus what was realised since then.

        Reconstructed from closed trades, so a restart during the day keeps the day's
        losses. Unrealised PnL at midnight is not included (documented in the RUNBOOK).
        """
        return self.wallet - self.realised_today

    def same_day(self, now: datetime) -> bool:
        """True while ``now`` is on the snapshot's UTC day (daily limits reset at 00:00)."""
        return self.day_start <= now < self.day_start + ONE_DAY


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """A proposed entry, as Freqtrade is about to place it.

    ``stake`` is the margin (``amount * rate / leverage``); ``stoploss`` the strategy's
    stoploss ratio (negative, relative to the leveraged position as in Freqtrade).
    """

    pair: str
    side: str
    rate: float
    stake: float
    timeframe_sec: int
    leverage: float = 1.0
    stoploss: float | None = None
    liquidation_price: float | None = None
    min_stake: float | None = None


@dataclass(frozen=True, slots=True)
class GuardContext:
    """The input of a rule. ``entry`` is None when the guard evaluates the account state;
    ``candle`` (the entry pair's last closed candle) is looked up only for the rules that
    need it (:attr:`Rule.needs_candle`), after every other rule passed."""

    account: AccountSnapshot
    entry: EntryRequest | None = None
    candle: Candle | None = None
