"""The guard's view of the breaker (app/risk/breaker_view.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.circuit_breaker import BreakerStatus, disable_breaker, enable_breaker, read_breaker
from app.errors import CircuitBreakerError
from app.risk.breaker_view import FileBreakerView, MemoryBreakerView
from tests.unit.risk.builders import NOW
from tests.unit.risk.conftest import LogReader


def test_trip_when_file_view_then_indefinite_activation_written(tmp_path: Path) -> None:
    """A live trip writes an active breaker with no end."""
    view = FileBreakerView(tmp_path / "cb.json")
    assert view.trip("DAILY_DRAWDOWN: x", NOW)
    state = read_breaker(tmp_path / "cb.json", NOW)
    assert (state.status, state.until, state.reason) == (
        BreakerStatus.ACTIVE,
        None,
        "DAILY_DRAWDOWN: x",
    )
    assert view.state(NOW).active


def test_trip_when_already_active_indefinitely_then_operator_reason_kept(tmp_path: Path) -> None:
    """The bot never overwrites a person's indefinite activation."""
    view = FileBreakerView(tmp_path / "cb.json")
    view.trip("operator said so", NOW)
    assert not view.trip("DAILY_DRAWDOWN: later", NOW)
    assert read_breaker(tmp_path / "cb.json", NOW).reason == "operator said so"


def test_trip_when_file_unwritable_then_held_in_memory_until_file_changes(tmp_path: Path) -> None:
    """A trip that cannot be written still refuses (in memory) until a person acts.

    The folder of the breaker file is a regular file, so the write fails also as root;
    a person then repairs the folder and disables the breaker, which changes the file.
    """
    folder = tmp_path / "state"
    folder.write_text("not a folder")
    view = FileBreakerView(folder / "cb.json")
    with pytest.raises(CircuitBreakerError):
        view.trip("DAILY_DRAWDOWN: x", NOW)
    assert view.state(NOW).active
    assert "held in memory" in (view.state(NOW).reason or "")
    folder.unlink()
    folder.mkdir()
    assert view.state(NOW).active  # still no file: the memory trip holds
    disable_breaker(folder / "cb.json", reason="fixed", now=NOW)
    assert not view.state(NOW).active


def test_memory_view_when_tripped_then_active_until_reset() -> None:
    """The backtest breaker lives for one run."""
    view = MemoryBreakerView()
    assert not view.state(NOW).active
    assert view.trip("DAILY_DRAWDOWN: x", NOW)
    assert not view.trip("again", NOW)
    assert view.state(NOW).active
    view.reset()
    assert not view.state(NOW).active


