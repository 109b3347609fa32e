"""Everything a drill saw, gathered while it ran; the expectations are judged on this alone.

Times are epoch milliseconds; ``t0_ms`` is the moment the bot was trading (the scenario's
``at_s`` count from there). :meth:`Observations.t` turns a time into the report's
``t+12.3s`` form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.drill.bot import BotLife
from app.drill.evidence import EMPTY_BOOK, GuardLine, TradeBook, TradeRow
from app.drill.scenario import Action
from app.offline_exchange.faults import FaultEvent


@dataclass
class FaultRecord:
    """A scheduled fault, its window and how many requests it hit."""

    event: FaultEvent
    start_ms: int
    end_ms: int
    hits: int = 0


@dataclass
class ActionRecord:
    """An action the drill performed."""

    action: Action
    planned_ms: int
    done_ms: int
    detail: str
    ok: bool = True
    began_ms: int | None = None  # when it started (a breaker change takes effect then)

    @property
    def effective_ms(self) -> int:
        """When the action took effect: its start (the breaker file is written first, the
        incident after), else its end."""
        return self.began_ms if self.began_ms is not None else self.done_ms


@dataclass
class RestartRecord:
    """A bot stopped (``kill_bot``/``stop_bot``) and what the next start made of its trades."""

    stopped_ms: int
    open_before: list[TradeRow]
    started_ms: int | None = None
    api_open: list[int] | None = None  # open trade ids the restarted bot reported
    api_ms: int | None = None


@dataclass
class Observations:
    """The drill's record."""

    t0_ms: int | None = None  # None: the bot never traded, nothing was exercised
    end_ms: int = 0
    quiet_ms: int = 0  # the last fault or action was over by then
    faults: list[FaultRecord] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    bots: list[BotLife] = field(default_factory=list)
    book: TradeBook = EMPTY_BOOK  # the trade database after the drill
    seen: dict[int, TradeRow] = field(default_factory=dict)  # every trade seen while it ran
    guard: list[GuardLine] = field(default_factory=list)
    restarts: list[RestartRecord] = field(default_factory=list)
    last_loop_ms: int | None = None  # the last bot's loop, asked just before the end
    pauses: list[tuple[int, int]] = field(default_factory=list)  # (from, length ms) actions
    resume_wait_ms: int = 0  # how long past the scenario's end the drill waited for entries
    startup_problem: str | None = None

    def t(self, ms: int | None) -> str:
        """``t+12.3s`` relative to the moment the bot was trading."""
        if ms is None:
            return "never"
        base = self.t0_ms if self.t0_ms is not None else ms
        return f"t{(ms - base) / 1000:+.1f}s"

    def t_s(self, ms: int) -> float:
        base = self.t0_ms if self.t0_ms is not None else ms
        return round((ms - base) / 1000, 3)

    def lines(self, message: str) -> list[GuardLine]:
        return [line for line in self.guard if line.message == message]

    def refusals(self, reason: str | None = None) -> list[GuardLine]:
        return [
            line
            for line in self.lines("entry_refused")
            if reason is None or line.fields.get("reason") == reason
        ]

    def entries(self) -> list[TradeRow]:
        """Trades of the final database, by opening time."""
        return sorted(self.book.trades, key=lambda trade: (trade.open_ms, trade.id))
