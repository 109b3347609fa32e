"""The breaker's operator commands (app/risk/breaker_commands.py), in process.

The same functions the CLI (scripts/circuit_breaker.py), Telegram and the drills call,
against a real breaker file and a real SQLite registry in ``tmp_path``; the CLI's own
end-to-end proof is tests/integration/test_circuit_breaker_cli.py.
"""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.circuit_breaker import MAX_REASON_CHARS, BreakerState, BreakerStatus, iso_utc
from app.errors import CircuitBreakerError, ConfigError, RegistryError
from app.logs import CORRELATION_ID_ENV
from app.registry import Registry
from app.risk import breaker_commands as commands
from app.risk.breaker_commands import (
    EXIT_ACTIVE,
    EXIT_INACTIVE,
    EXIT_UNREADABLE,
    MAX_MINUTES,
    BreakerChangeUnrecordedError,
    Change,
)
from app.risk.incidents import LazyRecorder
from tests.unit.risk.builders import settings
from tests.unit.risk.conftest import LogReader

# A fixed "now" in the past: a command that used the real clock instead would write
# different times, and an end after NOW but before today would already be over.
NOW = datetime(2026, 5, 4, 10, 0, 0, 123456, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """A real SQLite registry in tmp_path."""
    return Registry.from_settings(settings(db_path=str(tmp_path / "reg.sqlite")))


@pytest.fixture
def file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "circuit_breaker.json"


def _incidents(registry: Registry) -> list[tuple[str, str]]:
    """(severity, description) oldest first."""
    return [(r.severity, r.description) for r in reversed(registry.list_incidents())]


def _broken_recorder(tmp_path: Path) -> LazyRecorder:
    """The CLI's recorder on a registry that cannot be opened (its folder is a file)."""
    (tmp_path / "db").write_text("a file where the registry folder should be")
    return LazyRecorder(settings(db_path=str(tmp_path / "db" / "reg.sqlite")))


def _lines(risk_log: LogReader, message: str) -> list[dict[str, object]]:
    return [r for r in risk_log() if r["message"] == message]


# -- STATUS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (BreakerStatus.INACTIVE, 0),
        (BreakerStatus.EXPIRED, 0),
        (BreakerStatus.ACTIVE, 20),
        (BreakerStatus.UNREADABLE, 21),
    ],
)
def test_status_exit_code_when_each_status_then_documented_code(
    status: BreakerStatus, code: int
) -> None:
    """0 inactive or expired, 20 active, 21 unreadable (counts as active: fail closed)."""
    assert commands.status_exit_code(BreakerState(status, Path("cb.json"))) == code
    assert (EXIT_INACTIVE, EXIT_ACTIVE, EXIT_UNREADABLE) == (0, 20, 21)


def test_status_when_no_file_then_inactive(file: Path) -> None:
    """A fresh install has no breaker file: inactive, exit 0."""
    state = commands.status(file, NOW)

    assert (state.status, state.file) == (BreakerStatus.INACTIVE, file)
    assert commands.status_exit_code(state) == 0


def test_status_when_no_time_given_then_judged_at_the_real_clock(tmp_path: Path) -> None:
    """Without ``now`` the end time is compared with the wall clock: an end an hour from
    now is active, one an hour ago expired."""
    soon, past = tmp_path / "soon.json", tmp_path / "past.json"
    real = datetime.now(UTC)
    for path, end in ((soon, real + timedelta(hours=1)), (past, real - timedelta(hours=1))):
        path.write_text(json.dumps({"active": True, "reason": "r", "until_iso": iso_utc(end)}))

    assert commands.status(soon).status is BreakerStatus.ACTIVE
    assert commands.status(past).status is BreakerStatus.EXPIRED


