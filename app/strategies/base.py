"""``GuardedStrategy``: the Freqtrade strategy base class that puts the risk guard in front
of every entry, in live, dry-run, backtesting and hyperopt alike.

The guard owns five callbacks: ``bot_start``, ``bot_loop_start``, ``custom_stake_amount``,
``confirm_trade_entry`` and ``leverage``. A subclass that overrides one of them is
rejected when its class is created (a ``TypeError`` naming the hook to use instead), so
no strategy can bypass the guard by accident. Subclasses add their own logic through hooks
that run *after* the guard:

=====================  ===========================  =====================================
Freqtrade callback     subclass hook                order
=====================  ===========================  =====================================
bot_start              on_bot_start                 guard built first, then the hook
bot_loop_start         on_bot_loop_start            guard snapshot first, then the hook
custom_stake_amount    propose_stake_amount         hook proposes, guard trims/refuses
confirm_trade_entry    confirm_entry                guard decides; hook only if allowed
leverage               propose_leverage             hook proposes, guard caps
=====================  ===========================  =====================================

Fail closed: Freqtrade lets an entry through when ``confirm_trade_entry`` raises and uses
the proposed stake when ``custom_stake_amount`` raises. Here every exception, in the
guard or in a hook, refuses the entry (``GUARD_ERROR``, ERROR log); a failing
``propose_leverage`` falls back to leverage 1.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from freqtrade.strategy import IStrategy

from app.logs import Event, get_logger, log_event
from app.risk.runtime import GuardRuntime

_log = get_logger("strategies.base")
_T = TypeVar("_T")

GUARDED_CALLBACKS: dict[str, str] = {
    "bot_start": "on_bot_start",
    "bot_loop_start": "on_bot_loop_start",
    "custom_stake_amount": "propose_stake_amount",
    "confirm_trade_entry": "confirm_entry",
    "leverage": "propose_leverage",
}


class GuardedStrategy(IStrategy):  # type: ignore[misc]  # IStrategy is untyped (Any)
    """Base class of the project's strategies. Implement the hooks, never the callbacks."""

    guard_callbacks: ClassVar[dict[str, str]] = GUARDED_CALLBACKS
    _guard_runtime: GuardRuntime | None = None
    # True when the class (or a base below GuardedStrategy) implements on_bot_loop_start.
    _loop_hook: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse subclasses that override a guarded callback."""
        super().__init_subclass__(**kwargs)
        cls._loop_hook = cls.on_bot_loop_start is not GuardedStrategy.on_bot_loop_start
        for callback, hook in GUARDED_CALLBACKS.items():
            if callback in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {callback}(), which the risk guard owns; "
                    f"implement {hook}() instead (it runs after the guard)"
                )

    @property
    def guard_runtime(self) -> GuardRuntime | None:
        """The running guard (None before ``bot_start``)."""
        return self._guard_runtime

    # -- GUARDED CALLBACKS (do not override) ------------------------------------------------

    def bot_start(self, **kwargs: Any) -> None:
        """Called once after Freqtrade attached the data provider and wallets.

        Reads and validates the RISK_* settings and builds the guard. A bad setting raises,
        and Freqtrade then refuses to start: a strategy never trades unguarded.
        """
        self._guard_runtime = GuardRuntime.for_strategy(self)
        self.on_bot_start(**kwargs)

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        """Once per bot loop (per candle in backtests): snapshot, risk state, breaker trip.

        No network; a guard failure is logged and the entries re-check on their own.
        """
        runtime = self._guard_runtime
        if runtime is not None:
            runtime.on_loop(current_time)
        if self._loop_hook:  # a no-op call per candle costs backtests (and hyperopt) time
            self.on_bot_loop_start(current_time=current_time, **kwargs)

    def custom_stake_amount(  # noqa: PLR0917  # Freqtrade's callback signature
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """The hook's stake, trimmed to RISK_MAX_POSITION_PCT; 0 (no trade) when refused."""
        runtime = self._guard_runtime
        if runtime is None:
            return _not_started(pair, "custom_stake_amount", 0.0)
        try:
            proposed = float(
                self.propose_stake_amount(
                    pair=pair,
                    current_time=current_time,
                    current_rate=current_rate,
                    proposed_stake=proposed_stake,
                    min_stake=min_stake,
                    max_stake=max_stake,
                    leverage=leverage,
                    entry_tag=entry_tag,
                    side=side,
                    **kwargs,
                )
            )
            return runtime.stake(
                pair=pair,
                now=current_time,
                proposed=min(proposed, max_stake),
                min_stake=min_stake,
                leverage=leverage,
            )
        except Exception as exc:  # noqa: BLE001  # fail closed: Freqtrade would use the stake
            _report(runtime, exc, current_time, pair, "custom_stake_amount")
            return 0.0

    def confirm_trade_entry(  # noqa: PLR0917  # Freqtrade's callback signature
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> bool:
        """Right before the entry order: the guard decides, then ``confirm_entry``.

        Runs every rule; no network, no database beyond Freqtrade's own trade queries in
        live mode. Returns False on any exception (Freqtrade would return True).
        """
        runtime = self._guard_runtime
        if runtime is None:
            return _not_started(pair, "confirm_trade_entry", False)
        try:
            decision = runtime.confirm(
                pair=pair, side=side, amount=amount, rate=rate, now=current_time
            )
            if not decision.allowed:
                return False
            return bool(
                self.confirm_entry(
                    pair=pair,
                    order_type=order_type,
                    amount=amount,
                    rate=rate,
                    time_in_force=time_in_force,
                    current_time=current_time,
                    entry_tag=entry_tag,
                    side=side,
                    **kwargs,
                )
            )
        except Exception as exc:  # noqa: BLE001  # fail closed: Freqtrade would allow the entry
            _report(runtime, exc, current_time, pair, "confirm_trade_entry")
            return False

    def leverage(  # noqa: PLR0917  # Freqtrade's callback signature
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_leverage: float,
        max_leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """Futures only: the hook's leverage capped at RISK_MAX_LEVERAGE (1 on failure)."""
        runtime = self._guard_runtime
        try:
            requested = float(
                self.propose_leverage(
                    pair=pair,
                    current_time=current_time,
                    current_rate=current_rate,
                    proposed_leverage=proposed_leverage,
                    max_leverage=max_leverage,
                    entry_tag=entry_tag,
                    side=side,
                    **kwargs,
                )
            )
            if runtime is None:
                return 1.0
            return min(
                runtime.guard.cap_leverage(pair=pair, requested=requested, now=current_time),
                max_leverage,
            )
        except Exception as exc:  # noqa: BLE001  # leverage 1 is the safe answer
            if runtime is not None:
                with contextlib.suppress(Exception):  # see _report
                    runtime.guard.report_error(exc, current_time, where="leverage")
            return 1.0

    # -- HOOKS FOR SUBCLASSES ---------------------------------------------------------------

    def on_bot_start(self, **kwargs: Any) -> None:
        """Your ``bot_start``: runs after the guard was built."""

    def on_bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        """Your ``bot_loop_start``: runs after the guard's snapshot. No network here."""

    def propose_stake_amount(
        self,
        *,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """Your ``custom_stake_amount``; the guard may trim or refuse the result."""
        return proposed_stake

    def confirm_entry(
        self,
        *,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> bool:
        """Your ``confirm_trade_entry``: called only for entries the guard allowed."""
        return True

    def propose_leverage(
        self,
        *,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_leverage: float,
        max_leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """Your ``leverage``; the guard caps it at RISK_MAX_LEVERAGE (default 1.0)."""
        return 1.0


def _report(runtime: GuardRuntime, exc: Exception, now: datetime, pair: str, where: str) -> None:
    """Record a GUARD_ERROR refusal. If even that fails (say the log cannot be written),
    the entry is still refused: the caller returns its refusal whatever happens here."""
    with contextlib.suppress(Exception):
        runtime.guard.fail(exc, now, pair=pair, where=where)


def _not_started(pair: str, where: str, refusal: _T) -> _T:
    """Refuse because ``bot_start`` never built the guard (fail closed)."""
    log_event(
        _log,
        logging.ERROR,
        Event.GUARD_ERROR,
        pair=pair,
        reason="GUARD_ERROR",
        where=where,
        detail="the guard was not started (bot_start did not run); entry refused",
    )
    return refusal
