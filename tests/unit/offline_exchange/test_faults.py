"""Fault schedules: strict parsing and the overlap rules (no server involved)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ConfigError
from app.offline_exchange.faults import (
    Endpoint,
    Fault,
    FaultEvent,
    FaultSchedule,
    load_fault_file,
    parse_fault_event,
    require_replay,
)


def ev(**fields: Any) -> dict[str, Any]:
    """A valid http_500 event with ``fields`` replaced."""
    return {"at_s": 10, "for_s": 5, "fault": "http_500", "endpoint": "klines", **fields}


def test_parse_when_every_fault_and_endpoint_then_event_with_its_values() -> None:
    """The issue's examples parse into typed events; optional fields stay None."""
    event = parse_fault_event(ev(), "e")
    assert event == FaultEvent(10.0, 5.0, Fault.HTTP_500, Endpoint.KLINES)
    assert event.end_s == 15.0
    latency = parse_fault_event(ev(fault="latency", endpoint="*", ms=1500), "e")
    assert (latency.ms, latency.endpoint) == (1500, Endpoint.ANY)
    jump = parse_fault_event(ev(fault="price_jump", endpoint="depth", pct=-0.2), "e")
    assert jump.pct == -0.2
    assert jump.describe() == "price_jump -20 % on depth"
    assert parse_fault_event(ev(fault="timeout"), "e").hold_ms == 30_000


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fault": "http_502"}, "unknown fault 'http_502'; use one of http_500, http_503"),
        ({"endpoint": "orders"}, "unknown endpoint 'orders'; use one of klines, ticker"),
        ({"when": 3}, "unknown key(s) when; a fault event has at_s, endpoint, fault, for_s"),
        ({"at_s": -1}, "at_s=-1 is out of range; use 0 to"),
        ({"at_s": "10"}, "at_s='10' is not a number"),
        ({"at_s": True}, "at_s=True is not a number"),
        ({"at_s": float("nan")}, "at_s=nan is not a number"),
        ({"for_s": 0}, "for_s=0 is out of range"),
        ({"fault": "latency"}, 'latency needs "ms"'),
        ({"ms": 100}, '"ms" applies to latency and timeout only, not http_500'),
        ({"fault": "latency", "ms": 0}, "ms=0 is not a whole number of milliseconds"),
        ({"fault": "latency", "ms": 1.5}, "ms=1.5 is not a whole number"),
        ({"fault": "price_jump"}, 'price_jump needs "pct"'),
        ({"fault": "price_jump", "pct": -20}, "pct=-20 is not a price move; pct is a decimal"),
        ({"fault": "price_jump", "pct": 0}, "pct=0 is not a price move"),
        ({"pct": 0.1}, '"pct" applies to price_jump only'),
        ({"fault": "stale", "endpoint": "time"}, "stale changes market data, which time does"),
        ({"fault": "gap", "endpoint": "ticker"}, "use endpoint *, klines"),
    ],
)
def test_parse_when_bad_field_then_config_error_names_event_value_and_fix(
    fields: dict[str, Any], message: str
) -> None:
    """Every malformed field is refused with the event's position and what to write instead."""
    raw = ev(**fields)
    with pytest.raises(ConfigError) as caught:
        FaultSchedule.parse([ev(at_s=0), raw])
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith("events[1]: ")
    assert message in str(caught.value)


@pytest.mark.parametrize("missing", ["at_s", "for_s", "fault", "endpoint"])
def test_parse_when_required_field_missing_then_named(missing: str) -> None:
    """A missing required field is named."""
    raw = ev()
    del raw[missing]
    with pytest.raises(ConfigError, match=f'"{missing}" is missing'):
        parse_fault_event(raw, "e")


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        (ev(), ev(fault="http_429", endpoint="*", at_s=12), "both replace the answer"),
        (ev(fault="timeout"), ev(fault="reset", at_s=14), "both replace the answer"),
        (
            ev(fault="latency", ms=5, endpoint="*"),
            ev(fault="latency", ms=9),
            "two latency faults on the same requests are ambiguous",
        ),
        (
            ev(fault="stale", endpoint="*"),
            ev(fault="stale", endpoint="depth", at_s=0, for_s=11),
            "two stale faults",
        ),
    ],
)
def test_schedule_when_faults_clash_then_refused_with_both_named(
    first: dict[str, Any], second: dict[str, Any], why: str
) -> None:
    """Two faults that cannot both apply to one request are refused, naming both and when."""
    with pytest.raises(ConfigError) as caught:
        FaultSchedule.parse([first, second])
    text = str(caught.value)
    assert text.startswith("events[0] (")
    assert "events[1] (" in text
    assert why in text
    assert "overlap at" in text


