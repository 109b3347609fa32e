"""Pre-run gates: what the guarded runner checks before it starts Freqtrade.

In order:

1. circuit breaker (backtest, hyperopt, dry_run, live): active -> refuse, unless
   ``RISK_ALLOW_WHEN_CB=1``, which runs with a WARNING and an incident;
2. ``max_dd_block`` (backtest): refuse when the strategy's latest succeeded backtest has
   ``max_drawdown_account >= RISK_MAX_BACKTEST_DRAWDOWN_PCT``; a registry error or an
   unknown strategy refuses too (fail closed);
3. concurrency slot (backtest, hyperopt): at most ``RISK_MAX_CONCURRENT_BACKTESTS`` at
   once (0 = unlimited); the slot is held, with a heartbeat, until the ``with`` block
   ends, however it ends (the runner turns SIGINT/SIGTERM into a normal exit). With
   ``RunRequest.slot_wait_sec`` the run queues for a slot (first come, first served) and
   shows a waiting line on stderr; after a wait gates 1 and 2 are asked again, since the
   breaker or the registry may have changed meanwhile.

A refusal logs a WARNING (``circuit_breaker_block``, ``max_dd_block``, ``slots_full``,
``registry_error``), records an incident and raises :class:`RunRefused` (exit code 10);
the runner then records the run as ``blocked``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol, TextIO

from app.circuit_breaker import read_breaker
from app.errors import TradingBotError
from app.logs import Event, get_logger, log_event
from app.processes import RunProcesses
from app.risk import metrics
from app.risk.decision import Decision, Reason, deny
from app.risk.incidents import IncidentRecorder
from app.risk.slots import Heartbeat, SlotManager
from app.settings import RiskSettings

BREAKER_KINDS = frozenset({"backtest", "hyperopt", "dry_run", "live"})
SLOT_KINDS = frozenset({"backtest", "hyperopt"})
DRAWDOWN_KINDS = frozenset({"backtest"})
DRAWDOWN_METRIC = "max_drawdown_account"

_log = get_logger("risk.gates")


class GateRegistry(IncidentRecorder, Protocol):
    """The part of ``app.registry.Registry`` the gates use: incidents and metrics."""

    def latest_metric(self, strategy: str, key: str, *, kind: str = "backtest") -> float | None:
        """The metric of the strategy's newest succeeded run of ``kind``."""
        ...


@dataclass(frozen=True)
class RunRequest:
    """The run the runner is about to start."""

    kind: str  # "backtest" | "hyperopt" | "dry_run" | "live" | "download" | "other"
    strategy: str | None  # a name, or several joined by "," (--strategy-list)
    run_id: str
    correlation_id: str
    processes: RunProcesses | None = None  # recorded in the slot file
    slot_wait_sec: float = 0.0  # queue this long for a slot before refusing


class RunRefused(TradingBotError):  # noqa: N818  # the name is the runner's contract
    """A pre-run gate refused the run. Read the reason; the run was recorded as blocked.

    Circuit breaker: find out why it is active (``scripts/circuit_breaker.py status``).
    Slots: wait for a running backtest/hyperopt to end. Drawdown: improve the strategy or
    raise RISK_MAX_BACKTEST_DRAWDOWN_PCT deliberately.
    """

    exit_code = 10

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"{decision.reason.value}: {decision.detail}")
        self.decision = decision


@contextmanager
def run_gates(
    request: RunRequest, settings: RiskSettings, registry: GateRegistry
) -> Iterator[None]:
    """Pass the gates for ``request`` and hold its slot while the block runs.

    Raises :class:`RunRefused` (after a WARNING log and an incident) when a gate refuses.
    """
    _check_before_slot(request, settings, registry)
    if request.kind not in SLOT_KINDS:
        _allowed(request, slot=None)
        yield
        return
    manager = SlotManager(
        settings.state_dir,
        limit=settings.max_concurrent_backtests,
        ttl_sec=settings.concurrency_ttl_sec,
    )
    line = WaitingLine(request)
    try:
        slot, count = manager.acquire(
            kind=request.kind,
            run_id=request.run_id,
            correlation_id=request.correlation_id,
            processes=request.processes,
            wait_sec=request.slot_wait_sec,
            on_wait=line.show,
        )
    finally:
        line.done()
    if slot is None:
        waited = f" after waiting {request.slot_wait_sec:.0f} s" if request.slot_wait_sec else ""
        _refuse(
            request,
            registry,
            Event.SLOTS_FULL,
            deny(
                Reason.CONCURRENCY_LIMIT,
                f"{count} backtest/hyperopt runs hold all RISK_MAX_CONCURRENT_BACKTESTS="
                f"{settings.max_concurrent_backtests} slots{waited} (lock files in "
                f"{manager.folder}){manager.describe_orphans()}; retry when one ends, or "
                "wait for a slot with --wait-for-slot SECONDS",
            ),
        )
    try:
        if slot.waited_sec > 0:
            _check_before_slot(request, settings, registry)  # things change while one waits
        _event(
            request,
            logging.INFO,
            Event.SLOT_ACQUIRED,
            lock_file=str(slot.path),
            running=count,
            waited_sec=round(slot.waited_sec, 3),
        )
        _allowed(request, slot=str(slot.path))
        with Heartbeat(slot.path, max(settings.concurrency_ttl_sec / 3, 0.2)):
            yield
    finally:
        manager.release(slot)
        _event(request, logging.INFO, Event.SLOT_RELEASED, lock_file=str(slot.path))


