"""Property-based tests of the breaker reader: arbitrary files never read as inactive.

"Good" is defined here, independently of the reader, as: UTF-8 text that is one JSON
object with no repeated key and no NaN/Infinity, whose ``active`` is a boolean, whose
``reason`` (if present) is a string or null, and whose ``until_iso`` (if present) is null
or an ISO 8601 time with a timezone that exists in UTC. A good file is inactive when
``active`` is false or its ``until_iso`` has passed. Everything else is bad, and bad
must read as UNREADABLE (active). Every example is written to a real file and read
through :func:`read_breaker` and a :class:`BreakerCache`; neither may raise.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.circuit_breaker import BreakerCache, BreakerStatus, read_breaker

NOW = datetime(2025, 8, 17, 10, 0, tzinfo=UTC)
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class _BadError(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _BadError
    return dict(pairs)


def _constant(_: str) -> Any:
    raise _BadError


def expected_inactive(data: bytes) -> bool | None:
    """True/False for a good file (inactive or not), None for a bad one."""
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_constant)
    except (_BadError, ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("active"), bool):
        return None
    if not isinstance(obj.get("reason"), str | None):
        return None
    until = obj.get("until_iso")
    if until is None:
        return not obj["active"]
    if not isinstance(until, str):
        return None
    try:
        moment = datetime.fromisoformat(until.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return None
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return not obj["active"] or moment <= NOW


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="breaker-props-") as name:
        yield Path(name)


def _check(folder: Path, data: bytes) -> None:
    file = folder / "circuit_breaker.json"
    file.write_bytes(data)
    state = read_breaker(file, NOW)
    cached = BreakerCache(file).state(NOW)
    assert cached == state
    expected = expected_inactive(data)
    if expected is None:
        assert state.status is BreakerStatus.UNREADABLE, (data[:200], state)
    else:
        assert state.active is not expected, (data[:200], state)
    assert "\n" not in state.describe()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
# Naive bounds are what hypothesis wants; the timezone comes from ``timezones``.
times = st.datetimes(
    min_value=datetime(1, 1, 1),  # noqa: DTZ001
    max_value=datetime(9999, 12, 31, 23, 59, 59),  # noqa: DTZ001
    timezones=offsets,
).map(datetime.isoformat)
breaker_like = st.fixed_dictionaries(
    {"active": st.booleans() | json_values},
    optional={
        "reason": st.text() | st.none() | json_values,
        "until_iso": times | st.text(max_size=40) | json_values,
        "changed_by": json_values,
    },
)


@SETTINGS
@given(data=st.binary(max_size=512))
def test_read_when_arbitrary_bytes_then_never_inactive_unless_good(
    folder: Path, data: bytes
) -> None:
    """Random bytes: no exception, and inactive only when the bytes are a good file."""
    _check(folder, data)


@SETTINGS
@given(value=json_values)
def test_read_when_arbitrary_json_then_never_inactive_unless_good(
    folder: Path, value: object
) -> None:
    """Any JSON document (NaN and Infinity included, as Python writes them)."""
    _check(folder, json.dumps(value).encode())


@SETTINGS
@given(value=breaker_like, spacing=st.sampled_from([None, 2]))
def test_read_when_breaker_like_object_then_never_inactive_unless_good(
    folder: Path, value: dict[str, Any], spacing: int | None
) -> None:
    """Objects close to the format, with edge-of-calendar times in any UTC offset."""
    _check(folder, json.dumps(value, indent=spacing, ensure_ascii=False).encode())


members = st.lists(
    st.tuples(
        st.sampled_from(["active", "reason", "until_iso", "x"]),
        st.booleans() | st.none() | st.text(max_size=8) | times | json_values,
    ),
    max_size=5,
)


@SETTINGS
@given(pairs=members)
def test_read_when_keys_repeat_then_never_inactive_unless_good(
    folder: Path, pairs: list[tuple[str, Any]]
) -> None:
    """Objects written by hand, where a key may appear twice ({"active": true, "active": false})."""
    body = ", ".join(f"{json.dumps(key)}: {json.dumps(value)}" for key, value in pairs)
    _check(folder, ("{" + body + "}").encode())
