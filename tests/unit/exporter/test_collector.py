"""The collector (app/exporter/collector.py): one failing source never fails the scrape."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.exporter.catalog import Batch
from app.exporter.collector import SourceError, TradingbotCollector
from tests.unit.risk.conftest import LogReader


class Fixed:
    """Reports the breaker as given."""

    def __init__(self, name: str, value: float) -> None:
        self.name, self.value = name, value

    def collect(self, batch: Batch, now: float) -> None:
        batch.add("tradingbot_circuit_breaker_active", self.value)


class Broken:
    """Adds one true sample, then fails (with an error of ours or a bug)."""

    def __init__(self, name: str, error: Exception) -> None:
        self.name, self.error = name, error

    def collect(self, batch: Batch, now: float) -> None:
        batch.add("tradingbot_backtest_slots_limit", 3.0)
        raise self.error


class Hanging:
    """Blocks until released (a hung disk or network call)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.release = threading.Event()
        self.calls = 0

    def collect(self, batch: Batch, now: float) -> None:
        self.calls += 1
        self.release.wait(10)
        batch.add("tradingbot_backtest_slots_in_use", 1.0)


def scrape(collector: TradingbotCollector) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    source = Hanging("hung")
    yield source
    source.release.set()


def test_collect_when_sources_fail_then_others_served_and_up_zero(risk_log: LogReader) -> None:
    """SourceError and a bug both give source_up 0; good samples of all sources stay."""
    collector = TradingbotCollector(
        [Fixed("ok", 1.0), Broken("ours", SourceError("no file")), Broken("bug", KeyError("x"))],
        deadline_s=5,
    )

    got = scrape(collector)
    collector.close()

    assert got["tradingbot_circuit_breaker_active[]"] == 1.0
    assert got["tradingbot_backtest_slots_limit[]"] == 3.0
    assert got["tradingbot_exporter_source_up[('source', 'ok')]"] == 1.0
    assert got["tradingbot_exporter_source_up[('source', 'ours')]"] == 0.0
    assert got["tradingbot_exporter_source_up[('source', 'bug')]"] == 0.0
    down = [r for r in risk_log() if r["message"] == "exporter_source_down"]
    assert {(r["source"], r["error"]) for r in down} == {
        ("ours", "no file"),
        ("bug", "KeyError: 'x'"),
    }


def test_collect_when_source_hangs_then_deadline_then_not_started_again(
    hanging: Hanging, risk_log: LogReader
) -> None:
    """A hung source costs one deadline; the next scrape does not start it again."""
    collector = TradingbotCollector([Fixed("ok", 0.0), hanging], deadline_s=0.3)

    started = time.monotonic()
    first = scrape(collector)
    first_took = time.monotonic() - started
    second = scrape(collector)
    hanging.release.set()
    time.sleep(0.2)
    third = scrape(collector)
    collector.close()

    assert first_took < 2.0
    assert first["tradingbot_exporter_source_up[('source', 'hung')]"] == 0.0
    assert "tradingbot_backtest_slots_in_use[]" not in first
    assert second["tradingbot_exporter_source_up[('source', 'hung')]"] == 0.0
    assert hanging.calls == 2  # the second scrape did not start a second call...
    assert third["tradingbot_exporter_source_up[('source', 'hung')]"] == 1.0  # ...the third did
    errors = [r["error"] for r in risk_log() if r["message"] == "exporter_source_down"]
    assert errors[0] == "timed out after 0.3 s"
    assert "still running" in errors[1]
    assert [r["source"] for r in risk_log() if r["message"] == "exporter_source_up"] == ["hung"]


def test_collect_when_source_keeps_failing_then_logged_once(risk_log: LogReader) -> None:
    """The same failure scrape after scrape is logged once, not once per scrape."""
    collector = TradingbotCollector([Broken("ours", SourceError("no file"))], deadline_s=5)

    for _ in range(5):
        scrape(collector)
    collector.close()

    assert len([r for r in risk_log() if r["message"] == "exporter_source_down"]) == 1


def test_collector_when_source_names_repeat_then_refused() -> None:
    """Two sources with one name would report one source_up series twice."""
    with pytest.raises(ValueError, match="source names repeat"):
        TradingbotCollector([Fixed("a", 0.0), Fixed("a", 1.0)], deadline_s=1)


def test_batch_when_labels_wrong_then_refused() -> None:
    """A sample must carry exactly its metric's labels (bounded, consistent series)."""
    batch = Batch()

    with pytest.raises(ValueError, match="takes labels"):
        batch.add("tradingbot_bot_up", 1.0, bot="a", extra="x")
