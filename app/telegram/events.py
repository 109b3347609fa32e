"""Which log events become Telegram messages, and what each message says.

The ``tradingbot`` log tree already carries every operations event (``app/logs.py``), so
messages are made from log records, in the process where the event happened, by one
:class:`EventTranslator`: no call site sends anything itself. A :class:`Notice` has a
headline (severity, what, which bot or run), detail lines and the ids; its ``rate_key``
and :class:`RateLimit` keep a flapping condition from flooding the chat.

The translator keeps a little state per process: which correlation ids are live guards
(``guard_started`` with ``mode=live``; backtest and hyperopt guards send nothing), why a
bot halted (a halt or resume caused by the circuit breaker is not sent again: the breaker
message says it), the verdicts of a running sweep (sent with ``sweep_finished``), and the
correlation ids that just sent a critical message (their critical incident record is the
same event and is not sent twice).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app.logs import CORRELATION_ID_ENV, RUN_ID_ENV, Event, event_fields
from app.registry.ratelimit import RateLimit

_MINUTE = timedelta(minutes=1)
_FIVE = timedelta(minutes=5)
BREAKER = RateLimit(3, _MINUTE, "circuit breaker changes")
TRIPS = RateLimit(3, _FIVE, "circuit breaker trips")
RISK_STATE = RateLimit(3, _FIVE, "risk state changes of this bot")
GUARD_ERRORS = RateLimit(1, _FIVE, "guard errors in this bot")
REFUSED_RUNS = RateLimit(3, _FIVE, "refused runs")
FAILED_RUNS = RateLimit(3, _FIVE, "failed runs")
BACKUPS = RateLimit(3, _FIVE, "backup and restore results")
CRITICAL = RateLimit(3, _FIVE, "critical incidents")
SWEEPS = RateLimit(3, _FIVE, "finished sweeps")
REFUSED_COMMANDS = RateLimit(1, timedelta(minutes=10), "refused commands from this chat")
_CRITICAL_ECHO_SEC = 300.0
_GATE_EVENTS = {
    Event.CIRCUIT_BREAKER_BLOCK.value,
    Event.SLOTS_FULL.value,
    Event.MAX_DD_BLOCK.value,
    Event.REGISTRY_ERROR.value,
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to send, before rendering (see :func:`render`)."""

    event: str
    severity: str  # info | warning | error | critical (the incident severities)
    headline: str
    details: tuple[tuple[str, str], ...]
    rate_key: str
    limit: RateLimit
    at: datetime
    correlation_id: str | None = None
    run_id: str | None = None
    unique_key: str | None = None


def render(notice: Notice, *, host: str, run_line: str | None = None) -> str:
    """Plain text (no parse mode: nothing to escape): headline, details, ids, host and time."""
    lines = [f"[{notice.severity.upper()}] {notice.headline}"]
    lines += [f"{label}: {value}" for label, value in notice.details if value not in ("", None)]
    if run_line:
        lines.append(f"run: {run_line}")
    ids = [f"run_id {notice.run_id}" if notice.run_id else ""]
    ids.append(f"correlation_id {notice.correlation_id}" if notice.correlation_id else "")
    if any(ids):
        lines.append(" | ".join(i for i in ids if i))
    lines.append(f"{host} | {notice.at:%Y-%m-%d %H:%M:%S}Z")
    return "\n".join(lines)


