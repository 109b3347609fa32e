"""The breaker reader on hostile files: it never blocks, never raises, and fails closed.

Only a path with nothing at it reads as inactive. Every member of these classes reads as
UNREADABLE (counts as active): things that are not a regular file at the path (FIFO,
symlinks even to a valid file or to nothing, devices, folders, sockets), files over
64 KiB, bytes that are not UTF-8, and JSON the format does not allow (deep nesting,
huge numbers, NaN, duplicate keys, wrong types, times outside the calendar in UTC).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.circuit_breaker import (
    MAX_FILE_BYTES,
    MAX_REASON_CHARS,
    BreakerCache,
    BreakerStatus,
    enable_breaker,
    read_breaker,
)
from app.risk.breaker_view import FileBreakerView
from app.risk.decision import Reason
from app.risk.rules import CircuitBreakerRule
from tests.unit.risk.builders import account, ctx, entry, settings

NOW = datetime(2025, 8, 17, 10, 0, tzinfo=UTC)
INACTIVE = '{"active": false, "reason": "done"}'


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays


def _link_to_valid_file(path: Path) -> None:
    target = path.with_name("real.json")
    target.write_text(INACTIVE)
    path.symlink_to(target)


PATHS: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (_fifo, "is a named pipe (FIFO), not a regular file"),
    "link-dev-zero": (lambda p: p.symlink_to("/dev/zero"), "is a symbolic link (to '/dev/zero')"),
    "link-urandom": (lambda p: p.symlink_to("/dev/urandom"), "is a symbolic link"),
    "link-dangling": (lambda p: p.symlink_to(p.with_name("gone.json")), "is a symbolic link"),
    "link-valid": (_link_to_valid_file, "is a symbolic link"),
    "folder": (Path.mkdir, "is a folder, not a regular file"),
    "socket": (_socket, "is a socket, not a regular file"),
    "too-big": (
        lambda p: p.write_text(INACTIVE + " " * MAX_FILE_BYTES),
        f"more than the {MAX_FILE_BYTES} allowed",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(PATHS))
def test_read_when_path_hostile_then_unreadable_at_once(tmp_path: Path, kind: str) -> None:
    """read_breaker, the cache and the guard's view all say UNREADABLE, without waiting."""
    make, problem = PATHS[kind]
    file = tmp_path / "circuit_breaker.json"
    make(file)

    states = [
        read_breaker(file, NOW),
        BreakerCache(file).state(NOW),
        FileBreakerView(file).state(NOW),
    ]

    for state in states:
        assert state.status is BreakerStatus.UNREADABLE
        assert state.active
        assert problem in (state.problem or "")


@pytest.mark.timeout(60)
def test_guard_when_breaker_path_is_fifo_then_entry_refused(tmp_path: Path) -> None:
    """The in-bot guard refuses entries (CIRCUIT_BREAKER) while a FIFO sits at the path."""
    file = tmp_path / "circuit_breaker.json"
    os.mkfifo(file)
    view = FileBreakerView(file)
    rule = CircuitBreakerRule.from_settings(settings())

    decision = rule.check(ctx(account(breaker_state=view.state(NOW)), entry()), NOW)

    assert not decision.allowed
    assert decision.reason is Reason.CIRCUIT_BREAKER
    assert "named pipe" in decision.detail


DEEP = "[" * 30_000 + "]" * 30_000
CONTENTS: dict[str, tuple[bytes, str]] = {
    "deep-nesting": (DEEP.encode(), "nested too deeply"),
    "deep-in-ignored-key": (
        ('{"active": false, "x": ' + "[" * 30_000 + "]" * 30_000 + "}").encode(),
        "nested too deeply",
    ),
    "year-9999-negative-offset": (
        b'{"active": false, "until_iso": "9999-12-31T23:59:59-01:00"}',
        "outside the years 1-9999 in UTC",
    ),
    "year-1-positive-offset": (
        b'{"active": true, "until_iso": "0001-01-01T00:00:00+01:00"}',
        "outside the years 1-9999 in UTC",
    ),
    "year-10000": (b'{"active": true, "until_iso": "10000-01-01T00:00:00Z"}', "ISO 8601"),
    "huge-int": (b'{"active": false, "n": 1' + b"0" * 5000 + b"}", "not usable JSON"),
    "nan": (b'{"active": false, "x": NaN}', "NaN is not valid JSON"),
    "infinity": (b'{"active": false, "x": -Infinity}', "-Infinity is not valid JSON"),
    "duplicate-active": (b'{"active": true, "active": false}', "'active' appears twice"),
    "reason-number": (b'{"active": false, "reason": 5}', "'reason' must be a string, got 5"),
    "reason-list": (b'{"active": false, "reason": ["a"]}', "'reason' must be a string"),
    "active-string": (b'{"active": "false"}', "'active' must be true or false"),
    "latin-1": (b'{"active": false, "reason": "caf\xe9"}', "not UTF-8 text (byte 0xe9"),
    "utf-8-bom": (b'\xef\xbb\xbf{"active": false}', "not valid JSON"),
    "nul-bytes": (b"\x00" * 64, "not valid JSON"),
}


@pytest.mark.parametrize("kind", list(CONTENTS))
def test_read_when_content_outside_format_then_unreadable_naming_problem(
    tmp_path: Path, kind: str
) -> None:
    """Content the reader cannot use counts as active and the problem is named."""
    data, problem = CONTENTS[kind]
    file = tmp_path / "cb.json"
    file.write_bytes(data)

    state = read_breaker(file, NOW)

    assert state.status is BreakerStatus.UNREADABLE
    assert problem in (state.problem or "")
    assert len(state.describe()) < 600  # quoted file content is cut, never echoed whole