def test_status_when_until_passed_then_expired_exit_0(tmp_path: Path) -> None:
    """until_iso before ``now``: expired, which lets entries through (exit 0)."""
    path = tmp_path / "cb.json"
    path.write_text('{"active": true, "reason": "old", "until_iso": "2020-01-01T00:00:00Z"}')

    state = commands.status(path, NOW)

    assert (state.status, state.reason) == (BreakerStatus.EXPIRED, "old")
    assert commands.status_exit_code(state) == 0


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_text('{"active": true, "until_iso": "next week"}'), "not an ISO 8601"),
        (os.mkfifo, "it is a named pipe (FIFO)"),
        (lambda p: p.symlink_to(p.with_name("gone.json")), "it is a symbolic link"),
        (lambda p: p.write_bytes(b"[" * 30_000 + b"]" * 30_000), "nested too deeply"),
    ],
    ids=["corrupt", "fifo", "dangling-symlink", "deep-nesting"],
)
def test_status_when_file_hostile_then_unreadable_exit_21_naming_problem(
    tmp_path: Path, make: object, problem: str
) -> None:
    """A file that cannot be understood counts as active (21) at once, never hangs on a FIFO
    and never reads a dangling symlink as inactive; the problem is named."""
    path = tmp_path / "cb.json"
    make(path)  # type: ignore[operator]

    state = commands.status(path, NOW)

    assert state.status is BreakerStatus.UNREADABLE
    assert commands.status_exit_code(state) == 21
    assert problem in (state.problem or "")


# -- --minutes AND --until -----------------------------------------------------------------


