"""Child process for the outbox concurrency test: queue messages and deliver, racing others.

Usage: python outbox_deliverer.py DB_URL API_URL TOKEN WORKER COUNT START_FILE
After the start file appears: COUNT times (queue one message, run a delivery round), then
rounds until nothing waits. Prints nothing; the test reads the fake server and the table.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.redaction import Redactor
from app.registry import Registry
from app.registry.outbox import NewMessage, Outbox, RateLimit
from app.telegram.client import Sender, make_bot
from app.telegram.delivery import deliver_all
from app.telegram.settings import load_telegram_settings

NO_LIMIT = RateLimit(1000, timedelta(seconds=1), "messages")


async def main() -> int:
    url, api, token, worker, count = sys.argv[1:6]
    start = Path(sys.argv[6])
    tg = load_telegram_settings(
        {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_CHAT_ID": "42", "TELEGRAM_API_URL": api}, None
    )
    outbox = Outbox(Registry(url), source=f"worker {worker}")
    sender = Sender(make_bot(tg, connect_s=2, read_s=4), Redactor())
    outbox.counts()  # connect before the race starts
    while not start.exists():
        time.sleep(0.005)
    holder = f"worker-{worker}"
    for n in range(int(count)):
        text = f"w{worker}-{n}"
        outbox.add(NewMessage("42", "test", "info", text, text, NO_LIMIT), datetime.now(UTC))
        await deliver_all(outbox, sender, holder=holder, budget_s=5)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = outbox.counts()
        if counts["pending"] == 0:
            break
        await deliver_all(outbox, sender, holder=holder, budget_s=5)
        await asyncio.sleep(0.2)
    await sender.close()
    outbox.registry.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
