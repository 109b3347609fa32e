"""The process notifier: callers never wait, the outbox keeps messages, fallbacks say so."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.errors import RegistryError
from app.logs import configure_logging, reset_logging
from app.registry.outbox import Outbox
from app.telegram.events import BREAKER, Notice
from app.telegram.notifier import Notifier
from tests.fakes.telegram_api import FakeTelegram
from tests.unit.telegram.conftest import CHAT, SECRET, tg_settings


def _notice(headline: str = "Circuit breaker ENABLED") -> Notice:
    return Notice(
        "circuit_breaker_enabled",
        "warning",
        headline,
        (("reason", "test"),),
        "circuit_breaker",
        BREAKER,
        datetime.now(UTC),
        "corr-1",
        "run_1",
    )


@pytest.fixture
def notifiers() -> Iterator[list[Notifier]]:
    """Notifiers made by a test, closed after it (no thread outlives its fake server)."""
    made: list[Notifier] = []
    yield made
    for notifier in made:
        notifier.close()


def _make(made: list[Notifier], api_url: str, opener: Callable[[], Outbox]) -> Notifier:
    notifier = Notifier(tg_settings(api_url), opener=opener)
    made.append(notifier)
    return notifier


@pytest.fixture
def log_lines(tmp_path: Path) -> Iterator[Path]:
    """The ``tradingbot`` tree to a file (no Telegram handler: the test drives the notifier)."""
    path = tmp_path / "risk.jsonl"
    configure_logging(log_file=path, to_stderr=False, level=logging.DEBUG)
    yield path
    reset_logging()


def _lines(path: Path, message: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [row for row in rows if row["message"] == message]


def test_submit_when_telegram_hangs_then_caller_returns_at_once_and_message_arrives_later(
    tg: FakeTelegram, outbox: Outbox, log_lines: Path, notifiers: list[Notifier]
) -> None:
    """submit() only queues: while the send hangs the caller is already back; the
    message is in the outbox and reaches Telegram when it answers again."""
    tg.hang(3)
    notifier = _make(notifiers, tg.url, lambda: outbox)

    notifier.submit(_notice())
    still_busy = not notifier.flush(timeout=0.5)
    tg.hang(0)
    notifier.flush(timeout=30)
    notifier.submit(_notice("second"))  # the next event also retries the first one
    (first, *_rest) = tg.wait_for_messages(1, timeout=30)

    assert still_busy
    assert first.text.startswith("[WARNING] Circuit breaker ENABLED\nreason: test")
    assert "run_id run_1 | correlation_id corr-1" in first.text
    assert first.chat_id == str(CHAT)


def test_submit_when_registry_unusable_then_sent_directly(
    tg: FakeTelegram, log_lines: Path, notifiers: list[Notifier]
) -> None:
    """No outbox (registry broken): the message still goes out, not durably."""

    def broken() -> Outbox:
        raise RegistryError("registry at sqlite:///x is not a database")

    notifier = _make(notifiers, tg.url, broken)
    notifier.submit(_notice())
    (sent,) = tg.wait_for_messages(1, timeout=30)

    assert sent.text.startswith("[WARNING] Circuit breaker ENABLED")
    assert _lines(log_lines, "telegram_send_failed")


def test_submit_when_registry_and_telegram_down_then_text_kept_in_an_error_line(
    tg: FakeTelegram, log_lines: Path, notifiers: list[Notifier]
) -> None:
    """Nothing can hold the message: its text is written to the log at ERROR."""

    def broken() -> Outbox:
        raise RegistryError("registry down")

    tg.down()
    notifier = _make(notifiers, tg.url, broken)
    notifier.submit(_notice("Backup FAILED"))
    notifier.flush(timeout=30)

    (line,) = _lines(log_lines, "telegram_undelivered")
    assert line["level"] == "ERROR"
    assert "Backup FAILED" in str(line["text"])


def test_exit_flush_when_telegram_hangs_then_bounded_and_message_left_in_outbox(
    tg: FakeTelegram, outbox: Outbox, log_lines: Path, notifiers: list[Notifier]
) -> None:
    """At exit a hanging Telegram costs a bounded wait; the message stays in the outbox."""
    tg.hang(6)  # longer than the read timeout (4 s)
    notifier = _make(notifiers, tg.url, lambda: outbox)
    notifier.submit(_notice())
    notifier.exit_flush()

    (waiting,) = outbox.items(["pending"])
    assert "TimedOut" in str(waiting.last_error)
    assert tg.messages == []


def test_notifier_when_messages_logged_then_no_line_holds_the_token(
    tg: FakeTelegram, outbox: Outbox, log_lines: Path, notifiers: list[Notifier], tmp_path: Path
) -> None:
    """Sending, failing and the libraries' own logging leave no token in the log file."""
    root = logging.getLogger()
    old_level = root.level
    libraries = tmp_path / "libraries.log"  # what Freqtrade's root handlers would receive
    handler = logging.FileHandler(libraries)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # let httpx/telegram log everything they would
    try:
        tg.fail(1, status=502, methods={"sendMessage"})
        notifier = _make(notifiers, tg.url, lambda: outbox)
        notifier.submit(_notice())
        notifier.flush(timeout=30)
        notifier.submit(_notice("again"))
        tg.wait_for_messages(2, timeout=30)
    finally:
        root.setLevel(old_level)
        root.removeHandler(handler)
        handler.close()

    assert _lines(log_lines, "telegram_sent")
    assert "sendMessage" in libraries.read_text()  # the libraries did log their requests
    assert SECRET not in log_lines.read_text()
    assert SECRET not in libraries.read_text()