@pytest.mark.parametrize("minutes", [60, "60"])
def test_resolve_until_when_minutes_then_now_plus_minutes_to_the_second(
    minutes: int | str,
) -> None:
    """--minutes N ends N minutes from now, cut to the whole second (as typed or as int)."""
    got = commands.resolve_until(minutes=minutes, until=None, now=NOW)

    assert got == datetime(2026, 5, 4, 11, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("minutes", [1, MAX_MINUTES, "1", str(MAX_MINUTES)])
def test_resolve_until_when_minutes_on_the_bounds_then_accepted(minutes: int | str) -> None:
    """1 minute and a leap year of minutes are both allowed (the bounds are inclusive)."""
    got = commands.resolve_until(minutes=minutes, until=None, now=NOW)

    assert got == (NOW + timedelta(minutes=int(minutes))).replace(microsecond=0)
    assert MAX_MINUTES == 366 * 24 * 60


@pytest.mark.parametrize("minutes", [0, -1, MAX_MINUTES + 1, "0", str(MAX_MINUTES + 1)])
def test_resolve_until_when_minutes_out_of_range_then_config_error_naming_range(
    minutes: int | str,
) -> None:
    """0, negative and more than a leap year are usage errors (exit 2) giving the range."""
    with pytest.raises(ConfigError) as caught:
        commands.resolve_until(minutes=minutes, until=None, now=NOW)

    assert str(caught.value) == (
        f"--minutes {minutes} is out of range; use a whole number of minutes in [1, 527040]"
    )
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("minutes", ["1_0", " 5", "١٢", "+5", "5.0", "", "ten"])
def test_resolve_until_when_minutes_not_plain_digits_then_config_error_naming_value(
    minutes: str,
) -> None:
    """Only ASCII digits: underscores, spaces, signs, other scripts' digits are refused."""
    with pytest.raises(ConfigError) as caught:
        commands.resolve_until(minutes=minutes, until=None, now=NOW)

    message = str(caught.value)
    assert message.startswith(f"--minutes {minutes!r} is not valid (write ASCII digits")
    assert message.endswith("); use a whole number of minutes in [1, 527040]")


def test_resolve_until_when_minutes_text_huge_then_shown_cut() -> None:
    """A 10,000 character value is not echoed in full."""
    with pytest.raises(ConfigError) as caught:
        commands.resolve_until(minutes="x" * 10_000, until=None, now=NOW)

    assert "(10000 chars)" in str(caught.value)
    assert len(str(caught.value)) < 1000


def test_resolve_until_when_until_then_parsed_in_utc() -> None:
    """--until with an offset is the same instant in UTC."""
    got = commands.resolve_until(minutes=None, until="2030-01-01T02:00:00+02:00", now=NOW)

    assert got == datetime(2030, 1, 1, tzinfo=UTC)
    assert got is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("2030-01-01T00:00:00", "--until='2030-01-01T00:00:00' has no timezone"),
        ("next week", "--until='next week' is not an ISO 8601 time"),
        ("10000-01-01T00:00:00Z", "--until='10000-01-01T00:00:00Z' is not an ISO 8601 time"),
        ("9999-12-31T23:59:59-01:00", "is outside the years 1-9999 in UTC"),
        ("0001-01-01T00:00:00+01:00", "is outside the years 1-9999 in UTC"),
    ],
)
def test_resolve_until_when_until_bad_then_config_error(until: str, message: str) -> None:
    """An end without timezone, unparsable or off the calendar is a usage error."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        commands.resolve_until(minutes=None, until=until, now=NOW)


def test_resolve_until_when_neither_then_none_until_disabled() -> None:
    """No --minutes and no --until: the breaker stays on until a person disables it."""
    assert commands.resolve_until(minutes=None, until=None, now=NOW) is None


# -- ENABLE ------------------------------------------------------------------------------


def test_enable_when_until_then_file_active_and_warning_incident(
    file: Path, registry: Registry
) -> None:
    """enable writes the file first, then a warning incident naming the end, the reason
    and the file; the change says what the guard now sees."""
    change = commands.enable(
        file, reason=" exchange outage ", until=LATER, recorder=registry, now=NOW
    )

    data = json.loads(file.read_text())
    assert (data["active"], data["reason"], data["until_iso"]) == (
        True,
        "exchange outage",
        "2026-05-04T12:00:00.123456Z",
    )
    assert data["changed_iso"] == iso_utc(NOW)  # the command's time, not the wall clock
    assert change.state.status is BreakerStatus.ACTIVE
    assert (change.state.reason, change.state.until) == ("exchange outage", LATER)
    assert change.changed is True
    assert _incidents(registry) == [
        (
            "warning",
            f"circuit breaker enabled until 2026-05-04T12:00:00.123456Z: exchange outage ({file})",
        )
    ]
    assert change.incident_id == registry.list_incidents()[0].incident_id


def test_enable_when_no_end_then_until_disabled_in_incident(file: Path, registry: Registry) -> None:
    """Without an end the incident says it lasts until disabled."""
    change = commands.enable(file, reason="manual", until=None, recorder=registry, now=NOW)

    assert change.state.until is None and change.state.active
    assert "until_iso" not in json.loads(file.read_text())
    assert _incidents(registry) == [
        ("warning", f"circuit breaker enabled until disabled: manual ({file})")
    ]


def test_enable_when_end_after_given_now_but_before_the_wall_clock_then_active_at_now(
    file: Path, registry: Registry
) -> None:
    """The time passed in is the time of the change (drills and tests replay a moment): an
    end that is past for the wall clock but future for ``now`` is accepted."""
    change = commands.enable(file, reason="drill", until=LATER, recorder=registry, now=NOW)

    assert change.state.status is BreakerStatus.ACTIVE


def test_enable_when_no_time_given_then_the_wall_clock(file: Path, registry: Registry) -> None:
    """Without ``now`` the change is stamped with the wall clock, and an end already past
    for it is refused."""
    before = datetime.now(UTC).replace(microsecond=0)
    commands.enable(file, reason="x", until=None, recorder=registry)

    stamped = datetime.fromisoformat(json.loads(file.read_text())["changed_iso"])
    assert before <= stamped <= datetime.now(UTC)
    with pytest.raises(ConfigError, match="is not in the future"):
        commands.enable(file, reason="x", until=LATER, recorder=registry)


def test_enable_when_reason_has_control_characters_then_stored_raw_and_incident_escaped(
    file: Path, registry: Registry
) -> None:
    """The file keeps the reason as given; the incident text shows it escaped, so that it
    cannot forge a line where it is shown."""
    forged = "ok\n  until:   2000-01-01T00:00:00Z\rcircuit breaker: inactive\x1b[2J"

    commands.enable(file, reason=forged, until=None, recorder=registry, now=NOW)

    assert json.loads(file.read_text())["reason"] == forged
    ((severity, text),) = _incidents(registry)
    assert severity == "warning"
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert "ok\\n  until:   2000-01-01T00:00:00Z\\rcircuit breaker: inactive\\x1b[2J" in text


def test_enable_when_file_path_has_a_newline_then_incident_escapes_it(
    tmp_path: Path, registry: Registry
) -> None:
    """The file's path is escaped in the incident too."""
    odd = tmp_path / "a\nb" / "cb.json"

    commands.enable(odd, reason="r", until=None, recorder=registry, now=NOW)

    assert _incidents(registry)[0][1].endswith("(" + str(odd).replace("\n", "\\n") + ")")


