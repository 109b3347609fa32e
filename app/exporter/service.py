"""Assembles the exporter from the settings: its sources, its collector, its server."""

from __future__ import annotations

from app.exporter.bots import BotSource
from app.exporter.collector import Source, TradingbotCollector
from app.exporter.guard import GuardSource
from app.exporter.registry import RegistrySource
from app.exporter.server import ExporterServer
from app.exporter.settings import ExporterSettings
from app.exporter.state import BreakerSource, SlotsSource
from app.risk.slots import SlotManager
from app.settings import RiskSettings

# A bot source makes at most three requests, each bounded by the bot timeout.
REQUESTS_PER_BOT = 3


def build_sources(risk: RiskSettings, exporter: ExporterSettings) -> list[Source]:
    """Breaker, slots, registry, guard files, then one source per polled bot."""
    slots = SlotManager(
        risk.state_dir, limit=risk.max_concurrent_backtests, ttl_sec=risk.concurrency_ttl_sec
    )
    sources: list[Source] = [
        BreakerSource(risk.breaker_file),
        SlotsSource(slots.folder, limit=slots.limit, ttl_sec=slots.ttl_sec),
        RegistrySource(risk.database_url),
        GuardSource(risk.state_dir),
    ]
    sources += [BotSource(bot, timeout_s=exporter.bot_timeout_s) for bot in exporter.bots]
    return sources


def build_server(
    risk: RiskSettings, exporter: ExporterSettings, *, host: str, port: int
) -> ExporterServer:
    """The server, bound and ready to start; a scrape waits at most for the slowest bot."""
    deadline = REQUESTS_PER_BOT * exporter.bot_timeout_s + 1.0
    collector = TradingbotCollector(build_sources(risk, exporter), deadline_s=deadline)
    try:
        return ExporterServer(collector, host=host, port=port)
    except BaseException:
        collector.close()
        raise