@pytest.mark.parametrize(
    "pair",
    [
        (ev(), ev(fault="latency", ms=500, endpoint="*")),  # a slow error
        (ev(), ev(fault="http_503", endpoint="depth")),  # other requests
        (ev(), ev(fault="http_503", at_s=15)),  # back to back, not overlapping
        (ev(fault="price_jump", pct=-0.1), ev(fault="price_jump", pct=-0.1, at_s=12)),
        (ev(fault="gap", endpoint="*"), ev(fault="stale", endpoint="klines")),
        (ev(fault="stale", endpoint="ticker"), ev(fault="http_500", endpoint="time")),
    ],
)
def test_schedule_when_faults_compose_then_accepted(pair: tuple[dict[str, Any], ...]) -> None:
    """Faults that compose, or never meet one request at one time, are accepted."""
    assert len(FaultSchedule.parse(list(pair)).events) == 2


def test_covers_when_data_fault_on_star_then_market_data_endpoints_only() -> None:
    """`*` means every request for answer faults, but only market data for data faults."""
    stale = parse_fault_event(ev(fault="stale", endpoint="*"), "e")
    error = parse_fault_event(ev(endpoint="*"), "e")
    assert [e for e in Endpoint if stale.covers(e)] == [
        Endpoint.KLINES,
        Endpoint.TICKER,
        Endpoint.DEPTH,
    ]
    assert all(error.covers(e) for e in Endpoint)
    assert error.covers(None)
    assert not stale.covers(None)


def test_require_replay_when_data_fault_in_historic_mode_then_refused() -> None:
    """Data faults act on replayed time: a historic server refuses them, others pass."""
    schedule = FaultSchedule.parse([ev(), ev(fault="gap", at_s=20)])
    with pytest.raises(ConfigError, match="add --mode replay"):
        require_replay(schedule, "historic")
    require_replay(schedule, "replay")
    require_replay(FaultSchedule.parse([ev()]), "historic")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not valid JSON"),
        ("[]", "must hold a JSON object, not list"),
        ('{"events": []}', '"events" must be a non-empty list'),
        ('{"events": [], "expect": ["bot_survives"]}', "unknown key(s) expect"),
        ('{"events": [3]}', "events[0] is int; a fault event is an object"),
        ('{"events": [{"at_s": 1, "action": "kill_bot"}]}', "unknown key(s) action"),
    ],
)
def test_load_fault_file_when_malformed_then_error_names_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    """A malformed faults file is refused with its path and the problem."""
    path = tmp_path / "faults.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_fault_file(path)
    assert str(path.name) in str(caught.value)
    assert message in str(caught.value)


def test_load_fault_file_when_missing_then_error_names_the_path(tmp_path: Path) -> None:
    """An unreadable path is named."""
    with pytest.raises(ConfigError, match="cannot be read"):
        load_fault_file(tmp_path / "nope.json")


_events = st.builds(
    dict,
    at_s=st.integers(0, 1000),
    for_s=st.integers(1, 1000),
    fault=st.sampled_from([f.value for f in Fault]),
    endpoint=st.sampled_from([e.value for e in Endpoint]),
)


@settings(deadline=None)  # a busy machine must not fail a correctness property
@given(st.lists(_events, max_size=4))
def test_parse_when_random_events_then_valid_roundtrip_or_config_error(
    raws: list[dict[str, Any]],
) -> None:
    """Any combination parses and round-trips through JSON, or is refused with ConfigError."""
    for raw in raws:
        if raw["fault"] == "latency":
            raw["ms"] = 100
        if raw["fault"] == "price_jump":
            raw["pct"] = -0.1
    try:
        schedule = FaultSchedule.parse(raws)
    except ConfigError as exc:
        assert str(exc).startswith("events[")
        return
    again = FaultSchedule.parse(json.loads(json.dumps(schedule.to_json()))["events"])
    assert again == schedule
