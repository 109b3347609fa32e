"""Incidents from the guard (app/risk/incidents.py): rate limit, failures, background writer."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from app.errors import RegistryError
from app.registry import Registry
from app.risk import incidents
from app.risk.incidents import IncidentSink
from tests.helpers import REPO_ROOT
from tests.unit.risk.builders import NOW, settings
from tests.unit.risk.conftest import LogReader


def _sink(tmp_path: Path, db: Path | None = None, **env: str) -> IncidentSink:
    s = settings(db_path=str(db or tmp_path / "reg.sqlite"), **env)
    return IncidentSink(s, correlation_id="cid-1", run_id=None)


def test_report_when_registry_works_then_incident_recorded(tmp_path: Path) -> None:
    """The sink opens the registry lazily and records severity and text."""
    sink = _sink(tmp_path)
    incident_id = sink.report("X", severity="warning", description="entry refused", now=NOW)
    records = Registry(f"sqlite:///{tmp_path / 'reg.sqlite'}").list_incidents()
    assert [r.incident_id for r in records] == [incident_id]
    assert records[0].severity == "warning"
    assert records[0].description == "entry refused"


def test_report_when_keys_differ_then_each_rate_limited_alone(tmp_path: Path) -> None:
    """The window applies per key: another reason still gets its incident."""
    sink = _sink(tmp_path, incident_rate_limit_sec="60")
    assert sink.report("A", severity="warning", description="a", now=NOW)
    assert sink.report("A", severity="warning", description="a", now=NOW) is None
    assert sink.report("B", severity="warning", description="b", now=NOW)
    assert sink.report("A", severity="warning", description="a", now=NOW + timedelta(seconds=60))


def test_report_when_not_rate_limited_then_always_written(tmp_path: Path) -> None:
    """Breaker trips bypass the window."""
    sink = _sink(tmp_path)
    ids = [
        sink.report("T", severity="critical", description="t", now=NOW, rate_limited=False)
        for _ in range(2)
    ]
    assert all(ids)
    assert len(set(ids)) == 2


def test_report_when_registry_unusable_then_logged_and_none(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A registry failure never raises into the bot: incident_failed at ERROR, None returned."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    sink = _sink(tmp_path, db=blocker / "reg.sqlite")

    result = sink.report("X", severity="warning", description="entry refused", now=NOW)

    assert result is None
    failed = [r for r in risk_log() if r["message"] == "incident_failed"]
    assert failed[0]["level"] == "ERROR"
    assert failed[0]["description"] == "entry refused"


def test_sink_when_pickled_then_registry_dropped_and_reopened(tmp_path: Path) -> None:
    """Hyperopt pickles the strategy: the open engine stays behind, the copy reopens it."""
    sink = _sink(tmp_path)
    sink.report("A", severity="info", description="first", now=NOW)
    copy = pickle.loads(pickle.dumps(sink))
    assert copy._recorder is None
    assert copy.report("B", severity="info", description="second", now=NOW)


class _BlockedRecorder:
    """A registry stand-in whose writes wait until the test releases them."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.written: list[str] = []

    def log_incident(self, *, severity: str, description: str, **_: object) -> str:
        self.entered.set()
        assert self.release.wait(timeout=60), "the test never released the write"
        self.written.append(f"{severity}:{description}")
        return f"incident_{len(self.written)}"


def _background(recorder: _BlockedRecorder, **env: str) -> IncidentSink:
    return IncidentSink(
        settings(**env),
        correlation_id="cid-1",
        run_id="run-1",
        recorder=recorder,
        background=True,
    )


def test_background_when_registry_blocks_then_report_returns_and_write_follows() -> None:
    """A live bot's callback never waits for the registry; the writes come in order."""
    recorder = _BlockedRecorder()
    sink = _background(recorder)

    assert sink.report("A", severity="warning", description="first", now=NOW) is None
    assert recorder.entered.wait(timeout=60)  # the writer is stuck inside the registry ...
    assert sink.report("B", severity="critical", description="second", now=NOW) is None
    assert sink.pending() == 2  # ... and the callbacks went on regardless
    assert recorder.written == []

    recorder.release.set()
    assert sink.flush(timeout=60)
    assert sink.pending() == 0
    assert recorder.written == ["warning:first", "critical:second"]


def test_background_when_flush_times_out_then_false_and_nothing_lost() -> None:
    """flush() gives up after its timeout; the queue is kept and written later."""
    recorder = _BlockedRecorder()
    sink = _background(recorder)
    sink.report("A", severity="warning", description="a", now=NOW)
    assert recorder.entered.wait(timeout=60)

    assert sink.flush(timeout=0.01) is False

    recorder.release.set()
    assert sink.flush(timeout=60)
    assert recorder.written == ["warning:a"]


def test_background_when_rate_limited_then_window_still_applies() -> None:
    """Queueing changes when incidents are written, not which."""
    recorder = _BlockedRecorder()
    recorder.release.set()
    sink = _background(recorder, incident_rate_limit_sec="60")
    for _ in range(3):
        sink.report("A", severity="warning", description="a", now=NOW)
    sink.report("A", severity="warning", description="a", now=NOW + timedelta(seconds=60))
    assert sink.flush(timeout=60)
    assert recorder.written == [
        "warning:a",
        "warning:a (2 more like this were not recorded separately)",
    ]


def test_background_when_pickled_then_copy_has_its_own_writer(tmp_path: Path) -> None:
    """The writer thread and queue stay behind; the copy writes to the real registry."""
    db = tmp_path / "reg.sqlite"
    sink = IncidentSink(
        settings(db_path=str(db)), correlation_id="cid-1", run_id=None, background=True
    )
    sink.report("A", severity="info", description="original", now=NOW)
    copy = pickle.loads(pickle.dumps(sink))
    copy.report("B", severity="info", description="copy", now=NOW)
    assert sink.flush(timeout=60)
    assert copy.flush(timeout=60)
    records = Registry(f"sqlite:///{db}").list_incidents()
    assert sorted(r.description for r in records) == ["copy", "original"]