def _check_before_slot(request: RunRequest, settings: RiskSettings, registry: GateRegistry) -> None:
    if request.kind in BREAKER_KINDS:
        _check_breaker(request, settings, registry)
    if request.kind in DRAWDOWN_KINDS and settings.max_backtest_drawdown_pct is not None:
        _check_drawdown(request, settings.max_backtest_drawdown_pct, registry)


class WaitingLine:
    """The line on stderr while a run waits for a slot.

    On a terminal one line is redrawn in place; elsewhere (logs, CI) a line is written
    when the number of runs ahead changes, and at most every 30 s otherwise.
    """

    REPEAT_S = 30.0

    def __init__(
        self,
        request: RunRequest,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request = request
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.clock = clock
        self._last: tuple[int, float] | None = None
        self._shown = False

    def show(self, ahead: int, left: float) -> None:
        """Called by the slot manager about twice a second while waiting."""
        text = f"waiting for a {self.request.kind} slot: {ahead} ahead, {left:.0f} s left"
        now = self.clock()
        if not self._shown:
            _event(self.request, logging.INFO, Event.SLOT_WAITING, ahead=ahead, wait_sec=left)
        if self.tty:
            self.stream.write(f"\r\x1b[K{text}")
        elif self._last is None or self._last[0] != ahead or now - self._last[1] >= self.REPEAT_S:
            self.stream.write(f"{text}\n")
            self._last = (ahead, now)
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """End the redrawn line (terminal only)."""
        if self._shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# -- THE GATES ------------------------------------------------------------------------------


def _check_breaker(request: RunRequest, settings: RiskSettings, registry: GateRegistry) -> None:
    state = read_breaker(settings.breaker_file, datetime.now(UTC))
    if not state.active:
        return
    if settings.allow_when_cb:
        _event(
            request,
            logging.WARNING,
            Event.CIRCUIT_BREAKER_OVERRIDE,
            detail=state.describe(),
            breaker_file=str(state.file),
        )
        _incident(
            request,
            registry,
            "warning",
            f"{request.kind} run started despite an active circuit breaker "
            f"(RISK_ALLOW_WHEN_CB=1): {state.describe()}",
        )
        return
    _refuse(
        request,
        registry,
        Event.CIRCUIT_BREAKER_BLOCK,
        deny(
            Reason.CIRCUIT_BREAKER,
            f"{state.describe()}; check `python scripts/circuit_breaker.py status`, or set "
            "RISK_ALLOW_WHEN_CB=1 to run anyway (logged)",
            until=state.until,
        ),
    )


def _check_drawdown(request: RunRequest, limit: float, registry: GateRegistry) -> None:
    strategies = [s.strip() for s in (request.strategy or "").split(",") if s.strip()]
    if not strategies:
        _refuse(
            request,
            registry,
            Event.MAX_DD_BLOCK,
            deny(
                Reason.MAX_DD_BLOCK,
                "RISK_MAX_BACKTEST_DRAWDOWN_PCT is set but the run names no strategy; pass "
                "--strategy so its recorded drawdown can be checked",
            ),
        )
    for strategy in strategies:
        try:
            value = registry.latest_metric(strategy, DRAWDOWN_METRIC, kind="backtest")
        except Exception as exc:  # noqa: BLE001  # fail closed: no answer, no run
            _refuse(
                request,
                registry,
                Event.REGISTRY_ERROR,
                deny(
                    Reason.REGISTRY_ERROR,
                    f"cannot read {strategy}'s recorded {DRAWDOWN_METRIC} ({exc}); the "
                    "drawdown gate fails closed; fix the registry (RISK_DB_PATH / RISK_DB_URL)",
                ),
            )
        if value is not None and value >= limit:
            _refuse(
                request,
                registry,
                Event.MAX_DD_BLOCK,
                deny(
                    Reason.MAX_DD_BLOCK,
                    f"{strategy}'s latest succeeded backtest has {DRAWDOWN_METRIC}={value:.4f} "
                    f">= RISK_MAX_BACKTEST_DRAWDOWN_PCT={limit}; improve the strategy or raise "
                    "the limit deliberately",
                ),
            )


# -- ONE PATH FOR REFUSALS --------------------------------------------------------------------


def _refuse(
    request: RunRequest, registry: GateRegistry, event: Event, decision: Decision
) -> NoReturn:
    metrics.RUN_GATE_REFUSALS.labels(reason=decision.reason.value).inc()
    _event(
        request,
        logging.WARNING,
        event,
        reason=decision.reason.value,
        detail=decision.detail,
        until=decision.until,
        strategy=request.strategy,
    )
    _incident(
        request,
        registry,
        "warning",
        f"{request.kind} run refused: {decision.reason.value}: {decision.detail}",
    )
    raise RunRefused(decision)


def _incident(request: RunRequest, registry: GateRegistry, severity: str, text: str) -> None:
    try:
        incident_id = registry.log_incident(
            severity=severity,
            description=text,
            correlation_id=request.correlation_id,
            run_id=request.run_id,
        )
    except Exception as exc:  # noqa: BLE001  # the refusal matters more than its record
        _event(request, logging.ERROR, Event.INCIDENT_FAILED, description=text, error=str(exc))
        return
    _event(request, logging.INFO, Event.INCIDENT_LOGGED, incident_id=incident_id, severity=severity)


def _allowed(request: RunRequest, *, slot: str | None) -> None:
    _event(request, logging.INFO, Event.RUN_ALLOWED, strategy=request.strategy, lock_file=slot)


def _event(request: RunRequest, level: int, event: Event, **fields: Any) -> None:
    log_event(
        _log,
        level,
        event,
        correlation_id=request.correlation_id,
        run_id=request.run_id,
        kind=request.kind,
        **fields,
    )