def test_state_when_file_corrupt_then_one_error_line_per_problem(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A corrupt file is reported once (ERROR), not on every check, and counts as active."""
    file = tmp_path / "cb.json"
    file.write_text("{oops")
    view = FileBreakerView(file)
    for _ in range(3):
        assert view.state(NOW).active
    lines = [r for r in risk_log() if r["message"] == "circuit_breaker_unreadable"]
    assert len(lines) == 1
    assert lines[0]["level"] == "ERROR"
    assert "not valid JSON" in lines[0]["problem"]


def test_trip_when_lock_unusable_and_file_readable_then_refuses_until_file_changes(
    tmp_path: Path,
) -> None:
    """A readable inactive file whose trip cannot be written: the trip still holds (in
    memory) while the file is unchanged, and ends when a person rewrites the file."""
    file = tmp_path / "cb.json"
    disable_breaker(file, reason="start", now=NOW)
    (tmp_path / "cb.json.lock").unlink()
    (tmp_path / "cb.json.lock").mkdir()  # the writers' lock cannot be opened
    view = FileBreakerView(file)
    assert not view.state(NOW).active

    with pytest.raises(CircuitBreakerError):
        view.trip("DAILY_DRAWDOWN: x", NOW)

    assert read_breaker(file, NOW).status is BreakerStatus.INACTIVE  # the file is unchanged
    assert [view.state(NOW).active for _ in range(3)] == [True, True, True]
    file.write_text('{"active": false, "reason": "checked by a person"}')
    assert not view.state(NOW).active


def test_state_when_file_repaired_then_no_more_error_lines_until_it_breaks_again(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """Repairing the file ends the reports; rewriting it with the same problem is not a
    new problem; breaking it after a repair is reported again."""
    file = tmp_path / "cb.json"
    file.write_text("{oops")
    view = FileBreakerView(file)
    assert view.state(NOW).active
    file.write_text("{oopsy")  # another size, the same problem
    assert view.state(NOW).active
    file.write_text('{"active": false}')
    assert not view.state(NOW).active
    assert not view.state(NOW).active
    lines_while_repaired = len(risk_log())
    file.write_text("{oops!")
    assert view.state(NOW).active

    problems = [r["problem"] for r in risk_log() if r["message"] == "circuit_breaker_unreadable"]
    assert lines_while_repaired == 1
    assert len(problems) == 2
    assert problems[0] == problems[1]


def test_views_when_asked_then_only_the_backtest_breaker_is_simulated() -> None:
    """``simulated`` labels trips (BREAKER_TRIPS{simulated}): a backtest's never read as real."""
    assert MemoryBreakerView.simulated is True
    assert MemoryBreakerView().simulated is True
    assert FileBreakerView.simulated is False


def _expired_lines(risk_log: LogReader) -> list[dict[str, object]]:
    return [r for r in risk_log() if r["message"] == "circuit_breaker_expired"]


def test_state_when_active_breaker_runs_out_then_expiry_logged_once(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """The check that first sees an active breaker past its end logs circuit_breaker_expired
    (INFO, with its end and reason: Telegram announces it); later checks do not repeat it."""
    file = tmp_path / "cb.json"
    until = NOW + timedelta(minutes=5)
    enable_breaker(file, reason="maintenance", now=NOW, until=until)
    view = FileBreakerView(file)

    assert view.state(NOW).active
    assert _expired_lines(risk_log) == []
    assert not view.state(until).active
    assert not view.state(until + timedelta(minutes=1)).active

    (line,) = _expired_lines(risk_log)
    assert line["level"] == "INFO"
    assert (line["file"], line["reason"]) == (str(file), "maintenance")
    assert line["until"] == line["at"] == "2025-08-17T12:05:00Z"


@pytest.mark.parametrize("before", ["never-seen", "inactive", "unreadable"])
def test_state_when_breaker_expired_but_not_seen_active_then_no_expiry_logged(
    tmp_path: Path, risk_log: LogReader, before: str
) -> None:
    """Only a run-out seen happen is announced: a breaker already past its end at the first
    look, or one that was inactive or unreadable at the last check, is not."""
    file = tmp_path / "cb.json"
    view = FileBreakerView(file)
    if before == "inactive":
        disable_breaker(file, reason="x", now=NOW)
        assert not view.state(NOW).active
    elif before == "unreadable":
        file.write_text("{oops")
        assert view.state(NOW).active
    file.write_text('{"active": true, "reason": "old", "until_iso": "2025-08-17T09:00:00Z"}')

    assert view.state(NOW).status is BreakerStatus.EXPIRED
    assert _expired_lines(risk_log) == []


@pytest.mark.parametrize("after", ["disabled", "unreadable"])
def test_state_when_active_breaker_disabled_or_broken_then_no_expiry_logged(
    tmp_path: Path, risk_log: LogReader, after: str
) -> None:
    """Only running out is an expiry: a person disabling it, or the file breaking, is not."""
    file = tmp_path / "cb.json"
    enable_breaker(file, reason="maintenance", now=NOW)
    view = FileBreakerView(file)
    assert view.state(NOW).active
    if after == "disabled":
        disable_breaker(file, reason="done", now=NOW)
    else:
        file.write_text("{oops")

    view.state(NOW)

    assert _expired_lines(risk_log) == []
