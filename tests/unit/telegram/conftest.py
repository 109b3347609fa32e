"""Fixtures for the Telegram tests: the fake Bot API, settings pointing at it, an outbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.logs import configure_logging, reset_logging
from app.registry import Registry
from app.registry.outbox import Outbox
from app.telegram.settings import TelegramSettings, load_telegram_settings
from tests.fakes.telegram_api import FakeTelegram

# A token of the real shape: the Redactor also recognises it by its form.
TOKEN = "987654321:AAFtestTokenOfTheOperationsBotXyZ12345"
SECRET = TOKEN.split(":", 1)[1]
CHAT = 4242


@pytest.fixture(autouse=True)
def _log_to_tmp(tmp_path: Path) -> Iterator[None]:
    """The ``tradingbot`` log tree writes to the test's folder, never to the repository's."""
    configure_logging(log_file=tmp_path / "risk.jsonl", to_stderr=False)
    yield
    reset_logging()


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    """The fake Bot API, accepting :data:`TOKEN`."""
    with FakeTelegram({TOKEN}) as fake:
        yield fake


def tg_settings(api_url: str, token: str = TOKEN, **more: str) -> TelegramSettings:
    """Telegram on, pointing at ``api_url``."""
    env = {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_CHAT_ID": str(CHAT), "TELEGRAM_API_URL": api_url}
    return load_telegram_settings({**env, **more}, dotenv_path=None)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """An outbox in a fresh SQLite registry."""
    with Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}") as registry:
        yield Outbox(registry)
