"""The Telegram outbox on SQLite and PostgreSQL: rate limit, once-only keys, leases, order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from app.registry import Registry
from app.registry.models import OutboxChat, OutboxMessage
from app.registry.outbox import NewMessage, Outbox, Queued, RateLimit

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LIMIT = RateLimit(3, timedelta(seconds=60), "breaker changes")
LEASE = timedelta(seconds=30)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def shared_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """One migrated registry per backend for the module (migrating costs ~1 s per database)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('outbox') / 'registry.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database()
    with Registry(url) as registry:
        yield registry


@pytest.fixture
def registry(shared_registry: Registry) -> Registry:
    """The module's registry with empty outbox tables."""
    with shared_registry.session(write=True) as session:
        session.execute(delete(OutboxMessage))
        session.execute(delete(OutboxChat))
    return shared_registry


def _msg(text: str, *, key: str = "cb", chat: str = "42", **more: object) -> NewMessage:
    return NewMessage(chat, "circuit_breaker_enabled", "warning", text, key, LIMIT, **more)  # type: ignore[arg-type]


def _deliver_all(outbox: Outbox, chat: str, now: datetime) -> list[str]:
    sent = []
    while (claim := outbox.claim_next(chat, "me", now, LEASE)).item is not None:
        outbox.mark_sent(claim.item.id, now, None)
        sent.append(claim.item.text)
    return sent


def test_add_when_flapping_then_burst_queued_and_the_rest_folded_into_one_summary(
    registry: Registry,
) -> None:
    """20 changes in a minute: 3 go out as they come, 17 become one held summary."""
    outbox = Outbox(registry)
    results = [outbox.add(_msg(f"change {n}"), T0 + timedelta(seconds=n)) for n in range(20)]

    assert results[:3] == [Queued.QUEUED] * 3
    assert results[3] == Queued.HELD
    assert set(results[4:]) == {Queued.FOLDED}
    assert _deliver_all(outbox, "42", T0 + timedelta(seconds=30)) == [
        "change 0",
        "change 1",
        "change 2",
    ]
    (held,) = outbox.items(["held"])
    assert held.text.startswith("... and 17 more breaker changes (rate limit: 3 messages per 60 s)")
    assert held.text.endswith("change 19")


def test_claim_when_summary_window_ends_then_summary_delivered(registry: Registry) -> None:
    """The held summary is not deliverable before its window ends, and is after it."""
    outbox = Outbox(registry)
    for n in range(5):
        outbox.add(_msg(f"change {n}"), T0)
    _deliver_all(outbox, "42", T0)

    assert outbox.claim_next("42", "me", T0 + timedelta(seconds=59), LEASE).item is None
    later = _deliver_all(outbox, "42", T0 + timedelta(seconds=61))
    assert len(later) == 1
    assert "and 2 more breaker changes" in later[0]
    assert later[0].endswith("change 4")


def test_add_when_other_keys_or_chats_then_limited_separately(registry: Registry) -> None:
    """The limit is per chat and key: another event or chat is not held back."""
    outbox = Outbox(registry)
    for n in range(3):
        outbox.add(_msg(f"cb {n}"), T0)

    assert outbox.add(_msg("run refused", key="run_refused"), T0) is Queued.QUEUED
    assert outbox.add(_msg("cb to another chat", chat="7"), T0) is Queued.QUEUED
    assert outbox.add(_msg("cb 3"), T0 + timedelta(seconds=61)) is Queued.QUEUED


def test_add_when_unique_key_seen_then_duplicate_not_written(registry: Registry) -> None:
    """One breaker expiry seen by several bots is queued once."""
    outbox = Outbox(registry)
    first = outbox.add(_msg("expired", unique_key="expired:12:30"), T0)
    other_bot = Outbox(registry, source="another bot")
    again = other_bot.add(_msg("expired", unique_key="expired:12:30"), T0)

    assert (first, again) == (Queued.QUEUED, Queued.DUPLICATE)
    assert outbox.counts()["pending"] == 1


def test_claim_when_another_holder_has_the_lease_then_busy_until_it_expires(
    registry: Registry,
) -> None:
    """One deliverer per chat; a dead deliverer's lease runs out and another takes over."""
    outbox = Outbox(registry)
    outbox.add(_msg("a"), T0)
    first = outbox.claim_next("42", "bot-1", T0, LEASE)

    busy = outbox.claim_next("42", "cli-2", T0 + timedelta(seconds=10), LEASE)
    taken = outbox.claim_next("42", "cli-2", T0 + timedelta(seconds=31), LEASE)

    assert first.item is not None
    assert (busy.item, busy.busy) == (None, True)
    assert taken.item is not None
    assert (taken.item.id, taken.item.attempts) == (first.item.id, 2)


