"""The glue between one Freqtrade strategy instance and the guard.

:class:`GuardRuntime` is created in ``bot_start``. It picks the mode from Freqtrade's run
mode (live/dry-run: the breaker file and incidents; backtest/hyperopt: an in-memory
breaker, quiet logs), builds account snapshots from the trade and price feeds and turns
Freqtrade's callback arguments into guard calls.

Snapshots are rebuilt at each entry callback (trades may have opened or closed since
``bot_loop_start`` in the same loop or candle) and cached while nothing changed, so
``custom_stake_amount`` and ``confirm_trade_entry`` of one entry share one snapshot in a
backtest. Open trades are valued only when a rule needs equity (daily loss cap, daily
drawdown).
"""

from __future__ import annotations

import atexit
import logging
import os
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from time import perf_counter
from typing import Any

from freqtrade.enums import RunMode
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.persistence import LocalTrade

from app.logs import CORRELATION_ID_ENV, RUN_ID_ENV, Event, get_logger, log_event
from app.risk.breaker_view import BreakerView, FileBreakerView, MemoryBreakerView
from app.risk.decision import Decision
from app.risk.feeds import (
    BacktestPriceFeed,
    BacktestTradeFeed,
    LivePriceFeed,
    LiveTradeFeed,
    PriceFeed,
    TradeFeed,
)
from app.risk.guard import Guard, GuardMode
from app.risk.incidents import IncidentSink
from app.risk.publish import GuardPublisher
from app.risk.rules import DailyDrawdownRule, DailyLossCapRule, NearLiquidationRule
from app.risk.snapshot import ONE_DAY, AccountSnapshot, DayClock, EntryRequest, OpenPosition
from app.settings import RiskSettings, load_settings

_log = get_logger("risk.runtime")


@dataclass(frozen=True, slots=True)
class _Pending:
    """What ``custom_stake_amount`` learnt that ``confirm_trade_entry`` is not told."""

    leverage: float
    min_stake: float | None


class _DayPeak:
    """The highest equity sampled since 00:00 UTC."""

    def __init__(self) -> None:
        self.day: datetime | None = None
        self.peak: float | None = None

    def observe(self, day: datetime, equity: float | None) -> float | None:
        if day != self.day:
            self.day, self.peak = day, None
        if equity is not None and (self.peak is None or equity > self.peak):
            self.peak = equity
        return self.peak

    def reset(self) -> None:
        self.day, self.peak = None, None


def guard_mode(runmode: object) -> GuardMode:
    """Live and dry-run are LIVE; hyperopt is HYPEROPT; everything else runs as BACKTEST."""
    if runmode in (RunMode.LIVE, RunMode.DRY_RUN):
        return GuardMode.LIVE
    if runmode == RunMode.HYPEROPT:
        return GuardMode.HYPEROPT
    return GuardMode.BACKTEST


def _final_summary(ref: weakref.ReferenceType[GuardRuntime]) -> None:
    runtime = ref()
    if runtime is not None:
        runtime.final_summary()


