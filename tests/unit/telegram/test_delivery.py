"""Outbox to the (fake) Bot API: 429 obeyed, outages keep the order, refusals give up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.redaction import Redactor
from app.registry.outbox import NewMessage, Outbox, RateLimit
from app.telegram.client import Sender, make_bot, redactor_for
from app.telegram.delivery import LEASE, Report, deliver_all
from tests.fakes.telegram_api import FakeTelegram
from tests.unit.telegram.conftest import CHAT, SECRET, TOKEN, tg_settings

NO_LIMIT = RateLimit(100, timedelta(seconds=60), "messages")


def _queue(outbox: Outbox, *texts: str) -> None:
    for text in texts:
        outbox.add(NewMessage(str(CHAT), "test", "info", text, text, NO_LIMIT), datetime.now(UTC))


def _deliver(
    outbox: Outbox, tg: FakeTelegram, *, budget_s: float = 10.0, token: str = TOKEN
) -> Report:
    settings = tg_settings(tg.url, token=token)

    async def go() -> Report:
        sender = Sender(make_bot(settings, connect_s=1, read_s=1), redactor_for(settings))
        try:
            return await deliver_all(outbox, sender, holder="test", budget_s=budget_s)
        finally:
            await sender.close()

    return asyncio.run(go())


def test_deliver_when_telegram_answers_then_all_sent_in_order(
    outbox: Outbox, tg: FakeTelegram
) -> None:
    """Every waiting message goes out once, oldest first, and is marked sent."""
    _queue(outbox, "one", "two", "three")

    report = _deliver(outbox, tg)

    assert (report.sent, report.waiting) == (3, False)
    assert [m.text for m in tg.messages] == ["one", "two", "three"]
    assert outbox.counts()["sent"] == 3


def test_deliver_when_429_then_waits_retry_after_and_sends_the_same_message(
    outbox: Outbox, tg: FakeTelegram
) -> None:
    """Telegram's retry_after is obeyed: the next request comes no sooner than it says."""
    _queue(outbox, "one", "two")
    tg.rate_limit(1, retry_after=1, methods={"sendMessage"})

    report = _deliver(outbox, tg)

    limited, first, _second = [t for m, _, t in tg.requests.log if m == "sendMessage"]
    assert [s for m, s, _ in tg.requests.log if m == "sendMessage"] == ["429", "200", "200"]
    assert first - limited >= 1.0
    assert [m.text for m in tg.messages] == ["one", "two"]
    assert report.sent == 2


def test_deliver_when_retry_after_exceeds_budget_then_left_and_pause_shared(
    outbox: Outbox, tg: FakeTelegram
) -> None:
    """A long pause is not waited out by a short-lived sender; every process sees it."""
    _queue(outbox, "one")
    tg.rate_limit(1, retry_after=30, methods={"sendMessage"})

    report = _deliver(outbox, tg, budget_s=3)

    assert (report.sent, report.waiting) == (0, True)
    claim = outbox.claim_next(str(CHAT), "another process", datetime.now(UTC), LEASE)
    assert claim.item is None
    assert claim.paused_until is not None
    assert claim.paused_until > datetime.now(UTC) + timedelta(seconds=20)


def test_deliver_when_5xx_then_message_kept_first_and_order_holds(
    outbox: Outbox, tg: FakeTelegram
) -> None:
    """A 502 stops the round; the next round sends the same first message, then the rest."""
    _queue(outbox, "one", "two")
    tg.fail(1, status=502, methods={"sendMessage"})

    first = _deliver(outbox, tg)
    second = _deliver(outbox, tg)

    assert (first.sent, first.waiting) == (0, True)
    assert "NetworkError" in str(first.problem)
    assert second.sent == 2
    assert [m.text for m in tg.messages] == ["one", "two"]


def test_deliver_when_telegram_down_then_nothing_lost(outbox: Outbox, tg: FakeTelegram) -> None:
    """Connection refused: the messages wait; once Telegram is back they all go out."""
    _queue(outbox, "one", "two")
    tg.down()
    during = _deliver(outbox, tg)
    tg.up()
    after = _deliver(outbox, tg)

    assert (during.sent, during.waiting) == (0, True)
    assert after.sent == 2
    assert [m.text for m in tg.messages] == ["one", "two"]


def test_deliver_when_telegram_hangs_then_round_ends_at_the_timeout(
    outbox: Outbox, tg: FakeTelegram
) -> None:
    """A hanging API costs one read timeout, then the message waits for the next round."""
    _queue(outbox, "one")
    tg.hang(5)

    report = _deliver(outbox, tg)

    assert (report.sent, report.waiting) == (0, True)
    assert "TimedOut" in str(report.problem)
    assert outbox.counts()["pending"] == 1


def test_deliver_when_400_then_that_message_dead_and_the_next_sent(
    outbox: Outbox, tg: FakeTelegram
) -> None:
    """A message Telegram refuses for good is given up and does not block the chat."""
    _queue(outbox, "refused", "fine")
    tg.fail(1, status=400, methods={"sendMessage"})

    report = _deliver(outbox, tg)

    assert (report.sent, report.dead) == (1, 1)
    assert [m.text for m in tg.messages] == ["fine"]
    (dead,) = outbox.items(["dead"])
    assert dead.text == "refused"
    assert "BadRequest" in str(dead.last_error)


def test_deliver_when_token_rejected_then_stops_and_error_holds_no_token(
    outbox: Outbox, tg: FakeTelegram
) -> None:
    """401: nothing more is tried, the message waits, and no error text carries the token."""
    wrong = "111111111:AAFwrongTokenwrongTokenwrongToken123"
    _queue(outbox, "one", "two")

    report = _deliver(outbox, tg, token=wrong)

    assert (report.sent, report.stop, report.waiting) == (0, True, True)
    item = outbox.items(["pending"])[0]
    assert "InvalidToken" in str(item.last_error)
    assert "TELEGRAM_BOT_TOKEN" in str(report.problem)
    for text in (str(report.problem), str(item.last_error)):
        assert wrong.split(":")[1] not in text
        assert SECRET not in text


def test_deliver_when_another_holder_delivers_the_chat_then_left_to_it(
    outbox: Outbox, tg: FakeTelegram
) -> None:
    """A chat leased by another process is not touched (that process keeps the order)."""
    _queue(outbox, "one")
    outbox.claim_next(str(CHAT), "another process", datetime.now(UTC), LEASE)

    report = _deliver(outbox, tg)

    assert (report.sent, report.waiting) == (0, True)
    assert tg.messages == []


def test_redactor_for_when_built_then_masks_token_and_its_secret_half() -> None:
    """The token in a URL, alone, or only its secret part: masked in every form."""
    redactor = redactor_for(tg_settings("http://127.0.0.1:1"))
    text = f"POST http://x/bot{TOKEN}/sendMessage; secret {SECRET}; {TOKEN}"
    assert SECRET not in redactor.redact(text)
    assert Redactor().contains_secret(f"bot{TOKEN}")
