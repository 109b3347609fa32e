"""Where a drill's evidence comes from: the bot's trade database, the guard's JSON log
lines, the bot's REST API. Every reader only reads, and none raises for a source that is
not there yet (a bot still starting): it returns what it has, and says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.drill.botconfig import ApiAccess

# -- THE TRADE DATABASE --------------------------------------------------------------------


@dataclass(frozen=True)
class TradeRow:
    """One trade of Freqtrade's ``trades`` table (times in epoch ms)."""

    id: int
    pair: str
    open_ms: int
    close_ms: int | None
    is_open: bool
    amount: float
    exit_reason: str | None
    profit_abs: float | None = None  # realised profit in stake currency (closed trades)
    entry_ms: int | None = None  # when the entry order was placed, right after the guard's
    # confirm; ``open_ms`` comes later, once the (dry-run) order has been priced and filled

    @property
    def decided_ms(self) -> int:
        """When the entry was decided: the entry order's time, else the trade's open time."""
        return self.entry_ms if self.entry_ms is not None else self.open_ms

    def open_at(self, moment_ms: int) -> bool:
        """True when the trade was open at ``moment_ms``."""
        return self.open_ms <= moment_ms and (self.close_ms is None or moment_ms < self.close_ms)


def _ms(text: str | None) -> int | None:
    """Epoch ms of a naive UTC time (Freqtrade stores ``YYYY-MM-DD HH:MM:SS[.ffffff]``);
    None for no or unparsable text."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(str(text)).replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class TradeBook:
    """The trades and order ids in the database at one moment."""

    trades: tuple[TradeRow, ...]
    order_ids: tuple[str, ...]

    def open_trades(self) -> list[TradeRow]:
        return [t for t in self.trades if t.is_open]


EMPTY_BOOK = TradeBook((), ())


def read_trades(db_file: Path) -> TradeBook | None:
    """The trade database as it is now; None while it cannot be read (not created yet,
    locked for longer than 5 s).

    ``query_only`` guarantees the drill never writes; SQLite may still roll back a hot
    journal a killed bot left, as Freqtrade itself would on its next start.
    """
    if not db_file.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(db_file, timeout=5)) as conn:
            conn.execute("PRAGMA query_only = ON")
            rows = conn.execute(
                "SELECT id, pair, open_date, close_date, is_open, amount, exit_reason, "
                "close_profit_abs FROM trades ORDER BY id"
            ).fetchall()
            orders = conn.execute(
                "SELECT order_id FROM orders WHERE order_id IS NOT NULL ORDER BY id"
            ).fetchall()
            placed = dict(
                conn.execute("SELECT ft_trade_id, MIN(order_date) FROM orders GROUP BY ft_trade_id")
            )
    except sqlite3.Error:
        return None
    trades = tuple(
        TradeRow(
            id=int(r[0]),
            pair=str(r[1]),
            open_ms=_ms(r[2]) or 0,
            close_ms=_ms(r[3]),
            is_open=bool(r[4]),
            amount=float(r[5]),
            exit_reason=r[6],
            profit_abs=None if r[7] is None else float(r[7]),
            entry_ms=_ms(placed.get(r[0])),
        )
        for r in rows
    )
    return TradeBook(trades, tuple(str(o[0]) for o in orders))


# -- THE GUARD'S LOG LINES -----------------------------------------------------------------


@dataclass(frozen=True)
class GuardLine:
    """One JSON line of the guard (or the runner) from a bot's output."""

    ms: int
    message: str
    fields: dict[str, Any]
    bot: int


GUARD_MESSAGES = frozenset(
    {
        "guard_started",
        "entry_refused",
        "risk_state_changed",
        "circuit_breaker_tripped",
        "guard_error",
        "run_started",
        "run_failed",
        "run_stopped",
        "run_succeeded",
    }
)


def parse_lines(lines: Iterable[str], bot: int) -> list[GuardLine]:
    """The guard's and the runner's JSON lines among a bot's output (Freqtrade's own text
    lines and anything that is not one of those events are skipped)."""
    out = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or record.get("message") not in GUARD_MESSAGES:
            continue
        ms = _ms(str(record.get("ts", "")).replace("Z", ""))
        if ms is None:
            continue
        out.append(GuardLine(ms, str(record["message"]), record, bot))
    return out


def read_guard_lines(log_file: Path, bot: int) -> list[GuardLine]:
    """All guard/runner events in one bot's output file."""
    if not log_file.is_file():
        return []
    with log_file.open(encoding="utf-8", errors="replace") as handle:
        return parse_lines(handle, bot)


# -- THE BOT'S REST API --------------------------------------------------------------------


class BotApi:
    """Freqtrade's REST API of one drill bot (freqtrade-client), answers or None."""

    def __init__(self, access: ApiAccess) -> None:
        from freqtrade_client import FtRestClient

        # The client logs a WARNING per refused connection while the bot starts: quiet it.
        logging.getLogger("ft_rest_client").setLevel(logging.ERROR)
        self._client = FtRestClient(access.url, access.username, access.password, timeout=5)

    def _get(self, method: str) -> Any:
        try:
            return getattr(self._client, method)()
        except Exception:  # noqa: BLE001  # any failure means "no answer" to the drill
            return None

    def open_trade_ids(self) -> list[int] | None:
        """Ids of the bot's open trades (``/api/v1/status``), None when it does not answer."""
        answer = self._get("status")
        if not isinstance(answer, list):
            return None
        return [int(t["trade_id"]) for t in answer if isinstance(t, dict) and "trade_id" in t]

    def last_loop_ms(self) -> int | None:
        """When the bot's loop last ran (``/api/v1/health``), None when unknown."""
        answer = self._get("health")
        if not isinstance(answer, dict) or answer.get("last_process_ts") is None:
            return None
        return int(answer["last_process_ts"]) * 1000
