"""Dead runs become interrupted; live ones keep their heartbeat (app/registry/lifecycle.py).

Each test runs on SQLite and on a throwaway PostgreSQL server (the ``registry`` fixture).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from app.errors import RegistryError
from app.registry import Registry
from app.registry.lifecycle import heartbeat_interval
from app.registry.models import Run


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host that is not the test process."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _set(registry: Registry, run_id: str, **values: object) -> None:
    with registry.session(write=True) as session:
        session.execute(update(Run).where(Run.run_id == run_id).values(**values))


def _start(registry: Registry, **values: object) -> str:
    run_id = registry.start_run(kind="backtest", correlation_id="c1", strategy="S")
    registry._heartbeat.discard(run_id)  # left open on purpose: this process must not beat
    _set(registry, run_id, **values)
    return run_id


def test_mark_when_runner_pid_gone_on_this_host_then_interrupted_with_reason(
    registry: Registry,
) -> None:
    """A running run whose pid no longer runs here is shown as ended, saying why."""
    pid = _dead_pid()
    run_id = _start(registry, pid=pid)

    marked = registry.mark_interrupted_runs()

    run = registry.require_run(run_id)
    assert [m.run_id for m in marked] == [run_id]
    assert run.status == "interrupted"
    assert run.end_reason == (
        f"runner pid {pid} on host {registry.host} is gone (process {pid} is not running)"
    )
    assert run.finished_utc is not None and run.finished_utc >= run.started_utc


def test_mark_when_pid_reused_by_younger_process_then_interrupted(
    registry: Registry, sleeper: subprocess.Popen[bytes]
) -> None:
    """A pid that now belongs to a process started after the run is not its runner."""
    run_id = _start(registry, pid=sleeper.pid, started_utc=datetime.now(UTC) - timedelta(hours=1))

    registry.mark_interrupted_runs()

    run = registry.require_run(run_id)
    assert run.status == "interrupted"
    assert "started after it" in str(run.end_reason)


def test_mark_when_runner_alive_on_this_host_then_still_running_whatever_its_heartbeat(
    registry: Registry, sleeper: subprocess.Popen[bytes]
) -> None:
    """A live runner on this host keeps its run, even with an old heartbeat."""
    run_id = _start(registry, pid=sleeper.pid)
    old = datetime.now(UTC) - timedelta(days=2)
    _set(registry, run_id, heartbeat_utc=old)

    assert registry.mark_interrupted_runs() == []
    assert registry.require_run(run_id).status == "running"


@pytest.mark.parametrize(("age_s", "status"), [(60, "running"), (1000, "interrupted")])
def test_mark_when_other_host_then_heartbeat_age_decides(
    registry: Registry, age_s: int, status: str
) -> None:
    """Another host's run is presumed dead only after stale_after_sec (900 s) of silence."""
    beat = datetime.now(UTC) - timedelta(seconds=age_s)
    run_id = _start(registry, host="other-host", pid=1, heartbeat_utc=beat)
    _set(registry, run_id, started_utc=beat - timedelta(seconds=5))

    registry.mark_interrupted_runs()

    run = registry.require_run(run_id)
    assert run.status == status
    if status == "interrupted":
        assert str(run.end_reason).startswith("no heartbeat from host other-host for 10")
        assert run.finished_utc == beat  # the last sign of life


def test_mark_when_no_pid_and_no_heartbeat_then_started_time_counts(registry: Registry) -> None:
    """Rows written before migration 0002 (no pid, no heartbeat) age from their start."""
    run_id = _start(registry, pid=None, heartbeat_utc=None)
    _set(registry, run_id, started_utc=datetime.now(UTC) - timedelta(hours=1))

    registry.mark_interrupted_runs()

    assert registry.require_run(run_id).status == "interrupted"


def test_heartbeat_when_run_open_then_refreshed_until_finished(db_url: str, tmp_path: Path) -> None:
    """The process that started a run refreshes heartbeat_utc until it finishes the run."""
    registry = Registry(db_url, incident_log_dir=tmp_path, stale_after_sec=0.9)
    assert heartbeat_interval(0.9) == pytest.approx(0.3)
    run_id = registry.start_run(kind="backtest", correlation_id="c1")
    first = registry.require_run(run_id).heartbeat_utc
    assert first is not None
    deadline = time.monotonic() + 30
    while registry.require_run(run_id).heartbeat_utc == first and time.monotonic() < deadline:
        time.sleep(0.1)
    refreshed = registry.require_run(run_id).heartbeat_utc
    registry.finish_run(run_id, status="succeeded", exit_code=0)

    assert refreshed is not None and refreshed > first
    assert registry.open_runs() == []
    registry.close()


def test_heartbeat_when_presumed_dead_by_other_host_then_run_comes_back(registry: Registry) -> None:
    """A run marked interrupted while its host was cut off is running again at its next beat."""
    run_id = registry.start_run(kind="hyperopt", correlation_id="c1")
    _set(registry, run_id, status="interrupted", end_reason="no heartbeat from host x")

    registry._beat([run_id])

    run = registry.require_run(run_id)
    assert (run.status, run.end_reason, run.finished_utc) == ("running", None, None)
    registry.finish_run(run_id, status="succeeded", exit_code=0)


def test_finish_when_owner_finishes_its_interrupted_run_then_allowed_others_refused(
    registry: Registry,
) -> None:
    """Only the process that started a run may finish it after it was presumed dead."""
    mine = registry.start_run(kind="backtest", correlation_id="c1")
    theirs = _start(registry, pid=_dead_pid())
    for run_id in (mine, theirs):
        _set(registry, run_id, status="interrupted")

    registry.finish_run(mine, status="failed", exit_code=2, reason="late but true")

    assert registry.require_run(mine).status == "failed"
    with pytest.raises(RegistryError, match="already finished with status 'interrupted'"):
        registry.finish_run(theirs, status="succeeded", exit_code=0)


def test_records_when_secrets_given_then_stored_redacted(registry: Registry) -> None:
    """Command line, end reason, incident description and excerpt never store a secret."""
    registry.redactor = registry.redactor.with_values(["hunter2-very-secret"])
    run_id = registry.start_run(
        kind="other",
        correlation_id="c1",
        command=["tradingbot", "freqtrade", "trade", "--db-url", "postgresql://u:pw1234@h/db"],
    )
    registry.finish_run(run_id, status="failed", exit_code=2, reason="bad: hunter2-very-secret")
    incident_id = registry.log_incident(
        severity="error",
        description="config {'password': 'hunter2-very-secret'}",
        correlation_id="c1",
        run_id=run_id,
        log_excerpt="line 1\ntoken=abcdefgh\nhunter2-very-secret\n",
    )

    run = registry.require_run(run_id)
    [incident] = registry.list_incidents(run_id=run_id)
    excerpt = Path(str(incident.log_excerpt_path)).read_text()
    stored = " ".join([*(run.command or ()), str(run.end_reason), incident.description, excerpt])
    assert incident.incident_id == incident_id
    assert "hunter2" not in stored
    assert "pw1234" not in stored
    assert "abcdefgh" not in stored
    assert stored.count("[REDACTED]") == 5
