"""The circuit breaker file (app/circuit_breaker.py): format, fail-closed reading, writes."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.circuit_breaker import (
    BreakerCache,
    BreakerStatus,
    disable_breaker,
    enable_breaker,
    parse_breaker,
    read_breaker,
)
from app.errors import CircuitBreakerError, ConfigError

NOW = datetime(2025, 8, 17, 10, 0, tzinfo=UTC)
FILE = Path("cb.json")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ('{"active": true, "reason": "incident-123"}', BreakerStatus.ACTIVE),
        ('{"active": true, "reason": "r", "until_iso": "2025-08-17T10:15:00Z"}', "active"),
        ('{"active": true, "until_iso": "2025-08-17T10:00:00Z"}', BreakerStatus.EXPIRED),
        ('{"active": true, "until_iso": "2025-08-17T09:00:00+00:00"}', BreakerStatus.EXPIRED),
        ('{"active": false, "reason": "done"}', BreakerStatus.INACTIVE),
        ('{"active": false, "until_iso": "2030-01-01T00:00:00Z"}', BreakerStatus.INACTIVE),
        ('{"active": true, "until_iso": null, "extra": 1}', BreakerStatus.ACTIVE),
    ],
)
def test_parse_when_valid_then_status_applies_until(text: str, status: str) -> None:
    """``until_iso`` in the past means inactive (expired); unknown keys are ignored."""
    assert parse_breaker(text, FILE, NOW).status == status


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ("[true]", "expected a JSON object"),
        ('{"reason": "x"}', "'active' must be true or false"),
        ('{"active": "yes"}', "'active' must be true or false"),
        ('{"active": 1}', "'active' must be true or false"),
        ('{"active": true, "until_iso": 1755425700}', "'until_iso' must be an ISO 8601 string"),
        ('{"active": true, "until_iso": "tomorrow"}', "not an ISO 8601 time"),
        ('{"active": false, "until_iso": "2025-08-17T10:15:00"}', "has no timezone"),
    ],
)
def test_parse_when_malformed_then_active_naming_the_problem(text: str, problem: str) -> None:
    """Anything the guard cannot interpret counts as ACTIVE (fail closed) and says why."""
    state = parse_breaker(text, FILE, NOW)
    assert state.status is BreakerStatus.UNREADABLE
    assert state.active
    assert problem in (state.problem or "")


def test_read_when_file_missing_then_inactive(tmp_path: Path) -> None:
    """No file is the normal state before anyone enabled the breaker."""
    assert read_breaker(tmp_path / "none.json", NOW).status is BreakerStatus.INACTIVE


def test_read_when_path_is_a_folder_then_unreadable(tmp_path: Path) -> None:
    """A path that cannot be read as a file counts as active."""
    state = read_breaker(tmp_path, NOW)
    assert state.status is BreakerStatus.UNREADABLE
    assert "it is a folder, not a regular file" in (state.problem or "")


def test_enable_when_until_given_then_file_has_design_format(tmp_path: Path) -> None:
    """The file holds active, reason, until_iso (+ audit keys), readable by the reader."""
    file = tmp_path / "state" / "circuit_breaker.json"
    enable_breaker(file, reason="manual", now=NOW, until=NOW + timedelta(minutes=15))
    data = json.loads(file.read_text())
    assert data["active"] is True
    assert data["reason"] == "manual"
    assert data["until_iso"] == "2025-08-17T10:15:00Z"
    assert data["changed_iso"] == "2025-08-17T10:00:00Z"
    assert "pid" in data["changed_by"]
    assert read_breaker(file, NOW).status is BreakerStatus.ACTIVE
    assert read_breaker(file, NOW + timedelta(minutes=15)).status is BreakerStatus.EXPIRED
    assert oct(file.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in file.parent.iterdir()) == [
        "circuit_breaker.json",
        "circuit_breaker.json.lock",
    ]


def test_disable_when_file_corrupt_then_repaired_inactive(tmp_path: Path) -> None:
    """disable rewrites whatever is there with a valid inactive breaker."""
    file = tmp_path / "cb.json"
    file.write_text("{garbage")
    disable_breaker(file, reason="investigated", now=NOW)
    state = read_breaker(file, NOW)
    assert (state.status, state.reason) == (BreakerStatus.INACTIVE, "investigated")


@pytest.mark.parametrize(
    ("reason", "until", "message"),
    [("  ", None, "--reason is empty"), ("x", NOW - timedelta(seconds=1), "not in the future")],
)
def test_enable_when_input_bad_then_config_error_and_no_file(
    tmp_path: Path, reason: str, until: datetime | None, message: str
) -> None:
    """Bad input changes nothing."""
    file = tmp_path / "cb.json"
    with pytest.raises(ConfigError, match=message):
        enable_breaker(file, reason=reason, now=NOW, until=until)
    assert not file.exists()


def test_enable_when_folder_unwritable_then_breaker_error(tmp_path: Path) -> None:
    """A write that cannot happen raises CircuitBreakerError (exit 7) naming the file."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CircuitBreakerError, match="cannot write circuit breaker file") as error:
        enable_breaker(blocker / "cb.json", reason="r", now=NOW)
    assert error.value.exit_code == 7


def test_cache_when_file_changes_then_reread_else_reused(tmp_path: Path) -> None:
    """The cache follows the file's mtime/size/inode and re-evaluates expiry on each call."""
    file = tmp_path / "cb.json"
    cache = BreakerCache(file)
    assert cache.state(NOW).status is BreakerStatus.INACTIVE
    enable_breaker(file, reason="first", now=NOW, until=NOW + timedelta(minutes=5))
    assert cache.state(NOW).reason == "first"
    key = cache.key
    assert cache.state(NOW + timedelta(minutes=5)).status is BreakerStatus.EXPIRED
    assert cache.key == key
    disable_breaker(file, reason="second", now=NOW)
    assert cache.state(NOW).reason == "second"
    assert cache.key != key
    file.unlink()
    assert cache.state(NOW).status is BreakerStatus.INACTIVE


def _flip(file: str, rounds: int, seed: int) -> None:
    now = datetime.now(UTC)
    for n in range(rounds):
        if (n + seed) % 2:
            enable_breaker(Path(file), reason=f"writer {seed} round {n}", now=now)
        else:
            disable_breaker(Path(file), reason=f"writer {seed} round {n}", now=now)


def test_writes_when_concurrent_processes_then_file_always_valid_json(tmp_path: Path) -> None:
    """Several processes enabling/disabling at once never leave invalid JSON behind."""
    file = tmp_path / "cb.json"
    disable_breaker(file, reason="start", now=NOW)
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_flip, args=(str(file), 40, seed)) for seed in range(4)]
    for writer in writers:
        writer.start()
    seen = 0
    while any(w.is_alive() for w in writers):
        state = read_breaker(file, datetime.now(UTC))
        assert state.status is not BreakerStatus.UNREADABLE, state.problem
        seen += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert read_breaker(file, datetime.now(UTC)).status is not BreakerStatus.UNREADABLE
    assert seen > 0
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
    assert file.stat().st_size > 0