@pytest.mark.parametrize("length", [MAX_REASON_CHARS, MAX_REASON_CHARS + 1])
def test_enable_when_reason_at_or_over_the_limit_then_kept_or_refused_before_writing(
    file: Path, registry: Registry, length: int
) -> None:
    """A reason of the limit's length (spaces around it do not count) is kept whole; one
    character more is a usage error naming its length, and nothing is written."""
    reason = "  " + "r" * length + "  "
    if length <= MAX_REASON_CHARS:
        commands.enable(file, reason=reason, until=None, recorder=registry, now=NOW)
        assert json.loads(file.read_text())["reason"] == "r" * length
        return

    with pytest.raises(ConfigError) as caught:
        commands.enable(file, reason=reason, until=None, recorder=registry, now=NOW)

    assert str(caught.value).startswith("--reason is 1001 characters long; keep it to 1000 ")
    assert not file.exists()
    assert _incidents(registry) == []


@pytest.mark.parametrize(
    ("reason", "until", "message"),
    [
        (" ", None, "--reason is empty"),
        ("x", NOW, "is not in the future"),
        ("x", NOW - timedelta(minutes=1), "is not in the future"),
    ],
    ids=["blank-reason", "end-now", "end-past"],
)
def test_enable_when_reason_blank_or_end_not_future_then_config_error_and_nothing_written(
    file: Path, registry: Registry, reason: str, until: datetime | None, message: str
) -> None:
    """A blank reason or an end that is not after ``now`` refuses (exit 2): no file, no
    incident."""
    with pytest.raises(ConfigError, match=message):
        commands.enable(file, reason=reason, until=until, recorder=registry, now=NOW)

    assert not file.exists()
    assert _incidents(registry) == []


def test_enable_when_file_cannot_be_written_then_breaker_error_and_no_incident(
    tmp_path: Path, registry: Registry
) -> None:
    """Safety first: a change that could not be made records nothing (exit 7)."""
    (tmp_path / "state").write_text("a file where the folder should be")

    with pytest.raises(CircuitBreakerError) as caught:
        commands.enable(
            tmp_path / "state" / "cb.json", reason="x", until=None, recorder=registry, now=NOW
        )

    assert caught.value.exit_code == 7
    assert _incidents(registry) == []


def test_enable_when_registry_unwritable_then_change_kept_and_exit_5(
    tmp_path: Path, file: Path, risk_log: LogReader
) -> None:
    """The breaker changes even when its incident cannot be recorded; the error (a registry
    error, exit 5) names the change and the cause, and an ERROR line keeps the text."""
    with pytest.raises(BreakerChangeUnrecordedError) as caught:
        commands.enable(
            file, reason="outage", until=None, recorder=_broken_recorder(tmp_path), now=NOW
        )

    assert isinstance(caught.value, RegistryError) and caught.value.exit_code == 5
    message = str(caught.value)
    assert message.startswith(
        f"circuit breaker enabled until disabled: outage ({file}) -- but the incident could "
        "not be recorded: "
    )
    assert commands.status(file, NOW).status is BreakerStatus.ACTIVE
    (failed,) = _lines(risk_log, "incident_failed")
    assert failed["level"] == "ERROR"
    assert failed["description"] == f"circuit breaker enabled until disabled: outage ({file})"
    assert failed["error"] and str(failed["error"]) in message
    assert _lines(risk_log, "incident_logged") == []