EXIT_SCRIPT = """
import sys
from app.risk.incidents import IncidentSink
from app.settings import load_settings
from tests.unit.risk.builders import NOW

sink = IncidentSink(load_settings(), correlation_id="cid-exit", run_id=None, background=True)
for key in ("A", "B", "C"):
    sink.report(key, severity="warning", description=f"refused {key}", now=NOW)
sys.exit(0)  # no flush: the atexit handler must drain the queue
"""


def test_background_when_process_exits_then_queue_drained_into_registry(tmp_path: Path) -> None:
    """A real process that exits right after queueing still records every incident."""
    db = tmp_path / "reg.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISK_")}
    env |= {"RISK_DB_PATH": str(db), "RISK_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = Registry(f"sqlite:///{db}").list_incidents()
    assert sorted(r.description for r in records) == ["refused A", "refused B", "refused C"]
    assert {r.correlation_id for r in records} == {"cid-exit"}


def test_background_when_exit_drain_times_out_then_unwritten_named(
    risk_log: LogReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry that stays blocked at shutdown: the leftovers are named in one ERROR."""
    monkeypatch.setattr(incidents, "FLUSH_AT_EXIT_SEC", 0.01)
    recorder = _BlockedRecorder()
    sink = _background(recorder)
    sink.report("A", severity="warning", description="stuck", now=NOW)
    assert recorder.entered.wait(timeout=60)
    sink.report("B", severity="warning", description="queued", now=NOW)

    sink._flush_at_exit()

    (line,) = [r for r in risk_log() if r["message"] == "incidents_unwritten"]
    assert line["level"] == "ERROR"
    assert line["count"] == 2
    assert line["descriptions"] == ["queued"]
    recorder.release.set()
    assert sink.flush(timeout=60)


# -- ROUND 3 OF MUTATION TESTING: what the survivors showed untested -------------------------


def test_report_when_window_long_past_then_written_again(tmp_path: Path) -> None:
    """Well after the window (not only exactly at its end) the key gets an incident again,
    carrying the count of the ones suppressed in between."""
    sink = _sink(tmp_path, incident_rate_limit_sec="60")
    assert sink.report("A", severity="warning", description="a", now=NOW)
    late = NOW + timedelta(seconds=59)
    assert sink.report("A", severity="warning", description="a", now=late) is None

    again = sink.report("A", severity="warning", description="a", now=NOW + timedelta(hours=3))

    assert again is not None
    latest = Registry(f"sqlite:///{tmp_path / 'reg.sqlite'}").list_incidents()[0]
    assert latest.description == "a (1 more like this were not recorded separately)"


def test_sink_when_synchronous_then_nothing_pending_and_flush_at_once(tmp_path: Path) -> None:
    """A sink that writes in the caller's thread never has anything queued: ``pending`` is 0
    and ``flush`` returns True without waiting, before and after a report."""
    sink = _sink(tmp_path)
    assert (sink.pending(), sink.flush(timeout=5)) == (0, True)

    sink.report("A", severity="info", description="a", now=NOW)

    assert (sink.pending(), sink.flush(timeout=5)) == (0, True)


def test_flush_at_exit_when_documented_then_the_runbook_names_its_wait() -> None:
    """The wait at shutdown is the one the RUNBOOK promises operators."""
    runbook = (REPO_ROOT / "docs" / "RUNBOOK.md").read_text(encoding="utf-8")

    assert f"the bot waits up to {incidents.FLUSH_AT_EXIT_SEC:g} s for the queue" in runbook
    assert incidents.FLUSH_AT_EXIT_SEC == 10.0


def test_lazy_recorder_when_built_then_registry_opened_at_first_incident_only(
    tmp_path: Path,
) -> None:
    """Building it never touches the registry (a broken one fails the first incident, not
    the breaker change before it); once open, the same registry records every incident."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    broken = incidents.LazyRecorder(settings(db_path=str(blocker / "reg.sqlite")))
    with pytest.raises(RegistryError):
        broken.log_incident(severity="warning", description="x", correlation_id="c")

    db = tmp_path / "reg.sqlite"
    lazy = incidents.LazyRecorder(settings(db_path=str(db)))
    assert not db.exists()
    first = lazy.log_incident(severity="warning", description="one", correlation_id="c")
    opened = lazy._recorder
    second = lazy.log_incident(
        severity="info", description="two", correlation_id="c", run_id=None, log_excerpt=None
    )

    assert lazy._recorder is opened
    records = Registry(f"sqlite:///{db}").list_incidents()
    assert {(r.incident_id, r.severity, r.description) for r in records} == {
        (first, "warning", "one"),
        (second, "info", "two"),
    }


@pytest.mark.parametrize("call", ["sink", "report", "lazy"])
def test_incident_calls_when_same_typed_arguments_given_by_position_then_refused(
    tmp_path: Path, call: str
) -> None:
    """Severity and description, correlation and run ids are all strings: they are
    keyword-only so that no caller can swap them by position."""
    s = settings(db_path=str(tmp_path / "reg.sqlite"))
    sink = IncidentSink(s, correlation_id="c", run_id=None)
    with pytest.raises(TypeError):
        if call == "sink":
            IncidentSink(s, "cid", None)  # type: ignore[call-arg]
        elif call == "report":
            sink.report("A", "warning", "d", NOW)  # type: ignore[call-arg]
        else:
            incidents.LazyRecorder(s).log_incident("warning", "d", "c")  # type: ignore[call-arg]