def test_claim_when_first_message_failed_then_it_stays_first_in_line(
    registry: Registry,
) -> None:
    """A transient failure keeps the order: the failed message is offered again first."""
    outbox = Outbox(registry)
    outbox.add(_msg("first", key="a"), T0)
    outbox.add(_msg("second", key="b"), T0)
    item = outbox.claim_next("42", "me", T0, LEASE).item
    assert item is not None
    outbox.mark_failed(item.id, "ConnectError", permanent=False)
    outbox.release("42", "me")

    again = outbox.claim_next("42", "other", T0, LEASE).item
    assert again is not None
    assert (again.text, again.last_error) == ("first", "ConnectError")


def test_claim_when_message_refused_for_good_then_dead_and_next_goes(
    registry: Registry,
) -> None:
    """A message Telegram refuses (400) is given up; the chat is not blocked by it."""
    outbox = Outbox(registry)
    outbox.add(_msg("bad", key="a"), T0)
    outbox.add(_msg("good", key="b"), T0)
    item = outbox.claim_next("42", "me", T0, LEASE).item
    assert item is not None
    outbox.mark_failed(item.id, "BadRequest: chat not found", permanent=True)

    assert _deliver_all(outbox, "42", T0) == ["good"]
    assert outbox.counts() == {"pending": 0, "held": 0, "sent": 1, "dead": 1}


def test_claim_when_paused_by_telegram_then_nobody_sends_until_then(registry: Registry) -> None:
    """A 429 pause is stored for every process and lifts on time."""
    outbox = Outbox(registry)
    outbox.add(_msg("a"), T0)
    outbox.pause("42", T0 + timedelta(seconds=5))

    paused = outbox.claim_next("42", "other", T0 + timedelta(seconds=4), LEASE)
    assert paused.paused_until == T0 + timedelta(seconds=5)
    assert outbox.claim_next("42", "other", T0 + timedelta(seconds=5), LEASE).item is not None


def test_chats_with_work_when_rows_waiting_then_listed(registry: Registry) -> None:
    """Only chats with a deliverable message are listed (a held summary counts when due)."""
    outbox = Outbox(registry)
    for n in range(4):
        outbox.add(_msg(f"m{n}", chat="7"), T0)
    _deliver_all(outbox, "7", T0)
    outbox.add(_msg("x", chat="42", key="other"), T0)

    assert outbox.chats_with_work(T0) == ["42"]
    assert outbox.chats_with_work(T0 + timedelta(seconds=61)) == ["42", "7"]


def test_purge_when_old_sent_rows_then_only_those_deleted(registry: Registry) -> None:
    """Purging removes the chosen status older than the cut-off, nothing else."""
    outbox = Outbox(registry)
    outbox.add(_msg("old", key="a"), T0 - timedelta(days=40))
    outbox.add(_msg("new", key="b"), T0)
    outbox.add(_msg("waiting", key="c"), T0 - timedelta(days=40))
    for _ in range(2):
        claim = outbox.claim_next("42", "me", T0, LEASE)
        assert claim.item is not None
        outbox.mark_sent(claim.item.id, T0, 1)

    assert outbox.purge(["sent"], before=T0 - timedelta(days=30)) == 1
    assert outbox.counts() == {"pending": 1, "held": 0, "sent": 1, "dead": 0}


def test_add_when_text_over_telegram_limit_then_cut_to_fit(registry: Registry) -> None:
    """A message never exceeds Telegram's 4096 characters."""
    outbox = Outbox(registry)
    outbox.add(_msg("x" * 10_000), T0)
    (item,) = outbox.items(["pending"])
    assert len(item.text) == 4096
    assert item.text.endswith("... (cut)")


@pytest.mark.parametrize("severity", ["error", "critical"])
def test_fold_when_worse_event_folded_then_summary_takes_the_worse_severity(
    registry: Registry, severity: str
) -> None:
    """A summary is as severe as the worst event it stands for."""
    outbox = Outbox(registry)
    for n in range(4):
        outbox.add(_msg(f"m{n}"), T0)
    worse = NewMessage("42", "x", severity, "worse", "cb", LIMIT)
    outbox.add(worse, T0)
    (held,) = outbox.items(["held"])
    assert held.severity == severity