@pytest.mark.parametrize(
    ("until", "status"),
    [("9999-12-31T23:59:59Z", BreakerStatus.ACTIVE), ("0001-01-01T00:00:00Z", "expired")],
)
def test_read_when_until_at_calendar_edge_in_utc_then_understood(
    tmp_path: Path, until: str, status: BreakerStatus
) -> None:
    """The first and last representable UTC times are valid ends."""
    file = tmp_path / "cb.json"
    file.write_text(json.dumps({"active": True, "until_iso": until}))
    assert read_breaker(file, NOW).status == status


def test_cache_when_file_unchanged_then_not_read_again(tmp_path: Path) -> None:
    """An unchanged (mtime, size, inode) costs one lstat: the content is not re-read.

    The file is rewritten in place with the same size and its mtime put back; the cache
    must still answer from what it parsed the first time.
    """
    file = tmp_path / "cb.json"
    file.write_text('{"active": true, "reason": "aaaa"}')
    cache = BreakerCache(file)
    assert cache.state(NOW).reason == "aaaa"
    before = file.stat()

    file.write_text('{"active": true, "reason": "bbbb"}')
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert cache.state(NOW).reason == "aaaa"
    file.write_text('{"active": true, "reason": "ccccc"}')  # size changes: re-read
    assert cache.state(NOW).reason == "ccccc"


@pytest.mark.timeout(60)
def test_cache_when_fifo_replaced_by_valid_file_then_follows(tmp_path: Path) -> None:
    """A cached UNREADABLE state ends as soon as a person puts a valid file there."""
    file = tmp_path / "cb.json"
    os.mkfifo(file)
    cache = BreakerCache(file)
    assert cache.state(NOW).status is BreakerStatus.UNREADABLE
    assert cache.state(NOW).status is BreakerStatus.UNREADABLE
    file.unlink()
    file.write_text(INACTIVE)
    assert cache.state(NOW).status is BreakerStatus.INACTIVE


@pytest.mark.timeout(60)
def test_trip_when_fifo_at_path_then_replaced_by_active_file(tmp_path: Path) -> None:
    """The guard's trip and `disable` replace whatever is at the path (atomic rename)."""
    file = tmp_path / "cb.json"
    os.mkfifo(file)
    view = FileBreakerView(file)
    assert view.trip("DAILY_DRAWDOWN: x", NOW)
    assert read_breaker(file, NOW).status is BreakerStatus.ACTIVE
    assert file.is_file()


def test_enable_when_reason_has_control_characters_then_stored_and_shown_escaped(
    tmp_path: Path,
) -> None:
    """The reason round-trips exactly; describe() shows it escaped on one line."""
    file = tmp_path / "cb.json"
    reason = "outage\n  until:   never\r\x1b[2J\u202etxt.exe\x00"
    enable_breaker(file, reason=reason, now=NOW, until=NOW + timedelta(hours=1))

    state = read_breaker(file, NOW)
    line = state.describe()

    assert state.reason == reason
    assert b"\n  until" not in file.read_bytes()  # JSON escapes it inside the string
    assert line.isprintable()
    assert "outage\\n  until:   never\\r\\x1b[2J\\u202etxt.exe\\x00" in line


def test_enable_when_reason_over_limit_then_cut_not_refused(tmp_path: Path) -> None:
    """A trip is never lost to the length of its reason: the stored reason is cut."""
    file = tmp_path / "cb.json"
    assert enable_breaker(file, reason="x" * 5000, now=NOW)
    reason = read_breaker(file, NOW).reason or ""
    assert reason == "x" * MAX_REASON_CHARS + "... (5000 chars)"


@pytest.mark.parametrize(("size", "status"), [(65536, "inactive"), (65537, "unreadable")])
def test_read_when_file_at_64_kib_limit_then_read_and_one_byte_more_unreadable(
    tmp_path: Path, size: int, status: BreakerStatus
) -> None:
    """A file of exactly 64 KiB (65536 bytes) is read; 65537 bytes count as active."""
    file = tmp_path / "cb.json"
    file.write_text(INACTIVE + " " * (size - len(INACTIVE)))

    state = read_breaker(file, NOW)

    assert file.stat().st_size == size
    assert state.status == status
    if status == "unreadable":
        assert "is 65537 bytes, more than the 65536 allowed" in (state.problem or "")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        (lambda tmp: tmp / "a-file" / "cb.json", "cannot be inspected (Not a directory"),
        (lambda tmp: tmp / "nul\x00byte.json", "cannot be inspected"),
    ],
    ids=["parent-is-a-file", "nul-in-name"],
)
def test_cache_when_path_cannot_be_inspected_then_unreadable_not_raised(
    tmp_path: Path, path: Callable[[Path], Path], problem: str
) -> None:
    """A path lstat refuses (its folder is a file, a NUL in the name) counts as active."""
    (tmp_path / "a-file").write_text("x")
    cache = BreakerCache(path(tmp_path))

    state = cache.state(NOW)

    assert state.status is BreakerStatus.UNREADABLE
    assert problem in (state.problem or "")
    assert cache.key is None


def test_cache_key_when_never_read_or_file_unreadable_then_none(tmp_path: Path) -> None:
    """The key (what FileBreakerView pins a held trip to) exists only for a readable file."""
    file = tmp_path / "cb.json"
    cache = BreakerCache(file)
    assert cache.key is None
    file.write_text("{garbage")
    assert cache.state(NOW).status is BreakerStatus.UNREADABLE
    assert cache.key is None
    file.write_text(INACTIVE)
    assert cache.state(NOW).status is BreakerStatus.INACTIVE
    assert cache.key == (file.stat().st_mtime_ns, file.stat().st_size, file.stat().st_ino)
