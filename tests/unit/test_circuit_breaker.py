"""The circuit breaker file (app/circuit_breaker.py): format, fail-closed reading, writes."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import pwd
import shutil
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.circuit_breaker import (
    BreakerCache,
    BreakerState,
    BreakerStatus,
    disable_breaker,
    enable_breaker,
    parse_breaker,
    parse_iso_utc,
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
    [
        ("  ", None, "--reason is empty"),
        ("x", NOW - timedelta(seconds=1), "not in the future"),
        ("x", NOW, "not in the future"),
    ],
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


# -- WRITES OVER AN EXISTING BREAKER --------------------------------------------------------

PRESENT: dict[str, str] = {
    "inactive": '{"active": false, "reason": "done"}',
    "active-with-end": '{"active": true, "reason": "old", "until_iso": "2025-08-17T11:00:00Z"}',
    "expired": '{"active": true, "reason": "old", "until_iso": "2025-08-17T09:00:00Z"}',
    "unreadable": "{garbage",
}


@pytest.mark.parametrize("present", list(PRESENT))
def test_trip_when_breaker_not_active_indefinitely_then_written_with_no_end(
    tmp_path: Path, present: str
) -> None:
    """keep_indefinite (the bot's trip) writes over anything but an indefinite activation."""
    file = tmp_path / "cb.json"
    file.write_text(PRESENT[present])

    changed = enable_breaker(file, reason="DAILY_DRAWDOWN: x", now=NOW, keep_indefinite=True)

    state = read_breaker(file, NOW)
    assert changed is True
    assert (state.status, state.reason, state.until) == (
        BreakerStatus.ACTIVE,
        "DAILY_DRAWDOWN: x",
        None,
    )


def test_trip_when_active_indefinitely_then_false_and_file_untouched(tmp_path: Path) -> None:
    """An operator's indefinite activation is never overwritten by the bot's trip."""
    file = tmp_path / "cb.json"
    enable_breaker(file, reason="operator: exchange outage", now=NOW)
    before = file.read_bytes()

    changed = enable_breaker(file, reason="DAILY_DRAWDOWN: x", now=NOW, keep_indefinite=True)

    assert changed is False
    assert file.read_bytes() == before


def test_enable_when_active_indefinitely_then_operator_replaces_reason(tmp_path: Path) -> None:
    """Without keep_indefinite (the CLI) an enable always writes: the new reason and end."""
    file = tmp_path / "cb.json"
    enable_breaker(file, reason="DAILY_DRAWDOWN: x", now=NOW)

    changed = enable_breaker(
        file, reason="operator: until the fix", now=NOW, until=NOW + timedelta(hours=1)
    )

    state = read_breaker(file, NOW)
    assert changed is True
    assert (state.reason, state.until) == ("operator: until the fix", NOW + timedelta(hours=1))


def test_disable_when_active_indefinitely_then_inactive(tmp_path: Path) -> None:
    """disable ends even an indefinite activation (only a person runs it)."""
    file = tmp_path / "cb.json"
    enable_breaker(file, reason="DAILY_DRAWDOWN: x", now=NOW)

    disable_breaker(file, reason="checked the losses", now=NOW)

    state = read_breaker(file, NOW)
    assert (state.status, state.reason) == (BreakerStatus.INACTIVE, "checked the losses")


def test_enable_when_state_folders_missing_then_all_created(tmp_path: Path) -> None:
    """A fresh RISK_STATE_DIR several levels deep is created on the first write."""
    file = tmp_path / "user_data" / "state" / "breaker" / "cb.json"

    assert enable_breaker(file, reason="manual", now=NOW)

    assert read_breaker(file, NOW).status is BreakerStatus.ACTIVE


def test_enable_when_path_is_a_folder_then_error_and_no_temp_file_left(tmp_path: Path) -> None:
    """A write that fails after the temp file was made removes it (no .tmp litter)."""
    file = tmp_path / "cb.json"
    file.mkdir()
    (file / "keep").write_text("x")

    with pytest.raises(CircuitBreakerError, match="cannot write circuit breaker file"):
        enable_breaker(file, reason="manual", now=NOW)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["cb.json", "cb.json.lock"]


@pytest.mark.parametrize(("length", "stored"), [(1000, 1000), (1001, 1000)])
def test_enable_when_reason_near_limit_then_cut_after_1000_chars(
    tmp_path: Path, length: int, stored: int
) -> None:
    """A reason of 1000 characters is stored whole; one more and it is cut to 1000."""
    file = tmp_path / "cb.json"
    enable_breaker(file, reason="x" * length, now=NOW)

    reason = read_breaker(file, NOW).reason or ""

    assert reason.startswith("x" * stored)
    assert reason.count("x") == stored
    assert reason.endswith(f"... ({length} chars)") is (length > stored)


def test_writers_when_arguments_positional_then_type_error(tmp_path: Path) -> None:
    """Reason, time and name are keyword-only: ``now`` can never land where ``until`` goes."""
    file = tmp_path / "cb.json"
    with pytest.raises(TypeError):
        enable_breaker(file, "manual", NOW)  # type: ignore[misc]
    with pytest.raises(TypeError):
        disable_breaker(file, "fixed", NOW)  # type: ignore[misc]
    with pytest.raises(TypeError):
        parse_iso_utc("2025-08-17T10:15:00Z", "until_iso")  # type: ignore[misc]
    assert not file.exists()


# -- THE STATE AS OTHERS SEE IT ---------------------------------------------------------------


def test_to_json_when_until_set_then_iso_utc_text_else_null() -> None:
    """``status --json`` gives until_iso in UTC with Z, and null for a breaker with no end."""
    until = datetime(2025, 8, 17, 12, 15, tzinfo=timezone(timedelta(hours=2)))
    with_end = BreakerState(BreakerStatus.ACTIVE, FILE, reason="r", until=until)
    no_end = BreakerState(BreakerStatus.ACTIVE, FILE, reason="r")

    assert with_end.to_json()["until_iso"] == "2025-08-17T10:15:00Z"
    assert no_end.to_json()["until_iso"] is None


def test_state_when_assigned_then_frozen() -> None:
    """A state is shared (the guard's cache, a held trip): nobody can turn it inactive."""
    state = BreakerState(BreakerStatus.ACTIVE, FILE, reason="r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.status = BreakerStatus.INACTIVE  # type: ignore[misc]


def _uid_without_passwd_entry() -> int:
    """A uid unknown to the passwd database, as in a container run with ``--user 54321``."""
    for uid in range(54321, 54421):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise AssertionError("every uid from 54321 to 54420 has a passwd entry")


def _enable_as(uid: int, file: Path) -> int:
    """Run enable_breaker in a forked child that became ``uid``; return its exit status.

    A fork, not a new interpreter: the interpreter's own files may be unreadable to that
    uid (under /root), and the child must run the code under test, mutated or not.
    """
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
                os.environ.pop(name, None)
            enable_breaker(file, reason="manual", now=NOW)
            code = 0
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can become a uid with no passwd entry")
def test_enable_when_user_has_no_passwd_entry_then_changed_by_names_the_uid() -> None:
    """No passwd entry and no USER/LOGNAME: the audit trail names the uid, the write works."""
    uid = _uid_without_passwd_entry()
    folder = Path(tempfile.mkdtemp(prefix="breaker-uid-"))
    try:
        folder.chmod(0o777)
        status = _enable_as(uid, folder / "cb.json")
        data = json.loads((folder / "cb.json").read_text()) if status == 0 else {}
    finally:
        shutil.rmtree(folder)
    assert status == 0
    assert data["changed_by"].startswith(f"{uid}@")
    assert data["active"] is True


def test_enable_when_written_then_file_is_indented_json_one_key_per_line(tmp_path: Path) -> None:
    """Operators `cat` and diff the file: one key per line, indented by two spaces, the
    state first and who changed it last, ending in a newline."""
    file = tmp_path / "cb.json"
    enable_breaker(file, reason="manual", now=NOW, until=NOW + timedelta(hours=1))

    lines = file.read_text().split("\n")

    assert lines[0] == "{"
    assert lines[1:5] == [
        '  "active": true,',
        '  "reason": "manual",',
        '  "until_iso": "2025-08-17T11:00:00Z",',
        '  "changed_iso": "2025-08-17T10:00:00Z",',
    ]
    assert lines[5].startswith('  "changed_by": "')
    assert lines[6:] == ["}", ""]