def test_enable_when_done_then_enabled_and_incident_lines_logged(
    file: Path, registry: Registry, risk_log: LogReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One WARNING ``circuit_breaker_enabled`` with the file, status, reason, end and who,
    then ``incident_logged`` with the incident's id and severity."""
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv(CORRELATION_ID_ENV, "run-cid-7")

    change = commands.enable(file, reason="outage", until=LATER, recorder=registry, now=NOW)

    (enabled,) = _lines(risk_log, "circuit_breaker_enabled")
    assert enabled["level"] == "WARNING"
    assert (enabled["file"], enabled["status"], enabled["reason"], enabled["by"]) == (
        str(file),
        "active",
        "outage",
        "alice",
    )
    assert enabled["until"] == iso_utc(LATER)
    assert enabled["correlation_id"] == "run-cid-7"
    (logged,) = _lines(risk_log, "incident_logged")
    assert (logged["incident_id"], logged["severity"], logged["level"]) == (
        change.incident_id,
        "warning",
        "INFO",
    )
    assert registry.list_incidents()[0].correlation_id == "run-cid-7"


def test_commands_when_no_user_or_runner_id_then_by_none_and_one_id_per_process(
    tmp_path: Path, registry: Registry, risk_log: LogReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without USER the actor is unknown (None, not an empty name); without the runner's
    correlation id every command of the process shares one ``breaker-<12 hex>`` id."""
    monkeypatch.setenv("USER", "")
    monkeypatch.delenv(CORRELATION_ID_ENV, raising=False)

    commands.enable(tmp_path / "a.json", reason="r", until=None, recorder=registry, now=NOW)
    commands.disable(tmp_path / "a.json", reason="r", recorder=registry, now=NOW)

    lines = _lines(risk_log, "circuit_breaker_enabled") + _lines(
        risk_log, "circuit_breaker_disabled"
    )
    assert [line["by"] for line in lines] == [None, None]
    ids = {line["correlation_id"] for line in lines} | {
        r.correlation_id for r in registry.list_incidents()
    }
    (cid,) = ids
    assert re.fullmatch(r"breaker-[0-9a-f]{12}", str(cid))


# -- DISABLE -----------------------------------------------------------------------------


def test_disable_when_active_then_inactive_and_info_incident_with_reason(
    file: Path, registry: Registry, risk_log: LogReader
) -> None:
    """disable turns an active breaker off (changed) and records an info incident saying
    what it was and why."""
    commands.enable(file, reason="manual", until=None, recorder=registry, now=NOW)

    change = commands.disable(file, reason=" checked the logs ", recorder=registry, now=LATER)

    data = json.loads(file.read_text())
    assert (data["active"], data["reason"], data["changed_iso"]) == (
        False,
        "checked the logs",
        iso_utc(LATER),
    )
    assert (change.state.status, change.changed) == (BreakerStatus.INACTIVE, True)
    assert _incidents(registry)[-1] == (
        "info",
        f"circuit breaker disabled (was active): checked the logs ({file})",
    )
    assert change.incident_id == registry.list_incidents()[0].incident_id
    (disabled,) = _lines(risk_log, "circuit_breaker_disabled")
    assert (disabled["level"], disabled["status"], disabled["previous"]) == (
        "WARNING",
        "inactive",
        "active",
    )
    assert (disabled["file"], disabled["reason"]) == (str(file), "checked the logs")


def test_disable_when_already_off_then_unchanged_but_recorded(
    file: Path, registry: Registry
) -> None:
    """Disabling an inactive breaker changes nothing for the guard (changed False) and is
    still recorded, saying it was inactive."""
    change = commands.disable(file, reason="just in case", recorder=registry, now=NOW)

    assert (change.state.status, change.changed) == (BreakerStatus.INACTIVE, False)
    assert _incidents(registry) == [
        ("info", f"circuit breaker disabled (was inactive): just in case ({file})")
    ]


def test_disable_when_active_at_now_but_expired_at_the_wall_clock_then_judged_at_now(
    file: Path, registry: Registry
) -> None:
    """Before and after are read at the command's time: an end after ``now`` (but long
    past for the wall clock) was still active."""
    commands.enable(file, reason="r", until=LATER, recorder=registry, now=NOW)

    change = commands.disable(file, reason="done", recorder=registry, now=NOW)

    assert change.changed is True
    assert "(was active)" in _incidents(registry)[-1][1]


def test_disable_when_expired_then_not_a_change(file: Path, registry: Registry) -> None:
    """An expired breaker already lets entries through: disabling it is no change."""
    commands.enable(file, reason="r", until=LATER, recorder=registry, now=NOW)

    change = commands.disable(file, reason="done", recorder=registry, now=LATER)

    assert change.changed is False
    assert "(was expired)" in _incidents(registry)[-1][1]


def test_disable_when_file_unreadable_then_repaired_and_counted_as_a_change(
    file: Path, registry: Registry
) -> None:
    """An unreadable file counted as active: disable rewrites it (repair) and says so."""
    file.parent.mkdir(parents=True)
    file.write_text("{not json")

    change = commands.disable(file, reason="repaired", recorder=registry, now=NOW)

    assert (change.state.status, change.changed) == (BreakerStatus.INACTIVE, True)
    assert "(was unreadable): repaired" in _incidents(registry)[-1][1]


def test_disable_when_no_time_given_then_the_wall_clock(file: Path, registry: Registry) -> None:
    """Without ``now`` the change is stamped with the wall clock, and an end that is past
    for it reads as expired."""
    commands.enable(file, reason="r", until=LATER, recorder=registry, now=NOW)
    before = datetime.now(UTC).replace(microsecond=0)

    change = commands.disable(file, reason="done", recorder=registry)

    stamped = datetime.fromisoformat(json.loads(file.read_text())["changed_iso"])
    assert before <= stamped <= datetime.now(UTC)
    assert change.changed is False  # expired long ago for the wall clock


def test_disable_when_reason_too_long_then_refused_and_breaker_stays_on(
    file: Path, registry: Registry
) -> None:
    """An over-long reason is refused before anything changes: the breaker stays active."""
    commands.enable(file, reason="r", until=None, recorder=registry, now=NOW)

    with pytest.raises(ConfigError, match="--reason is 1001 characters long"):
        commands.disable(file, reason="d" * 1001, recorder=registry, now=NOW)

    assert commands.status(file, NOW).status is BreakerStatus.ACTIVE
    assert len(_incidents(registry)) == 1


def test_disable_when_reason_blank_then_disabled_with_default_reason(
    file: Path, registry: Registry
) -> None:
    """A blank disable reason is no reason to keep the breaker on."""
    commands.enable(file, reason="r", until=None, recorder=registry, now=NOW)

    change = commands.disable(file, reason="  ", recorder=registry, now=NOW)

    assert change.state.status is BreakerStatus.INACTIVE
    assert json.loads(file.read_text())["reason"] == "disabled"


def test_disable_when_registry_unwritable_then_change_kept_and_exit_5(
    tmp_path: Path, file: Path, registry: Registry
) -> None:
    """Disabling also stands when its incident cannot be recorded."""
    commands.enable(file, reason="r", until=None, recorder=registry, now=NOW)

    with pytest.raises(BreakerChangeUnrecordedError, match="disabled \\(was active\\): off"):
        commands.disable(file, reason="off", recorder=_broken_recorder(tmp_path), now=NOW)

    assert commands.status(file, NOW).status is BreakerStatus.INACTIVE


# -- RACES -------------------------------------------------------------------------------


def test_commands_when_concurrent_enable_disable_then_file_always_valid(
    file: Path, registry: Registry
) -> None:
    """Six threads flipping the breaker at once leave a valid file and six incidents."""
    errors: list[BaseException] = []

    def flip(n: int) -> None:
        try:
            if n % 2:
                commands.disable(file, reason=f"writer {n}", recorder=registry, now=NOW)
            else:
                commands.enable(file, reason=f"writer {n}", until=None, recorder=registry, now=NOW)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=flip, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert commands.status(file, NOW).status in (BreakerStatus.ACTIVE, BreakerStatus.INACTIVE)
    assert len(_incidents(registry)) == 6


def test_change_when_built_then_a_frozen_value() -> None:
    """A command's result cannot be altered by whoever shows it."""
    change = Change(BreakerState(BreakerStatus.INACTIVE, Path("x")), False, None)

    with pytest.raises(AttributeError):
        change.changed = True  # type: ignore[misc]


@pytest.mark.parametrize("command", ["enable", "disable"])
def test_commands_when_reason_given_by_position_then_refused(
    file: Path, registry: Registry, command: str
) -> None:
    """Everything after the file is keyword-only: a reason cannot be taken for an end time
    or a recorder by position."""
    with pytest.raises(TypeError):
        if command == "enable":
            commands.enable(file, "r", None, registry, NOW)  # type: ignore[misc]
        else:
            commands.disable(file, "r", registry, NOW)  # type: ignore[misc]
    assert not file.exists()
