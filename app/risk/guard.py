"""The guard engine: runs the rules, and sends every refusal through one ``_deny`` path.

``_deny`` is the only place that logs a refusal, counts it (prometheus-client), records
an incident (rate-limited per reason), moves the risk state and trips the circuit
breaker. Any exception inside the guard becomes a ``GUARD_ERROR`` refusal with an ERROR
log: the guard fails closed, never open.

Modes: ``live`` (live and dry-run) logs each refusal at WARNING and writes incidents;
``backtest`` and ``hyperopt`` log refusals at DEBUG, write no refusal incidents (they are
simulated decisions, not operational events; the first ``GUARD_ERROR`` of a process still
gets an ERROR line with its traceback and an incident) and count refusals per reason for
the ``guard_summary`` line.
"""

from __future__ import annotations

import logging
import math
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.logs import Event, get_logger, log_event
from app.risk import metrics
from app.risk.breaker_view import BreakerView
from app.risk.decision import ALLOW, Decision, Reason, RiskState, deny
from app.risk.incidents import IncidentSink
from app.risk.rules import PositionSizeRule, Rule, build_rules
from app.risk.snapshot import AccountSnapshot, Candle, EntryRequest, GuardContext
from app.risk.state import RiskStateTracker
from app.settings import RiskSettings

# GUARD_ERRORs seen by this process (module state: not copied into hyperopt workers).
_PROCESS_ERRORS = [0]


class GuardMode(StrEnum):
    """Where the guard runs."""

    LIVE = "live"  # live and dry-run: real breaker file, WARNING logs, incidents
    BACKTEST = "backtest"  # in-memory breaker, quiet, summary at the end
    HYPEROPT = "hyperopt"  # as backtest, and state changes at DEBUG too


