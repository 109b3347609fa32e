"""Publishes a live bot's guard metrics for the exporter: one file, once per bot loop.

Only live and dry-run bots publish (backtests and hyperopt have no publisher at all, so
they pay nothing). The hot path is :meth:`GuardPublisher.observe`, one list append per
entry check; everything else happens in :meth:`GuardPublisher.publish`, called from
``bot_loop_start`` after the guard set the risk state:

* refusals are taken from the guard's own per-reason counts (``Guard._deny``, the one
  refusal path, keeps them), as increments since the last publication;
* check durations are folded into histogram buckets;
* the daily drawdown and daily loss ratios come from the loop's account snapshot;
* the file is replaced atomically (temp file + ``os.replace``; readers never see half a
  file). It is not fsynced: these are metrics, not records, and a file torn by a power
  cut is refused by the reader and starts again from zero (a counter reset).

**Restarts.** At start the publisher reads its previous file and continues its counters
and histogram from there, so a bot restart is not a counter reset; a missing or invalid
file starts from zero, which Prometheus's ``rate``/``increase`` treat as a reset.

**Failures never reach the guard.** A folder that cannot be created, a full disk or any
other error costs the publication only: it is logged once (``guard_metrics_unwritten``)
until publishing works again, and the guard's decisions are unaffected.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import logging
import math
import os
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.logs import Event, get_logger, log_event
from app.risk.guard_file import (
    BUCKETS,
    ENTRY_REASONS,
    GuardMetrics,
    Histogram,
    bot_label,
    guard_file,
    read_guard_metrics,
)
from app.risk.snapshot import AccountSnapshot
from app.settings import RiskSettings

if TYPE_CHECKING:
    from app.risk.guard import Guard

_log = get_logger("risk.publish")


def daily_ratios(account: AccountSnapshot) -> tuple[float | None, float | None]:
    """(drawdown from today's peak, today's loss / day start equity), as the rules see them.

    None when equity cannot be valued (a price is missing) or the base is not positive;
    a day in profit has a loss ratio of 0.
    """
    equity = account.equity
    if equity is None or account.unrealised is None:
        return None, None
    peak = max(account.day_peak_equity or equity, account.day_start_equity, equity)
    drawdown = (peak - equity) / peak if peak > 0 else None
    start = account.day_start_equity
    loss = -(account.realised_today + account.unrealised)
    return drawdown, (max(loss, 0.0) / start if start > 0 else None)


class GuardPublisher:
    """Accumulates one bot's guard metrics and writes them to its file."""

    def __init__(
        self,
        path: Path,
        *,
        bot: str,
        strategy: str,
        drawdown_limit: float | None,
        loss_cap: float | None,
        tracks_streak: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.bot = bot
        self.strategy = strategy
        self._limits = (drawdown_limit, loss_cap)
        # Equity is valued only when a daily rule is on; the streak only when its rule is.
        self._values_equity = drawdown_limit is not None or loss_cap is not None
        self._tracks_streak = tracks_streak
        self._clock = clock
        self._durations: list[float] = []
        self._refusals = dict.fromkeys(ENTRY_REASONS, 0)
        self._seen: dict[str, int] = {}
        self._buckets = [0] * (len(BUCKETS) + 1)  # per bucket (not cumulative), then +Inf
        self._sum = 0.0
        self._ratios: tuple[float | None, float | None] = (None, None)
        self._streak: int | None = None
        self._guard: Guard | None = None
        self._problem: str | None = None
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._continue_from_file()
        atexit.register(_flush_at_exit, weakref.ref(self))

    @classmethod
    def for_bot(
        cls, settings: RiskSettings, config: Mapping[str, object], strategy: str
    ) -> GuardPublisher:
        """The publisher of a live/dry-run bot: label from ``bot_name`` or the strategy."""
        bot = bot_label(config.get("bot_name"), strategy)
        return cls(
            guard_file(settings.state_dir, bot),
            bot=bot,
            strategy=strategy,
            drawdown_limit=settings.max_daily_drawdown_pct,
            loss_cap=settings.daily_loss_cap_pct,
            tracks_streak=settings.loss_streak_max is not None,
        )

    # -- HOT PATH ---------------------------------------------------------------------------

    def observe(self, seconds: float) -> None:
        """Record one guard check's duration (folded into buckets at the next publish)."""
        self._durations.append(seconds)

    # -- ONCE PER LOOP ----------------------------------------------------------------------

    def publish(self, guard: Guard, account: AccountSnapshot | None, now: datetime) -> bool:
        """Fold the loop's figures in and write the file; False when it could not be written.

        ``account`` is the loop's snapshot (None when it could not be built: the ratios of
        the last good loop are kept). Never raises.
        """
        try:
            self._guard = guard
            self._fold(guard.refusals)
            if account is not None:
                if self._values_equity:
                    self._ratios = daily_ratios(account)
                if self._tracks_streak:
                    self._streak = account.loss_streak
            return self._write(now.timestamp())
        except Exception as exc:  # noqa: BLE001  # metrics must never break the guard
            self._failed(f"{type(exc).__name__}: {exc}")
            return False

    def snapshot(self, updated: float) -> GuardMetrics:
        """The figures as they would be written now."""
        cumulative, running = [], 0
        for count in self._buckets[:-1]:
            running += count
            cumulative.append(running)
        drawdown, loss = self._ratios
        return GuardMetrics(
            bot=self.bot,
            strategy=self.strategy,
            updated=updated,
            state=self._guard.state.state.value if self._guard is not None else "ACTIVE",
            refusals=dict(self._refusals),
            check_seconds=Histogram(BUCKETS, tuple(cumulative), sum(self._buckets), self._sum),
            daily_drawdown_ratio=_finite(drawdown),
            daily_drawdown_limit_ratio=self._limits[0],
            daily_loss_ratio=_finite(loss),
            daily_loss_cap_ratio=self._limits[1],
            loss_streak=self._streak,
        )

    def flush(self) -> None:
        """Write what was counted since the last loop (at exit). Never raises."""
        if self._guard is None:
            return
        try:
            self._fold(self._guard.refusals)
            self._write(self._clock())
        except Exception as exc:  # noqa: BLE001  # at exit, as in a loop: never raise
            self._failed(f"{type(exc).__name__}: {exc}")

    def _fold(self, refusals: Mapping[str, int]) -> None:
        durations, self._durations = self._durations, []
        for seconds in durations:
            if math.isfinite(seconds) and seconds >= 0:
                self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
                self._sum += seconds
        for reason, count in refusals.items():
            seen = self._seen.get(reason, 0)
            # A smaller count means the guard reset its counts: all of it is new.
            self._refusals[reason] = self._refusals.get(reason, 0) + (
                count - seen if count >= seen else count
            )
            self._seen[reason] = count

    def _write(self, updated: float) -> bool:
        text = self.snapshot(updated).to_text()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp.write_text(text, encoding="utf-8")
            self._tmp.replace(self.path)
        except OSError as exc:
            # A half-written temp file helps nobody; its cleanup failing (no folder to hold
            # it) must not hide the cause from the warning.
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        if self._problem is not None:
            log_event(_log, logging.INFO, Event.GUARD_METRICS_WRITTEN, file=str(self.path))
            self._problem = None
        return True

    def _failed(self, problem: str) -> None:
        if problem != self._problem:
            log_event(
                _log,
                logging.WARNING,
                Event.GUARD_METRICS_UNWRITTEN,
                file=str(self.path),
                error=problem,
            )
        self._problem = problem

    def _continue_from_file(self) -> None:
        """Carry on from the previous file of this bot, when it is valid and compatible."""
        try:
            previous = read_guard_metrics(self.path)
        except (OSError, ValueError):
            return  # nothing (or nothing usable) to continue from: counters start at 0
        if previous.bot != self.bot:
            return
        for reason, count in previous.refusals.items():
            self._refusals[reason] = count
        hist = previous.check_seconds
        if hist.le == BUCKETS:
            steps = [*hist.cumulative, hist.count]
            self._buckets = [b - a for a, b in zip([0, *steps], steps, strict=False)]
            self._sum = hist.total


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def _flush_at_exit(ref: weakref.ReferenceType[GuardPublisher]) -> None:
    publisher = ref()
    if publisher is not None:
        publisher.flush()
