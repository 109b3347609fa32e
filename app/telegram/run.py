"""Start the service (or ``--once``): checks first, then the event loop with signal handling."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from app.errors import ConfigError, TelegramError
from app.settings import RiskSettings
from app.telegram.service import Service, poller_lock, refuse_freqtrade_token
from app.telegram.settings import TelegramSettings


def run_service(
    settings: RiskSettings, tg: TelegramSettings, configs_dir: Path, *, once: bool
) -> list[str]:
    """Run ``tradingbot telegram [--once]``; return what to print (errors raise)."""
    if not tg.enabled:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: Telegram is off and this service has nothing to "
            "do; set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID (see .env.example)"
        )
    refuse_freqtrade_token(tg, configs_dir, os.environ)
    lock_dir = settings.state_dir
    with poller_lock(lock_dir) as sole:
        if not once and not sole:
            raise TelegramError(
                f"another `tradingbot telegram` polls on this host ({lock_dir}/"
                "telegram_poller.lock is held); two pollers of one token break each other"
            )
        service = Service(settings, tg)
        if once:
            return _once(service, polling=sole)
        asyncio.run(_serve(service))
    return []


def _once(service: Service, *, polling: bool) -> list[str]:
    lines = []
    if not polling:
        lines.append(
            "A `tradingbot telegram` service runs on this host: it answers the commands; "
            "delivering the outbox only."
        )
    report, batches = asyncio.run(service.once(polling=polling))
    counts = service.outbox.counts()
    waiting = counts["pending"] + counts["held"]
    lines.append(
        f"Delivered {report.sent} messages ({report.dead} refused by Telegram); "
        f"{waiting} waiting; {batches} batches of updates answered."
    )
    if report.waiting:
        raise TelegramError(
            f"messages still wait in the outbox: {report.problem or 'Telegram did not answer'}; "
            "they are delivered by the next sender or the service"
        )
    return lines


async def _serve(service: Service) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, service.stop.set)
    await service.serve()