class Guard:
    """Checks entries against the configured rules."""

    def __init__(
        self,
        settings: RiskSettings,
        *,
        mode: GuardMode,
        breaker: BreakerView,
        incidents: IncidentSink | None,
        correlation_id: str,
        run_id: str | None = None,
        rules: tuple[Rule, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.breaker = breaker
        self.incidents = incidents
        self.correlation_id = correlation_id
        self.run_id = run_id
        self.rules = build_rules(settings) if rules is None else rules
        self._account_rules = tuple(r for r in self.rules if r.account_level)
        self._pre_candle = tuple(r for r in self.rules if not r.needs_candle)
        self._candle_rules = tuple(r for r in self.rules if r.needs_candle)
        self._position = next((r for r in self.rules if isinstance(r, PositionSizeRule)), None)
        self._latching = frozenset(r.name for r in self.rules if r.latches)
        self._latched: dict[str, Decision] = {}
        self.max_leverage = settings.max_leverage
        live = self.live = mode is GuardMode.LIVE  # a bool: enum access is slow on hot paths
        self._log = get_logger("risk.guard")
        self._refusal_level = logging.WARNING if live else logging.DEBUG
        self._info_level = logging.DEBUG if mode is GuardMode.HYPEROPT else logging.INFO
        self.state = RiskStateTracker(
            self._log,
            level=logging.INFO if mode is not GuardMode.HYPEROPT else logging.DEBUG,
            correlation_id=correlation_id,
        )
        self.refusals: Counter[str] = Counter()
        self.allowed = 0

    @property
    def needs_candle(self) -> bool:
        """True when a rule needs the pair's last candle (stale data, entry deviation)."""
        return bool(self._candle_rules)

    # -- ACCOUNT STATE ----------------------------------------------------------------------

    def evaluate_account(self, account: AccountSnapshot, now: datetime) -> Decision:
        """Run the account-level rules (from ``bot_loop_start``): set the state, trip if due."""
        ctx = GuardContext(account)
        for rule in self._account_rules:
            decision = (self._latched and self._latched_decision(rule, now)) or rule.check(ctx, now)
            if not decision.allowed:
                self._latch(rule, decision)
                if decision.state is not None:
                    self.state.update(
                        decision.state,
                        now,
                        reason=decision.reason,
                        detail=decision.detail,
                        until=decision.until,
                    )
                if decision.trip_breaker:
                    self._trip(decision, now)
                return decision
        self.state.update(RiskState.ACTIVE, now, reason=Reason.ALLOWED)
        return ALLOW

    # -- PRE-TRADE CHECKS -------------------------------------------------------------------

    def check_entry(
        self,
        account: AccountSnapshot,
        entry: EntryRequest,
        now: datetime,
        candle: Callable[[], Candle | None] | None = None,
    ) -> Decision:
        """Allow or refuse ``entry``. Never raises: an exception refuses with GUARD_ERROR.

        ``candle`` is called (at most once) only when every rule before the candle rules
        passed, so refusals that need no market data cost no lookup.
        """
        try:
            ctx = GuardContext(account, entry)
            latched = self._latched  # the same dict throughout (emptied, never replaced)
            for rule in self._pre_candle:
                decision = (latched and self._latched_decision(rule, now)) or rule.check(ctx, now)
                if not decision.allowed:
                    self._latch(rule, decision)
                    return self._deny(decision, entry, now)
            if self._candle_rules:
                ctx = GuardContext(account, entry, candle() if candle else None)
                for rule in self._candle_rules:
                    decision = rule.check(ctx, now)
                    if not decision.allowed:
                        return self._deny(decision, entry, now)
        except Exception as exc:  # noqa: BLE001  # fail closed: any guard bug refuses the entry
            return self.fail(exc, now, pair=entry.pair, where="check_entry")
        self.allowed += 1
        if self.live:  # nothing exports a backtest's counters (a lock per entry, for nothing)
            metrics.ALLOWED.inc()
        self.state.update(RiskState.ACTIVE, now, reason=Reason.ALLOWED)
        return ALLOW

    def size_stake(
        self,
        account: AccountSnapshot,
        *,
        pair: str,
        proposed: float,
        min_stake: float | None,
        now: datetime,
    ) -> float:
        """The stake to use: ``proposed`` trimmed to RISK_MAX_POSITION_PCT, or 0 to refuse."""
        try:
            if not math.isfinite(proposed) or proposed <= 0:
                return 0.0
            if self._position is None:
                return proposed
            stake, decision = self._position.trim(proposed, account.wallet, min_stake)
            if not decision.allowed:
                self._deny(decision, None, now, pair=pair)
                return 0.0
        except Exception as exc:  # noqa: BLE001  # fail closed: 0 means no trade
            self.fail(exc, now, pair=pair, where="size_stake")
            return 0.0
        if stake < proposed:
            metrics.STAKES_TRIMMED.inc()
            log_event(
                self._log,
                self._info_level if self.live else logging.DEBUG,
                Event.STAKE_TRIMMED,
                correlation_id=self.correlation_id,
                pair=pair,
                proposed=proposed,
                stake=stake,
                wallet=account.wallet,
                max_position_pct=self._position.max_ratio,
            )
        return stake

    def cap_leverage(self, *, pair: str, requested: float, now: datetime) -> float:
        """``requested`` capped at RISK_MAX_LEVERAGE; 1.0 for a non-finite request."""
        if not math.isfinite(requested):
            return 1.0
        if self.max_leverage is not None and requested > self.max_leverage:
            log_event(
                self._log,
                self._info_level if self.live else logging.DEBUG,
                Event.LEVERAGE_CAPPED,
                correlation_id=self.correlation_id,
                pair=pair,
                requested=requested,
                leverage=self.max_leverage,
            )
            return self.max_leverage
        return requested

    def _latched_decision(self, rule: Rule, now: datetime) -> Decision | None:
        """The held refusal of a latching rule, while its ``until`` has not come."""
        held = self._latched.get(rule.name)
        if held is None:
            return None
        if held.until is not None and now < held.until:
            return held
        del self._latched[rule.name]
        return None

    def _latch(self, rule: Rule, decision: Decision) -> None:
        if rule.name in self._latching and decision.until is not None:
            self._latched.setdefault(rule.name, decision)

    def fail(self, exc: BaseException, now: datetime, *, pair: str | None, where: str) -> Decision:
        """Refuse with GUARD_ERROR because of ``exc`` (also for errors outside the engine)."""
        decision = deny(Reason.GUARD_ERROR, f"{where}: {type(exc).__name__}: {exc}")
        return self._deny(decision, None, now, pair=pair, exc=exc)

    def report_error(self, exc: BaseException, now: datetime, *, where: str) -> None:
        """Log (ERROR) and record an exception that refused nothing, e.g. in bot_loop_start."""
        fields: dict[str, Any] = {"where": where, "detail": f"{type(exc).__name__}: {exc}"}
        self._log_error(exc, fields, now)
        if self.incidents is not None and self._records_incident(exc):
            self.incidents.report(
                Reason.GUARD_ERROR.value,
                severity="error",
                description=f"guard error in {where}: {type(exc).__name__}: {exc}",
                now=now,
                log_excerpt="".join(traceback.format_exception(exc)),
            )

    # -- THE ONE REFUSAL PATH ---------------------------------------------------------------

    def _deny(
        self,
        decision: Decision,
        entry: EntryRequest | None,
        now: datetime,
        *,
        pair: str | None = None,
        exc: BaseException | None = None,
    ) -> Decision:
        reason = decision.reason
        pair = entry.pair if entry is not None else pair
        self.refusals[reason.value] += 1
        if self.live:  # as for allowed entries (check_entry): backtests count in the summary
            metrics.REFUSED.inc()
            metrics.ENTRY_REFUSALS.labels(reason=reason.value).inc()
        fields: dict[str, Any] = {"pair": pair, "reason": reason.value, "detail": decision.detail}
        if decision.until is not None:
            fields["until"] = decision.until
        if entry is not None:
            fields.update(side=entry.side, rate=entry.rate, stake=entry.stake)
        if exc is not None:
            self._log_error(exc, fields, now)
        else:
            log_event(
                self._log,
                self._refusal_level,
                Event.ENTRY_REFUSED,
                correlation_id=self.correlation_id,
                at=now,
                **fields,
            )
            # Entry-level refusals come after every account rule passed: the account is ACTIVE.
            new_state = decision.state or RiskState.ACTIVE
            self.state.update(
                new_state, now, reason=reason, detail=decision.detail, until=decision.until
            )
        if decision.trip_breaker:
            self._trip(decision, now)
        if self.incidents is not None and self._records_incident(exc):
            self.incidents.report(
                reason.value,
                severity="error" if exc is not None else "warning",
                description=f"entry refused for {pair}: {reason.value}: {decision.detail}",
                now=now,
                log_excerpt="".join(traceback.format_exception(exc)) if exc else None,
            )
        return decision

    def _log_error(self, exc: BaseException, fields: dict[str, Any], now: datetime) -> None:
        metrics.GUARD_ERRORS.inc()
        # Live: every error with its traceback. Backtests and hyperopt: the first one of the
        # process (each hyperopt epoch runs on a fresh copy of the guard), then only counts.
        first = _PROCESS_ERRORS[0] == 0
        _PROCESS_ERRORS[0] += 1
        if self.live or first:
            log_event(
                self._log,
                logging.ERROR,
                Event.GUARD_ERROR,
                correlation_id=self.correlation_id,
                exc_info=exc,
                at=now,
                **fields,
            )

    def _records_incident(self, exc: BaseException | None) -> bool:
        # Live: every refusal (rate-limited per reason by the sink). Backtests: only the
        # first GUARD_ERROR of the process: simulated refusals are not operational events.
        if self.live:
            return True
        return exc is not None and _PROCESS_ERRORS[0] == 1

    def _trip(self, decision: Decision, now: datetime) -> None:
        simulated = self.breaker.simulated
        try:
            changed = self.breaker.trip(f"{decision.reason.value}: {decision.detail}", now)
        except Exception as exc:  # noqa: BLE001  # the in-memory trip still holds; say so loudly
            log_event(
                self._log,
                logging.ERROR,
                Event.GUARD_ERROR,
                correlation_id=self.correlation_id,
                exc_info=True,
                where="circuit breaker trip",
                error=f"{type(exc).__name__}: {exc}",
            )
            changed = True
        if not changed:
            return
        metrics.BREAKER_TRIPS.labels(simulated=str(simulated).lower()).inc()
        log_event(
            self._log,
            self._info_level if simulated else logging.CRITICAL,
            Event.CIRCUIT_BREAKER_TRIPPED,
            correlation_id=self.correlation_id,
            simulated=simulated,
            reason=decision.reason.value,
            detail=decision.detail,
            at=now,
        )
        if self.incidents is not None and not simulated:
            self.incidents.report(
                "circuit_breaker_tripped",
                severity="critical",
                description=f"circuit breaker tripped by the guard: {decision.detail}",
                now=now,
                rate_limited=False,
            )

    # -- SUMMARY ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts since the last :meth:`reset_counts` (for ``guard_summary``)."""
        return {
            "mode": self.mode.value,
            "allowed": self.allowed,
            "refused": sum(self.refusals.values()),
            "refusals": dict(sorted(self.refusals.items())),
            "state": self.state.state.value,
            "breaker_simulated": self.breaker.simulated,
        }

    def log_summary(self, level: int = logging.INFO) -> None:
        """Write one ``guard_summary`` line."""
        log_event(
            self._log,
            level,
            Event.GUARD_SUMMARY,
            correlation_id=self.correlation_id,
            **self.summary(),
        )

    def reset_counts(self) -> None:
        """Start a new run (next backtest, next hyperopt epoch): counts and latches."""
        self.refusals.clear()
        self.allowed = 0
        self._latched.clear()


def reset_process_errors() -> None:
    """Forget the GUARD_ERRORs this process has seen (tests start each case afresh)."""
    _PROCESS_ERRORS[0] = 0
