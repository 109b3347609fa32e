"""Several real processes queue and deliver one chat at once: each message once, in order."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.registry import Registry
from app.registry.models import OutboxMessage
from tests.fakes.telegram_api import FakeTelegram

DELIVERER = Path(__file__).resolve().with_name("outbox_deliverer.py")
TOKEN = "123456789:AAHconcurrencyconcurrencyconcurrency1"
WORKERS, EACH = 3, 5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each backend, migrated before the workers race."""
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    else:
        db_url = request.getfixturevalue("postgres_server").new_database()
    with Registry(db_url) as registry:
        registry.upgrade()
    return db_url


def test_outbox_when_3_processes_queue_and_deliver_at_once_then_each_once_in_order(
    url: str, tmp_path: Path
) -> None:
    """3 processes x 5 messages, each delivering after every message it queues, and the
    first sends failing with 502: Telegram receives every message exactly once, in the
    outbox's id order."""
    start = tmp_path / "go"
    with FakeTelegram({TOKEN}) as tg:
        tg.fail(3, status=502, methods={"sendMessage"})
        children = [
            subprocess.Popen(
                [sys.executable, str(DELIVERER), url, tg.url, TOKEN, str(n), str(EACH), str(start)],
                cwd=tmp_path,  # their log lines go to tmp_path/user_data/logs
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(WORKERS)
        ]
        time.sleep(1.0)  # let every interpreter reach the barrier
        start.touch()
        results = [child.communicate(timeout=120) for child in children]
        received = [m.text for m in tg.messages]
        failed = [status for method, status, _ in tg.requests.log if status == "502"]

    for child, (_out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err[-2000:]
    with Registry(url) as registry, registry.session() as session:
        query = select(OutboxMessage.text, OutboxMessage.status).order_by(OutboxMessage.id)
        rows = session.execute(query).all()
    assert len(failed) == 3
    assert {status for _, status in rows} == {"sent"}
    assert len(received) == WORKERS * EACH == len(set(received))
    assert received == [text for text, _ in rows]
