"""The fake Bot API answers python-telegram-bot as Telegram would, faults included."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from telegram import Bot
from telegram.error import NetworkError, RetryAfter

from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456:fake-token-for-tests"


@pytest.fixture
def tg() -> FakeTelegram:
    with FakeTelegram({TOKEN}) as fake:
        yield fake


def _bot(tg: FakeTelegram) -> Bot:
    return Bot(TOKEN, base_url=f"{tg.url}/bot")


def test_bot_when_sending_then_message_recorded(tg: FakeTelegram) -> None:
    """getMe and sendMessage through python-telegram-bot reach the fake and are recorded."""

    async def go() -> str:
        async with _bot(tg) as bot:
            await bot.send_message(chat_id=42, text="breaker enabled")
            return (await bot.get_me()).username

    assert asyncio.run(go()) == "tradingbot_ops_bot"
    [sent] = tg.messages
    assert (sent.chat_id, sent.text, sent.token) == ("42", "breaker enabled", TOKEN)


def test_updates_when_offset_given_then_acknowledged_ones_dropped(tg: FakeTelegram) -> None:
    """getUpdates returns queued commands; the next offset acknowledges them."""
    first = tg.push_update(chat_id=42, text="/status")
    tg.push_update(chat_id=7, text="/halt 30 test")

    async def go() -> tuple[list[str], int]:
        async with _bot(tg) as bot:
            updates = await bot.get_updates(timeout=0)
            await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
            return [u.message.text for u in updates], updates[0].update_id

    texts, update_id = asyncio.run(go())
    assert texts == ["/status", "/halt 30 test"]
    assert update_id == first
    assert tg.pending_updates == 0


def test_long_poll_when_update_arrives_then_answered_early(tg: FakeTelegram) -> None:
    """A long poll returns as soon as an update is pushed, not at its timeout."""

    async def go() -> float:
        async with _bot(tg) as bot:
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, lambda: tg.push_update(chat_id=1, text="/runs"))
            start = time.monotonic()
            await bot.get_updates(timeout=4)
            return time.monotonic() - start

    assert asyncio.run(go()) < 3.0


def test_faults_when_set_then_429_with_retry_after_5xx_and_down(tg: FakeTelegram) -> None:
    """429 carries retry_after; 5xx and a stopped server are network errors; up() recovers."""
    tg.rate_limit(1, retry_after=3)
    with pytest.raises(RetryAfter) as limited:
        asyncio.run(_send(tg))
    tg.fail(1, status=502)
    with pytest.raises(NetworkError):
        asyncio.run(_send(tg))
    tg.down()
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{tg.url}/bot{TOKEN}/getMe", timeout=2)
    tg.up()
    asyncio.run(_send(tg))

    assert "Retry in 3 seconds" in str(limited.value)
    assert len(tg.messages) == 1


def test_unknown_token_when_used_then_401(tg: FakeTelegram) -> None:
    """A wrong token is refused like Telegram refuses it."""
    answer = httpx.post(f"{tg.url}/bot999:wrong/sendMessage", json={"chat_id": 1, "text": "x"})

    assert answer.status_code == 401
    assert answer.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert tg.messages == []


async def _send(tg: FakeTelegram) -> None:
    async with _bot(tg) as bot:
        await bot.send_message(chat_id=42, text="x")