def hhmm(value: object, *, seconds: bool = False) -> str:
    """``2026-11-30T12:30:00Z`` -> ``2026-11-30 12:30Z`` (text as it came when unparsable)."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return str(value)
    return f"{moment:%Y-%m-%d %H:%M:%S}Z" if seconds else f"{moment:%Y-%m-%d %H:%M}Z"


@dataclass
class _Bot:
    strategy: str
    live: bool
    halted_by_breaker: bool = False


@dataclass
class EventTranslator:
    """Turns ``tradingbot`` log records into notices (thread-safe under the handler's lock)."""

    bots: dict[str, _Bot] = field(default_factory=dict)
    sweeps: dict[str, list[str]] = field(default_factory=dict)
    critical_sent: dict[str, float] = field(default_factory=dict)

    def translate(self, record: logging.LogRecord) -> Notice | None:
        """The notice for ``record``, or None when it is not an operations event to send."""
        if not isinstance(record.msg, str):
            return None
        handler = _HANDLERS.get(record.msg)
        if handler is None:
            return None
        fields = event_fields(record)
        ctx = _Context(
            record.msg,
            fields,
            datetime.fromtimestamp(record.created, UTC),
            getattr(record, "correlation_id", None) or os.environ.get(CORRELATION_ID_ENV),
            getattr(record, "run_id", None) or os.environ.get(RUN_ID_ENV),
        )
        notice = handler(self, ctx)
        if notice is not None and notice.severity == "critical" and ctx.correlation_id:
            self.critical_sent[ctx.correlation_id] = time.monotonic()
        return notice

    def bot_name(self, correlation_id: str | None) -> str:
        """``GuardedChurnStrategy`` (from guard_started), else ``bot <correlation id>``."""
        bot = self.bots.get(correlation_id or "")
        return bot.strategy if bot else f"bot {correlation_id or '?'}"

    def live(self, correlation_id: str | None) -> bool:
        """True when the guard of ``correlation_id`` runs live or dry-run in this process."""
        bot = self.bots.get(correlation_id or "")
        return bot is not None and bot.live


@dataclass(frozen=True, slots=True)
class _Context:
    event: str
    fields: dict[str, Any]
    at: datetime
    correlation_id: str | None
    run_id: str | None

    def get(self, key: str) -> str:
        value = self.fields.get(key)
        return "" if value is None else str(value)

    def notice(
        self, severity: str, headline: str, rate_key: str, limit: RateLimit, **more: Any
    ) -> Notice:
        details = tuple((k.replace("_", " "), "" if v is None else str(v)) for k, v in more.items())
        return Notice(
            self.event,
            severity,
            headline,
            details,
            rate_key,
            limit,
            self.at,
            self.correlation_id,
            self.run_id,
        )


# -- CIRCUIT BREAKER --------------------------------------------------------------------------


def _enabled(_t: EventTranslator, c: _Context) -> Notice:
    until = c.fields.get("until")
    ends = f"until {hhmm(until)}" if until else "until a person disables it"
    return c.notice(
        "warning",
        f"Circuit breaker ENABLED {ends}: entries and runs stop",
        "circuit_breaker",
        BREAKER,
        reason=c.get("reason"),
        by=c.get("by"),
        file=c.get("file"),
    )


def _disabled(_t: EventTranslator, c: _Context) -> Notice:
    return c.notice(
        "info",
        f"Circuit breaker disabled (was {c.get('previous') or '?'}): entries and runs may resume",
        "circuit_breaker",
        BREAKER,
        reason=c.get("reason"),
        by=c.get("by"),
        file=c.get("file"),
    )


def _expired(_t: EventTranslator, c: _Context) -> Notice:
    notice = c.notice(
        "info",
        f"Circuit breaker expired at {hhmm(c.get('until'))}: entries and runs may resume",
        "circuit_breaker",
        BREAKER,
        reason=c.get("reason"),
        file=c.get("file"),
    )
    # Every bot and the service may see the same expiry: one message.
    until = hhmm(c.fields.get("until"), seconds=True)
    return replace(notice, unique_key=f"circuit_breaker_expired:{until}")


def _tripped(t: EventTranslator, c: _Context) -> Notice | None:
    if c.fields.get("simulated"):
        return None
    return c.notice(
        "critical",
        f"Circuit breaker TRIPPED by {t.bot_name(c.correlation_id)}: {c.get('reason')}",
        "circuit_breaker_tripped",
        TRIPS,
        detail=c.get("detail"),
        action="find the cause; `python scripts/circuit_breaker.py disable` or /resume when safe",
    )


# -- LIVE GUARD -------------------------------------------------------------------------------


def _guard_started(t: EventTranslator, c: _Context) -> None:
    live = c.get("mode") == "live"
    t.bots[c.correlation_id or ""] = _Bot(c.get("strategy") or "bot", live)


def _risk_state(t: EventTranslator, c: _Context) -> Notice | None:
    bot = t.bots.get(c.correlation_id or "")
    if bot is None or not bot.live:
        return None
    new, reason = c.get("new"), c.get("reason")
    name, key = bot.strategy, f"risk_state:{c.correlation_id}"
    if new == "ACTIVE":
        by_breaker, bot.halted_by_breaker = bot.halted_by_breaker, False
        if by_breaker:
            return None  # the breaker's own message says that trading may resume
        return c.notice("info", f"Bot resumed: {name} (was {c.get('old')})", key, RISK_STATE)
    bot.halted_by_breaker = reason == "CIRCUIT_BREAKER"
    if bot.halted_by_breaker:
        return None  # the breaker's message already says that every bot stops
    until = c.fields.get("until")
    ends = f" until {hhmm(until)}" if until else ""
    return c.notice(
        "warning",
        f"Bot {new}: {name} ({reason}){ends}",
        key,
        RISK_STATE,
        detail=c.get("detail"),
    )


def _guard_error(t: EventTranslator, c: _Context) -> Notice | None:
    if not t.live(c.correlation_id):
        return None
    return c.notice(
        "error",
        f"Guard ERROR in {t.bot_name(c.correlation_id)}: {c.get('where') or 'check'}",
        f"guard_error:{c.correlation_id}",
        GUARD_ERRORS,
        detail=c.get("detail") or c.get("error"),
        effect="entries are refused while the guard fails (fail closed)",
    )


# -- RUNS ---------------------------------------------------------------------------------------


def _gate(_t: EventTranslator, c: _Context) -> Notice:
    what = " ".join(part for part in (c.get("kind"), c.get("strategy")) if part)
    return c.notice(
        "warning",
        f"Run refused: {what or 'run'} ({c.get('reason')})",
        f"run_refused:{c.get('reason')}",
        REFUSED_RUNS,
        detail=c.get("detail"),
    )


def _override(_t: EventTranslator, c: _Context) -> Notice:
    return c.notice(
        "warning",
        f"Run started DESPITE the circuit breaker: {c.get('kind')} (RISK_ALLOW_WHEN_CB=1)",
        "run_override",
        REFUSED_RUNS,
        detail=c.get("detail"),
    )


def _run_failed(_t: EventTranslator, c: _Context) -> Notice:
    # run_interrupted: the runner (or its host) went away, or a signal stopped the run.
    headline = "Run INTERRUPTED" if c.event == "run_interrupted" else "Run FAILED"
    return c.notice("error", headline, "run_failed", FAILED_RUNS, reason=c.get("reason"))


# -- BACKUPS, INCIDENTS, SWEEPS --------------------------------------------------------------


def _backup(_t: EventTranslator, c: _Context) -> Notice:
    headline, severity = {
        Event.BACKUP_SUCCEEDED.value: ("Backup succeeded", "info"),
        Event.BACKUP_FAILED.value: ("Backup FAILED: nothing usable was written", "error"),
        Event.RESTORE_SUCCEEDED.value: ("Restore done: files were put back", "warning"),
        Event.RESTORE_REFUSED.value: ("Restore refused: nothing was changed", "warning"),
    }[c.event]
    return c.notice(
        severity,
        headline,
        f"backup:{c.event}",
        BACKUPS,
        backup=c.get("backup_dir"),
        components=_listed(c.fields.get("components")),
        files=c.get("files"),
        problem=c.get("problem"),
    )


def _listed(value: object) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def _incident(t: EventTranslator, c: _Context) -> Notice | None:
    if c.get("severity") != "critical":
        return None
    sent = t.critical_sent.get(c.correlation_id or "")
    if sent is not None and time.monotonic() - sent < _CRITICAL_ECHO_SEC:
        return None  # the record of an event whose critical message just went out
    description = c.get("description") or c.get("incident_id")
    return c.notice(
        "critical",
        f"CRITICAL incident: {description[:120]}",
        "incident_critical",
        CRITICAL,
        incident=c.get("incident_id"),
        description=description if len(description) > 120 else "",
    )


def _sweep_verdict(t: EventTranslator, c: _Context) -> None:
    strategy = c.get("strategy")
    line = {
        "sweep_verdict": f"{strategy}: {'passed' if c.fields.get('passed') else 'not promoted'}",
        "sweep_promoted": f"{strategy}: PROMOTED run {c.run_id or c.get('run_id')}",
        "sweep_promotion_failed": f"{strategy}: passed, promotion FAILED: {c.get('error')}",
    }[c.event]
    t.sweeps.setdefault(c.correlation_id or "", []).append(line)


def _sweep_finished(t: EventTranslator, c: _Context) -> Notice:
    verdicts = t.sweeps.pop(c.correlation_id or "", [])
    code = c.get("exit_code")
    promoted = sum("PROMOTED" in v for v in verdicts)
    return c.notice(
        "info" if code in ("0", "") else "warning",
        f"Sweep finished: {c.correlation_id}: {promoted} of {len(verdicts)} strategies promoted",
        "sweep",
        SWEEPS,
        verdicts="; ".join(verdicts) or "none",
        exit_code=code,
    )


def _command_refused(_t: EventTranslator, c: _Context) -> Notice:
    return c.notice(
        "warning",
        f"Telegram command REFUSED from chat {c.get('chat_id')} (not in TELEGRAM_ALLOWED_CHAT_IDS)",
        f"telegram_refused:{c.get('chat_id')}",
        REFUSED_COMMANDS,
        user=c.get("user"),
        command=c.get("command"),
    )


_Handler = Callable[[EventTranslator, _Context], Notice | None]
_HANDLERS: dict[str, _Handler] = {
    Event.CIRCUIT_BREAKER_ENABLED.value: _enabled,
    Event.CIRCUIT_BREAKER_DISABLED.value: _disabled,
    Event.CIRCUIT_BREAKER_EXPIRED.value: _expired,
    Event.CIRCUIT_BREAKER_TRIPPED.value: _tripped,
    Event.GUARD_STARTED.value: _guard_started,
    Event.RISK_STATE_CHANGED.value: _risk_state,
    Event.GUARD_ERROR.value: _guard_error,
    **dict.fromkeys(_GATE_EVENTS, _gate),
    Event.CIRCUIT_BREAKER_OVERRIDE.value: _override,
    "run_failed": _run_failed,
    "run_interrupted": _run_failed,
    **dict.fromkeys(
        (
            Event.BACKUP_SUCCEEDED.value,
            Event.BACKUP_FAILED.value,
            Event.RESTORE_SUCCEEDED.value,
            Event.RESTORE_REFUSED.value,
        ),
        _backup,
    ),
    Event.INCIDENT_LOGGED.value: _incident,
    **dict.fromkeys(("sweep_verdict", "sweep_promoted", "sweep_promotion_failed"), _sweep_verdict),
    "sweep_finished": _sweep_finished,
    Event.TELEGRAM_COMMAND_REFUSED.value: _command_refused,
}
# Every event name that can produce a message (the RUNBOOK lists them).
SENT_EVENTS: frozenset[str] = frozenset(_HANDLERS) - {
    Event.GUARD_STARTED.value,
    "sweep_verdict",
    "sweep_promoted",
    "sweep_promotion_failed",
}
