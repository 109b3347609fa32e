"""Breaker and slot sources (app/exporter/state.py) on real files."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.circuit_breaker import enable_breaker
from app.exporter.catalog import Batch
from app.exporter.collector import SourceError
from app.exporter.state import BreakerSource, SlotsSource
from tests.unit.exporter.helpers import collect

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_breaker_when_no_file_then_inactive(tmp_path: Path) -> None:
    """No breaker file is the normal inactive state."""
    got = collect(BreakerSource(tmp_path / "circuit_breaker.json"), NOW.timestamp())

    assert got == {
        "tradingbot_circuit_breaker_active": 0.0,
        "tradingbot_circuit_breaker_until_timestamp_seconds": 0.0,
    }


def test_breaker_when_enabled_until_then_active_with_end(tmp_path: Path) -> None:
    """An active breaker with an end reports 1 and that end."""
    file = tmp_path / "circuit_breaker.json"
    until = NOW + timedelta(minutes=30)
    enable_breaker(file, reason="test", now=NOW, until=until)

    got = collect(BreakerSource(file), NOW.timestamp())

    assert got["tradingbot_circuit_breaker_active"] == 1.0
    assert got["tradingbot_circuit_breaker_until_timestamp_seconds"] == until.timestamp()


def test_breaker_when_end_passed_then_inactive(tmp_path: Path) -> None:
    """After until_iso the breaker counts as inactive (expired)."""
    file = tmp_path / "circuit_breaker.json"
    enable_breaker(file, reason="test", now=NOW, until=NOW + timedelta(minutes=1))

    got = collect(BreakerSource(file), (NOW + timedelta(minutes=2)).timestamp())

    assert got["tradingbot_circuit_breaker_active"] == 0.0
    assert got["tradingbot_circuit_breaker_until_timestamp_seconds"] == 0.0


@pytest.mark.parametrize("content", ['{"active": tru', "", '["active"]'])
def test_breaker_when_file_corrupt_then_active_and_source_down(
    tmp_path: Path, content: str
) -> None:
    """Fail closed: an unreadable file is active, and the source says why it failed."""
    file = tmp_path / "circuit_breaker.json"
    file.write_text(content)
    source = BreakerSource(file)

    with pytest.raises(SourceError, match="counts as active"):
        collect(source, NOW.timestamp())

    batch = Batch()
    with pytest.raises(SourceError):
        source.collect(batch, NOW.timestamp())
    assert ("tradingbot_circuit_breaker_active", (), 1.0) in batch.samples


def _lock(folder: Path, name: str, age_s: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("{}")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def test_slots_when_fresh_and_orphaned_locks_then_only_fresh_counted(tmp_path: Path) -> None:
    """Lock files refreshed within the TTL are in use; an orphan is not (and stays)."""
    folder = tmp_path / "running"
    _lock(folder, "backtest_1_1_a.lock", 10)
    _lock(folder, "hyperopt_1_2_b.lock", 100)
    _lock(folder, "backtest_1_3_c.lock", 5000)
    (folder / ".slots.guard").write_text("")

    got = collect(SlotsSource(folder, limit=2, ttl_sec=900))

    assert got == {
        "tradingbot_backtest_slots_limit": 2.0,
        "tradingbot_backtest_slots_in_use": 2.0,
    }
    assert (folder / "backtest_1_3_c.lock").exists()


def test_slots_when_folder_missing_then_none_in_use(tmp_path: Path) -> None:
    """Before the first run there is no slot folder: 0 in use, limit 0 = unlimited."""
    got = collect(SlotsSource(tmp_path / "running", limit=0, ttl_sec=900))

    assert got["tradingbot_backtest_slots_in_use"] == 0.0
    assert got["tradingbot_backtest_slots_limit"] == 0.0


def test_slots_when_folder_is_a_file_then_source_error(tmp_path: Path) -> None:
    """A broken state folder is a failing source, not a silent zero."""
    folder = tmp_path / "running"
    folder.write_text("not a folder")

    with pytest.raises(SourceError, match="cannot list the slot folder"):
        collect(SlotsSource(folder, limit=1, ttl_sec=900))
