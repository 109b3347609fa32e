"""Incidents from the guard (app/risk/incidents.py): rate limit, failures, pickling."""

from __future__ import annotations

import pickle
from datetime import timedelta
from pathlib import Path

from app.registry import Registry
from app.risk.incidents import IncidentSink
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
