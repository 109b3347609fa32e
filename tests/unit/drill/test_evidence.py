"""Evidence readers: the trade database, the guard's JSON lines, the bot's REST API."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from app.drill.botconfig import ApiAccess, free_port
from app.drill.evidence import BotApi, parse_lines, read_guard_lines, read_trades

T0_TEXT = "2026-11-30 11:22:48.223017"
T0_MS = 1796037768223


def make_db(path: Path) -> None:
    """The columns of Freqtrade's ``trades`` and ``orders`` tables that the drill reads."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE trades (id INTEGER PRIMARY KEY, pair TEXT, open_date TEXT, "
            "close_date TEXT, is_open BOOLEAN, amount REAL, exit_reason TEXT, "
            "close_profit_abs REAL)"
        )
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, ft_trade_id INTEGER, order_id TEXT, "
            "order_date TEXT)"
        )
        conn.execute(
            "INSERT INTO trades VALUES (1, 'A/BTC', ?, '2026-11-30 11:22:52', 0, 2.5, "
            "'drill_exit', -0.01)",
            (T0_TEXT,),
        )
        conn.execute(
            "INSERT INTO trades VALUES (2, 'B/BTC', ?, NULL, 1, 7, NULL, NULL)", (T0_TEXT,)
        )
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            [
                (1, 1, "dry_1", "2026-11-30 11:22:48.100"),
                (2, 1, "dry_2", "2026-11-30 11:22:51.900"),
                (3, 2, None, None),
            ],
        )


def test_read_trades_when_database_then_rows_with_epoch_ms(tmp_path: Path) -> None:
    """Trades come back with open/close times in epoch ms (Freqtrade stores naive UTC)."""
    db = tmp_path / "trades.sqlite"
    make_db(db)
    before = db.read_bytes()

    book = read_trades(db)

    assert book is not None
    first, second = book.trades
    assert (first.id, first.pair, first.open_ms) == (1, "A/BTC", T0_MS)
    assert first.close_ms == 1796037772000
    assert first.profit_abs == -0.01
    assert first.decided_ms == T0_MS - 123  # the entry order, placed before the trade opened
    assert second.decided_ms == second.open_ms  # no order time: the open time
    assert not first.is_open
    assert second.is_open and second.close_ms is None
    assert book.order_ids == ("dry_1", "dry_2")
    assert [t.id for t in book.open_trades()] == [2]
    assert db.read_bytes() == before  # read only


def test_read_trades_when_no_database_yet_then_none_and_nothing_created(tmp_path: Path) -> None:
    """Before the bot made its database there is nothing to read, and nothing is created."""
    db = tmp_path / "missing.sqlite"
    assert read_trades(db) is None
    assert not db.exists()


def test_read_trades_when_not_a_trade_database_then_none(tmp_path: Path) -> None:
    """A file without the tables (or locked, or corrupt) reads as "not yet"."""
    db = tmp_path / "other.sqlite"
    sqlite3.connect(db).close()
    assert read_trades(db) is None


def test_read_trades_when_freqtrade_schema_then_every_column_exists() -> None:
    """The columns the drill reads exist in Freqtrade's own models (a Freqtrade upgrade that
    renames one fails here instead of in a drill)."""
    from freqtrade.persistence import Order, Trade

    trade_columns = set(Trade.__table__.columns.keys())
    order_columns = set(Order.__table__.columns.keys())
    wanted = {"id", "pair", "open_date", "close_date", "is_open", "amount", "exit_reason"}
    assert wanted | {"close_profit_abs"} <= trade_columns
    assert {"id", "order_id", "ft_trade_id", "order_date"} <= order_columns


def test_parse_lines_when_mixed_output_then_only_guard_and_runner_events() -> None:
    """Freqtrade's text lines, other JSON and broken JSON are skipped; events keep fields."""
    refused = {
        "ts": "2026-11-30T11:22:48.223Z",
        "message": "entry_refused",
        "reason": "STALE_DATA",
        "pair": "A/BTC",
    }
    lines = [
        "2026-11-30 11:22:48,223 - freqtrade - INFO - hello\n",
        json.dumps(refused) + "\n",
        json.dumps({"ts": "2026-11-30T11:22:49Z", "message": "slot_acquired"}) + "\n",
        '{"ts": "2026-11-30T11:22:49Z", "message": "entry_ref\n',
        json.dumps({"message": "risk_state_changed"}) + "\n",
        "{'fetchMarkets': {'types': ['spot']}}\n",
    ]
    (found,) = parse_lines(lines, bot=2)
    assert (found.ms, found.message, found.bot) == (T0_MS, "entry_refused", 2)
    assert found.fields["reason"] == "STALE_DATA"


def test_read_guard_lines_when_no_output_file_then_empty(tmp_path: Path) -> None:
    """A bot that never wrote output has no lines."""
    assert read_guard_lines(tmp_path / "bot-1.log", 1) == []


def test_bot_api_when_nothing_listens_then_no_answer() -> None:
    """A bot whose API is not up answers nothing (None), never an exception."""
    api = BotApi(ApiAccess(free_port()))
    assert api.open_trade_ids() is None
    assert api.last_loop_ms() is None
