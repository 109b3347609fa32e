"""What a drill expects: the names a scenario's ``expect`` list may hold.

=============================  ============================================================
``bot_survives``               every bot stays alive unless an action stopped it, and the
                               last one's loop still runs at the end
``no_duplicate_trades``        never two open trades on one pair, no order id twice, no
                               trade lost or doubled (also across restarts)
``no_entries_while_breaker_on``  no trade opens from one loop after ``breaker_on`` until
                               ``breaker_off``
``entries_resume``             a trade opens after the last fault or action ended
``trades_survive_restart``     trades open at ``kill_bot``/``stop_bot`` are open, once,
                               after ``start_bot`` (or closed by the restarted bot)
``refusals:REASON``            the guard refused an entry with REASON at least once
``halted:REASON``              the guard's risk state went HALTED with REASON
=============================  ============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.errors import ConfigError
from app.risk.decision import Reason


class Check(StrEnum):
    """The kinds of expectation."""

    BOT_SURVIVES = "bot_survives"
    NO_DUPLICATE_TRADES = "no_duplicate_trades"
    NO_ENTRIES_WHILE_BREAKER_ON = "no_entries_while_breaker_on"
    ENTRIES_RESUME = "entries_resume"
    TRADES_SURVIVE_RESTART = "trades_survive_restart"
    REFUSALS = "refusals"
    HALTED = "halted"


# Reasons an entry can be refused with (the run gates' reasons never reach a bot's entries).
ENTRY_REASONS = frozenset(Reason) - {
    Reason.ALLOWED,
    Reason.CONCURRENCY_LIMIT,
    Reason.MAX_DD_BLOCK,
    Reason.REGISTRY_ERROR,
}
# Reasons whose rule puts the account in HALTED (COOLDOWN is the losing streak's state).
HALT_REASONS = frozenset({Reason.CIRCUIT_BREAKER, Reason.DAILY_DRAWDOWN, Reason.DAILY_LOSS_CAP})
_WITH_REASON = {Check.REFUSALS: ENTRY_REASONS, Check.HALTED: HALT_REASONS}


@dataclass(frozen=True)
class Expectation:
    """One expectation; ``reason`` for ``refusals:`` and ``halted:``."""

    check: Check
    reason: Reason | None = None

    def __str__(self) -> str:
        return f"{self.check.value}:{self.reason.value}" if self.reason else self.check.value

    def check_scenario(
        self, actions: Sequence[Any], *, running_at_end: bool, breaker_at_end: bool
    ) -> None:
        """Refuse an expectation that the scenario's own actions make meaningless.

        ``actions`` are the scenario's action names in time order.
        """
        names = [str(a) for a in actions]
        problem = None
        if self.check is Check.NO_ENTRIES_WHILE_BREAKER_ON and "breaker_on" not in names:
            problem = "the scenario never turns the breaker on (add a breaker_on action)"
        if self.check is Check.TRADES_SURVIVE_RESTART:
            stops = [i for i, n in enumerate(names) if n in ("kill_bot", "stop_bot")]
            if not stops or "start_bot" not in names[stops[0] :]:
                problem = "it needs a kill_bot or stop_bot followed by a start_bot"
        if self.check is Check.ENTRIES_RESUME and not running_at_end:
            problem = "the scenario ends with the bot stopped (add a start_bot)"
        if self.check is Check.ENTRIES_RESUME and breaker_at_end:
            problem = "the scenario ends with the breaker on (add a breaker_off)"
        if problem:
            raise ConfigError(f"expect {self}: {problem}")


def parse_expectation(text: Any, where: str) -> Expectation:
    """``"entries_resume"`` or ``"refusals:STALE_DATA"`` -> :class:`Expectation`."""
    if not isinstance(text, str):
        raise ConfigError(f"{where}: {text!r} is not an expectation name")
    name, _, arg = text.partition(":")
    try:
        check = Check(name)
    except ValueError:
        names = ", ".join(c.value if c not in _WITH_REASON else f"{c.value}:REASON" for c in Check)
        raise ConfigError(f"{where}: unknown expectation {text!r}; use one of {names}") from None
    allowed = _WITH_REASON.get(check)
    if allowed is None:
        if arg:
            raise ConfigError(f"{where}: {name} takes no argument; write just {name!r}")
        return Expectation(check)
    codes = ", ".join(sorted(r.value for r in allowed))
    try:
        reason = Reason(arg)
    except ValueError:
        raise ConfigError(
            f"{where}: {text!r} names no reason code; use {name}:REASON with one of {codes}"
        ) from None
    if reason not in allowed:
        what = "halts for" if check is Check.HALTED else "refuses entries with"
        raise ConfigError(f"{where}: the guard never {what} {reason.value}; use one of {codes}")
    return Expectation(check, reason)


def parse_expectations(raw: Any, where: str) -> list[Expectation]:
    """The ``expect`` list: at least one, no duplicates."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f'{where}: "expect" must be a non-empty list, e.g. ["bot_survives", '
            '"no_duplicate_trades"]; a drill that expects nothing proves nothing'
        )
    out: list[Expectation] = []
    for index, text in enumerate(raw):
        expectation = parse_expectation(text, f"{where}: expect[{index}]")
        if expectation in out:
            raise ConfigError(f"{where}: expect[{index}] {text!r} is listed twice")
        out.append(expectation)
    return out