class GuardRuntime:
    """One strategy's guard, feeds and bookkeeping."""

    def __init__(
        self,
        strategy: Any,  # a freqtrade IStrategy (untyped for mypy)
        guard: Guard,
        trades: TradeFeed,
        prices: PriceFeed,
        publisher: GuardPublisher | None = None,
    ) -> None:
        self.strategy = strategy
        self.guard = guard
        self.trades = trades
        self.prices = prices
        # Live/dry-run only: the guard's metrics for the exporter (app/risk/publish.py).
        self.publisher = publisher
        self.timeframe_sec = timeframe_to_seconds(strategy.timeframe)
        self.needs_equity = any(
            isinstance(r, DailyLossCapRule | DailyDrawdownRule) for r in guard.rules
        )
        self.live = guard.live
        self.needs_liquidation = any(isinstance(r, NearLiquidationRule) for r in guard.rules)
        self._equity_rules = tuple(
            r for r in guard.rules if r.account_level and r.equity_floor(1.0, 1.0) is not None
        )
        self._day_peak = _DayPeak()
        self._clock = DayClock()
        self._pending: dict[str, _Pending] = {}
        self._loop_key: tuple[int, int, datetime] | None = None
        self._loop_until: datetime | None = None
        self._equity_key: tuple[Any, ...] | None = None
        self._unrealised_value: float | None = 0.0
        self._backtest_feed = trades if isinstance(trades, BacktestTradeFeed) else None
        # (closed-trade list, its length, day start, day end) when the account rules last
        # looked (backtests): while it still holds, only prices can have moved (_steady).
        self._view: tuple[list[Any], int, datetime, datetime] | None = None
        # (until, open trades): no candle before ``until`` can move equity to the day's
        # peak or to a floor while the same trades stay open, proven from the candles
        # ahead (BacktestPriceFeed.calm_until); such candles skip valuing the trades.
        self._calm: tuple[datetime, int] | None = None
        self._calm_feed = prices if isinstance(prices, BacktestPriceFeed) else None
        # (day start, bound, closed-trade list, its length, open-trade list, its length):
        # _steady's last True answer that needed no valuation (no open trades, no equity
        # rule, or a calm block), which holds again while ``now`` is in [day start, bound)
        # and both of Freqtrade's lists stand as they were; the check of nearly every
        # backtest candle, so it reads ``LocalTrade`` itself (no call into the feed).
        self._hold: tuple[datetime, datetime, list[Any], int, Sequence[Any], int] | None = None
        # Backtests skip the account rules on candles where nothing they read changed
        # (see on_loop); False evaluates every candle, the reference the skips must equal
        # (tests/integration/test_guard_equivalence.py). Live never skips.
        self.skip_quiet = not self.live
        self._floor = float("inf")
        self._floor_peak: float | None = None
        self._cache_key: tuple[Any, ...] | None = None
        self._cache: AccountSnapshot | None = None
        self._wallet_key: tuple[int, int, int] | None = None
        self._wallet = 0.0

    @classmethod
    def for_strategy(
        cls,
        strategy: Any,  # a freqtrade IStrategy
        settings: RiskSettings | None = None,
    ) -> GuardRuntime:
        """Build the runtime for ``strategy`` (reads and validates the RISK_* settings)."""
        settings = settings or load_settings()
        mode = guard_mode(strategy.config.get("runmode"))
        correlation_id = os.environ.get(CORRELATION_ID_ENV) or f"bot-{uuid.uuid4().hex[:12]}"
        run_id = os.environ.get(RUN_ID_ENV) or None
        breaker: BreakerView = (
            FileBreakerView(settings.breaker_file)
            if mode is GuardMode.LIVE
            else MemoryBreakerView()
        )
        guard = Guard(
            settings,
            mode=mode,
            breaker=breaker,
            incidents=IncidentSink(
                settings,
                correlation_id=correlation_id,
                run_id=run_id,
                # A bot's loop never waits for the registry; backtests stay deterministic.
                background=mode is GuardMode.LIVE,
            ),
            correlation_id=correlation_id,
            run_id=run_id,
        )
        tf = strategy.timeframe
        tf_sec = timeframe_to_seconds(tf)
        trades: TradeFeed
        prices: PriceFeed
        if mode is GuardMode.LIVE:
            trades = LiveTradeFeed(settings.loss_streak_max or 0)
            prices = LivePriceFeed(strategy.dp, tf, tf_sec)
        else:
            trades = BacktestTradeFeed()
            prices = BacktestPriceFeed(
                strategy.dp, tf, tf_sec, same_data=mode is GuardMode.HYPEROPT
            )
        publisher = (
            GuardPublisher.for_bot(settings, strategy.config, type(strategy).__name__)
            if mode is GuardMode.LIVE
            else None
        )
        runtime = cls(strategy, guard, trades, prices, publisher)
        log_event(
            _log,
            logging.INFO,
            Event.GUARD_STARTED,
            correlation_id=correlation_id,
            run_id=run_id,
            strategy=type(strategy).__name__,
            mode=mode.value,
            rules=[rule.name for rule in guard.rules],
            breaker=str(settings.breaker_file) if mode is GuardMode.LIVE else "in-memory",
            limits=settings.model_dump(exclude={"db_url", "db_path"}, exclude_none=True),
        )
        if mode is not GuardMode.LIVE:
            # A weak reference: a runtime that is gone (tests, a finished strategy) says nothing.
            atexit.register(_final_summary, weakref.ref(runtime))
        return runtime

    # -- SNAPSHOTS --------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> AccountSnapshot:
        """The account at ``now`` (cached while no trade opened or closed)."""
        if self.trades.refresh(now):
            self._new_run()
        key = (now, self.trades.version())
        if key == self._cache_key and self._cache is not None:
            return self._cache
        account = self._build(now, with_positions=True)
        self._cache_key, self._cache = key, account
        return account

    def _valuation(
        self, now: datetime, version: tuple[int, int, int], open_trades: Sequence[Any]
    ) -> tuple[float, float | None]:
        """(wallet, unrealised PnL) at ``now`` of the trade feed's ``version`` with these
        ``open_trades`` (the caller has read both); valued once per candle and trade set."""
        key = (now, version)
        if key != self._equity_key:
            unrealised: float | None = 0.0
            if self.needs_equity and open_trades:
                unrealised = self.prices.unrealised(open_trades, now)
            self._equity_key, self._unrealised_value = key, unrealised
        return self._wallet_value(version), self._unrealised_value

    def _build(self, now: datetime, *, with_positions: bool) -> AccountSnapshot:
        open_trades = self.trades.open_trades()
        wallet, unrealised = self._valuation(now, self.trades.version(), open_trades)
        equity = None if unrealised is None else wallet + unrealised
        day = self._clock.day(now)
        positions = (
            [
                OpenPosition(t.pair, float(t.stake_amount), bool(t.is_short), float(t.leverage))
                for t in open_trades
            ]
            if with_positions
            else ()
        )
        return AccountSnapshot.build(
            taken_at=now,
            breaker=self.guard.breaker.state(now),
            wallet=wallet,
            open_positions=positions,
            realised_today=self.trades.realised_today,
            unrealised=unrealised,
            day_peak_equity=self._day_peak.observe(day, equity),
            loss_streak=self.trades.loss_streak,
            last_loss_at=self.trades.last_loss_at,
            day_start=day,
        )

    def _wallet_value(self, version: tuple[int, int, int] | None = None) -> float:
        key = self.trades.version() if version is None else version
        if self.live or key != self._wallet_key:
            self._wallet = float(self.strategy.wallets.get_total_stake_amount())
            self._wallet_key = key
        return self._wallet

    def _new_run(self) -> None:
        """A new backtest run (next hyperopt epoch, next strategy): start afresh."""
        if self.guard.allowed or self.guard.refusals:
            self.guard.log_summary(
                logging.DEBUG if self.guard.mode is GuardMode.HYPEROPT else logging.INFO
            )
        self.guard.reset_counts()
        self.guard.breaker.reset()
        self.prices.reset()
        self._day_peak.reset()
        self._pending.clear()
        self._cache_key, self._cache, self._wallet_key = None, None, None
        self._loop_key, self._loop_until, self._equity_key = None, None, None
        self._view = None  # and with it any calm block (see _steady); a held span ends
        # by itself: Freqtrade's lists of the new run are new lists

    def final_summary(self) -> None:
        """``guard_summary`` for the last backtest run of the process (atexit)."""
        if self.guard.allowed or self.guard.refusals:
            self.guard.log_summary(
                logging.DEBUG if self.guard.mode is GuardMode.HYPEROPT else logging.INFO
            )

    # -- CALLBACKS --------------------------------------------------------------------------

    def on_loop(self, now: datetime) -> None:
        """``bot_loop_start``: refresh the snapshot, set the risk state, trip if due.

        In backtests the rules are not re-run on a candle where nothing they depend on can
        have changed (see :meth:`_steady` and :meth:`_quiet`); the day's equity peak is
        still sampled. Live and dry-run, the guard's metrics are then published (never
        raises).
        """
        publisher = self.publisher
        started = perf_counter() if publisher is not None else 0.0
        account = None
        try:
            hold = self._hold
            if hold is not None:
                start, bound, closed, count, opened, open_count = hold
                if (
                    start <= now < bound
                    and LocalTrade.bt_trades is closed
                    and len(closed) == count
                    and len(opened) == open_count
                ):
                    return
                self._hold = None
            skip = self.skip_quiet
            if skip:
                if self._steady(now):
                    return
                self._view, self._calm = None, None  # until _quiet has looked again
            if self.trades.refresh(now):
                self._new_run()
            if skip:
                quiet = self._quiet(now)
                self._look(now)
                if quiet:
                    return
            account = self._build(now, with_positions=False)
            decision = self.guard.evaluate_account(account, now)
            self._loop_until = None if decision.allowed else decision.until
        except Exception as exc:  # noqa: BLE001  # entries re-check with a fresh snapshot
            self.guard.report_error(exc, now, where="bot_loop_start")
        if publisher is not None:
            publisher.observe(perf_counter() - started)
            publisher.publish(self.guard, account, now)

    def _look(self, now: datetime) -> None:
        """Remember what the account rules have seen at ``now`` (backtests): the closed
        trades and the UTC day. Entry checks refresh the trade feed too, so the feed's
        own progress cannot tell whether the *loop* has seen a trade close."""
        feed = self._backtest_feed
        if feed is not None:
            closed, count = feed.position()
            start = self._clock.day(now)
            self._view = (closed, count, start, start + ONE_DAY)

    def _steady(self, now: datetime) -> bool:
        """True when only prices can have moved since the last look and equity stays
        above every equity-driven rule's floor (backtests; the day's peak is sampled).

        Nothing closed since then (same list, same length), the same UTC day, no
        refusal's ``until`` has come: every account input but equity is as the rules
        saw it, and the trade feed needs no refresh. Otherwise False: the full path runs.
        A True that needed no valuation holds until the day ends, the refusal's ``until``
        comes, the calm block ends or a trade opens or closes: :meth:`on_loop` checks
        that span (``_hold``) first, before anything else.
        """
        view, feed = self._view, self._backtest_feed
        if view is None or feed is None:
            return False
        closed, count, start, end = view
        until = self._loop_until
        if not start <= now < end or (until is not None and now >= until):
            return False
        open_trades = feed.open_since(closed, count)
        if open_trades is None:
            return False  # a trade closed (or a new run began): the full path runs
        bound = end if until is None or end < until else until
        if not open_trades or not self._equity_rules:
            self._hold = (start, bound, closed, count, open_trades, len(open_trades))
            return True
        calm = self._calm
        if calm is not None and now < calm[0] and len(open_trades) == calm[1]:
            bound = calm[0] if calm[0] < bound else bound
            self._hold = (start, bound, closed, count, open_trades, calm[1])
            return True
        return self._above_floor(now, start, feed.version(), open_trades)

    def _quiet(self, now: datetime) -> bool:
        """True when every account rule must decide as at the last evaluation.

        That holds while no trade closed, the UTC day is the same, no refusal's ``until``
        has come, and (with open trades) equity stayed above every equity-driven rule's
        floor. Live and dry-run never skip: the breaker file can change any time.
        """
        day = self._clock.day(now)
        trades = self.trades
        version = trades.version()
        # Opening a trade changes no account input but equity (checked below against the
        # floors); closing one changes realised PnL and the streak: re-evaluate.
        key = (version[0], version[1], day)
        changed = key != self._loop_key
        if changed:
            self._loop_key, self._floor_peak = key, None
        until = self._loop_until
        pending = until is not None and now >= until
        open_trades = trades.open_trades() if self._equity_rules else None
        if not open_trades:
            return not changed and not pending
        # Even when the rules run anyway: the proof of calm candles ahead starts here.
        return self._above_floor(now, day, version, open_trades) and not changed and not pending

    def _above_floor(
        self,
        now: datetime,
        day: datetime,
        version: tuple[int, int, int],
        open_trades: Sequence[Any],
    ) -> bool:
        """Sample equity into the day's peak; True when it is above every floor (and then
        remember how long it provably stays there, see :meth:`_calm_after`)."""
        wallet, unrealised = self._valuation(now, version, open_trades)
        if unrealised is None:
            return False
        equity = wallet + unrealised
        peak = self._day_peak.observe(day, equity) or equity
        if peak != self._floor_peak:  # floors move with the peak only (wallet is fixed here)
            start = wallet - self.trades.realised_today
            floors = [rule.equity_floor(start, peak) for rule in self._equity_rules]
            self._floor = max(f for f in floors if f is not None)
            self._floor_peak = peak
        floor = self._floor
        if equity <= floor:
            return False
        prices = self._calm_feed
        if prices is not None:
            self._calm_after(
                prices,
                now,
                open_trades,
                rise=peak - equity,
                fall=equity - floor,
                scale=abs(wallet) + abs(equity),
            )
        return True

    def _calm_after(
        self,
        prices: BacktestPriceFeed,
        now: datetime,
        open_trades: Sequence[Any],
        *,
        rise: float,
        fall: float,
        scale: float,
    ) -> None:
        """Prove how long equity stays below the day's peak (``rise`` away) and above the
        floor (``fall`` away) with these trades open; remember it for :meth:`_steady`.

        A margin of 1e-9 of ``scale`` (wallet and equity) covers the rounding of the
        per-candle sums. Not with position adjustment: it changes an open trade's amount
        in place.
        """
        if self.strategy.position_adjustment_enable:
            return
        margin = 1e-9 * (scale + 1.0)
        until = prices.calm_until(open_trades, now, rise - margin, fall - margin)
        self._calm = None if until is None else (until, len(open_trades))

    def stake(
        self,
        *,
        pair: str,
        now: datetime,
        proposed: float,
        min_stake: float | None,
        leverage: float,
    ) -> float:
        """``custom_stake_amount``: the trimmed stake, or 0 to refuse."""
        # The snapshot first: when it finds a new backtest run, that run starts afresh
        # (pending entries included) before this entry is recorded.
        account = self.snapshot(now)
        self._pending[pair] = _Pending(leverage=leverage, min_stake=min_stake)
        return self.guard.size_stake(
            account, pair=pair, proposed=proposed, min_stake=min_stake, now=now
        )

    def confirm(
        self, *, pair: str, side: str, amount: float, rate: float, now: datetime
    ) -> Decision:
        """``confirm_trade_entry``: the guard's decision on the final order."""
        publisher = self.publisher
        started = perf_counter() if publisher is not None else 0.0
        pending = self._pending.pop(pair, None)
        leverage = pending.leverage if pending else 1.0
        stake = amount * rate / leverage
        account = self.snapshot(now)
        entry = EntryRequest(
            pair=pair,
            side=side,
            rate=rate,
            stake=stake,
            timeframe_sec=self.timeframe_sec,
            leverage=leverage,
            stoploss=float(self.strategy.stoploss),
            min_stake=pending.min_stake if pending else None,
        )
        if self.needs_liquidation and leverage > 1.0:
            entry = replace(entry, liquidation_price=self._liquidation_price(entry, amount))
        decision = self.guard.check_entry(
            account, entry, now, candle=lambda: self.prices.last_closed(pair, now)
        )
        if publisher is not None:
            publisher.observe(perf_counter() - started)
        return decision

    def _liquidation_price(self, entry: EntryRequest, amount: float) -> float | None:
        """The liquidation price the new position would have, as Freqtrade estimates it.

        The dry-run formula works from cached leverage tiers (no network in this callback).
        Its inputs follow Freqtrade's ``update_liquidation_prices``: isolated margin is the
        position's own stake; cross margin is the whole collateral and every open trade.
        """
        exchange = self.strategy.dp._exchange  # the provider's exchange; no public accessor
        cross = str(self.strategy.config.get("margin_mode", "")) == "cross"
        price = exchange.dry_run_liquidation_price(
            pair=entry.pair,
            open_rate=entry.rate,
            is_short=entry.side == "short",
            amount=amount,
            stake_amount=entry.stake,
            leverage=entry.leverage,
            wallet_balance=self.strategy.wallets.get_collateral() if cross else entry.stake,
            open_trades=list(self.trades.open_trades()) if cross else [],
        )
        return None if price is None else float(price)
