"""The operator's commands: ``/status``, ``/halt <minutes> <reason>``, ``/resume``,
``/incidents [n]``, ``/runs [n]`` (and ``/help``), as plain functions over the library.

The service calls :meth:`CommandBook.answer` for a chat it obeys and
:meth:`CommandBook.refuse` for any other chat. ``/halt`` and ``/resume`` change the
breaker through ``app.risk.breaker_commands`` -- the functions behind
``scripts/circuit_breaker.py`` -- so the change is logged, recorded as an incident whose
description says who (user, id, chat) and what, and announced like any breaker change.
A changing command older than :data:`MAX_COMMAND_AGE` (sent while the service was down)
is not obeyed: the operator is asked to send it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from app.circuit_breaker import iso_utc
from app.errors import TradingBotError
from app.logs import Event, get_logger, log_event
from app.registry.store import Registry
from app.risk import breaker_commands
from app.risk.incidents import IncidentSink
from app.settings import RiskSettings
from app.telegram.status import cut, incident_lines, parse_count, run_lines, status_text

_log = get_logger("telegram.commands")
MAX_COMMAND_AGE = timedelta(minutes=10)
MAX_REASON = 200
COMMANDS = ("status", "halt", "resume", "incidents", "runs", "help", "start")
CHANGING = frozenset({"halt", "resume"})
HELP = (
    "Commands:\n"
    "/status - breaker, each bot's risk state, slots, last incidents\n"
    "/halt <minutes> <reason> - enable the circuit breaker (entries and runs stop)\n"
    "/resume - disable the circuit breaker\n"
    "/incidents [n] - the last n incidents (1-20, default 5)\n"
    "/runs [n] - the last n runs (1-20, default 5)"
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a command."""

    chat_id: int
    user_id: int | None
    username: str | None

    def describe(self) -> str:
        """``user @alice (id 42) in chat 42`` (the username cut and escaped)."""
        name = f"@{printable(self.username, 64)}" if self.username else "without username"
        return f"user {name} (id {self.user_id}) in chat {self.chat_id}"


def printable(text: str, limit: int = 100) -> str:
    """``text`` on one line, control characters escaped, at most ``limit`` characters."""
    escaped = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return cut(escaped, limit)


class CommandBook:
    """Answers commands (sync: the service runs it in a worker thread)."""

    def __init__(
        self,
        settings: RiskSettings,
        registry: Registry,
        *,
        log_file: Path,
        correlation_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.log_file = log_file
        self.correlation_id = correlation_id
        self.clock = clock
        # One incident per foreign chat per RISK_INCIDENT_RATE_LIMIT_SEC; the next one counts
        # the attempts in between. A stranger cannot flood the registry.
        self.refusals = IncidentSink(
            settings, correlation_id=correlation_id, run_id=None, recorder=registry
        )

    def answer(self, name: str, args: list[str], caller: Caller, sent_at: datetime) -> str:
        """The reply to ``/name args`` from an obeyed chat (never raises for bad input)."""
        now = self.clock()
        log_event(
            _log,
            logging.INFO,
            Event.TELEGRAM_COMMAND,
            correlation_id=self.correlation_id,
            command=printable(" ".join([f"/{name}", *args])),
            caller=caller.describe(),
        )
        if name in CHANGING and now - sent_at > MAX_COMMAND_AGE:
            return (
                f"Not done: this /{name} was sent at {iso_utc(sent_at)}, more than "
                f"{int(MAX_COMMAND_AGE.total_seconds() // 60)} minutes ago (the service was "
                "not running). Send it again if you still mean it."
            )
        try:
            return self._dispatch(name, args, caller, now)
        except breaker_commands.BreakerChangeUnrecordedError as exc:
            return f"Done, but: {exc}"
        except TradingBotError as exc:
            return f"Failed: {exc}"

    def _dispatch(self, name: str, args: list[str], caller: Caller, now: datetime) -> str:
        if name == "status":
            return status_text(self.settings, self.registry, log_file=self.log_file, now=now)
        if name == "halt":
            return self._halt(args, caller, now)
        if name == "resume":
            return self._resume(caller, now)
        if name in ("incidents", "runs"):
            try:
                count = parse_count(args)
            except ValueError as exc:
                return f"/{name} [n]: {exc}"
            if name == "incidents":
                lines = incident_lines(self.registry.list_incidents(limit=count))
            else:
                lines = run_lines(self.registry.list_runs(limit=count))
            return "\n".join(lines) or f"No {name} recorded yet."
        return HELP

    def _halt(self, args: list[str], caller: Caller, now: datetime) -> str:
        usage = "Usage: /halt <minutes> <reason>, e.g. /halt 60 exchange outage"
        if len(args) < 2:
            return usage
        text = args[0]
        limit = breaker_commands.MAX_MINUTES
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= limit:
            return f"Not done: <minutes> {printable(text, 20)!r} is not 1-{limit}. {usage}"
        reason = printable(" ".join(args[1:]), MAX_REASON)
        until = breaker_commands.resolve_until(minutes=int(text), until=None, now=now)
        change = breaker_commands.enable(
            self.settings.breaker_file,
            reason=f"{reason} [Telegram /halt by {caller.describe()}]",
            until=until,
            recorder=self.registry,
            now=now,
        )
        return (
            f"Circuit breaker ACTIVE until {iso_utc(until) if until else '?'}: entries and runs "
            f"stop. Reason: {reason}. Incident {change.incident_id}."
        )

    def _resume(self, caller: Caller, now: datetime) -> str:
        change = breaker_commands.disable(
            self.settings.breaker_file,
            reason=f"Telegram /resume by {caller.describe()}",
            recorder=self.registry,
            now=now,
        )
        was = "was active" if change.changed else "it was not active"
        return f"Circuit breaker disabled ({was}). Incident {change.incident_id}."

    def refuse(self, caller: Caller, text: str) -> None:
        """A chat that is not obeyed: log, record an incident (rate-limited), answer nothing."""
        command = printable(text)
        log_event(
            _log,
            logging.WARNING,
            Event.TELEGRAM_COMMAND_REFUSED,
            correlation_id=self.correlation_id,
            chat_id=caller.chat_id,
            user=caller.describe(),
            command=command,
        )
        self.refusals.report(
            f"telegram_unauthorized:{caller.chat_id}",
            severity="warning",
            description=(
                f"Telegram command from a chat not in TELEGRAM_ALLOWED_CHAT_IDS refused "
                f'(nothing done, no answer): {caller.describe()} sent "{command}"'
            ),
            now=self.clock(),
        )
