"""scripts/circuit_breaker.py run as a user runs it: output, exit codes, incidents, races."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import KNOWN_VARIABLES
from tests.helpers import REPO_ROOT, clean_env, make_project, run_cli

SCRIPT = REPO_ROOT / "scripts" / "circuit_breaker.py"


def cb(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the breaker CLI in ``cwd`` with a clean environment."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _incidents(cwd: Path) -> list[tuple[str, str]]:
    db = cwd / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT severity, description FROM incidents ORDER BY created_utc")
        return [(str(a), str(b)) for a, b in rows]


def test_status_when_no_file_then_inactive_exit_0(tmp_path: Path) -> None:
    """A fresh install has no breaker file: inactive, exit 0."""
    result = cb(tmp_path, "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("circuit breaker: inactive")


def test_enable_then_status_when_active_then_exit_20_and_incident(tmp_path: Path) -> None:
    """enable writes the file and an incident; status then exits 20 and shows the reason."""
    enabled = cb(tmp_path, "enable", "--reason", "exchange outage", "--minutes", "60", "--json")
    assert enabled.returncode == 0, enabled.stderr
    payload = json.loads(enabled.stdout)
    assert payload["status"] == "active"
    assert payload["incident_id"].startswith("incident_")

    status = cb(tmp_path, "status", "--state-dir", "user_data/state")

    assert status.returncode == 20
    assert "ACTIVE" in status.stdout
    assert "exchange outage" in status.stdout
    data = json.loads((tmp_path / "user_data/state/circuit_breaker.json").read_text())
    assert (data["active"], data["reason"]) == (True, "exchange outage")
    assert data["until_iso"].endswith("Z")
    assert _incidents(tmp_path)[0][0] == "warning"
    assert "exchange outage" in _incidents(tmp_path)[0][1]


def test_disable_when_active_then_inactive_and_incident_with_reason(tmp_path: Path) -> None:
    """disable records an info incident carrying its reason."""
    cb(tmp_path, "enable", "--reason", "manual", "--file", "cb.json")
    result = cb(tmp_path, "disable", "--reason", "checked the logs", "--file", "cb.json")
    assert result.returncode == 0, result.stderr
    assert "inactive" in result.stdout
    assert cb(tmp_path, "status", "--file", "cb.json").returncode == 0
    severities = [s for s, text in _incidents(tmp_path) if "checked the logs" in text]
    assert severities == ["info"]


def test_status_when_until_passed_then_expired_exit_0(tmp_path: Path) -> None:
    """until_iso in the past: inactive, and the status says expired."""
    (tmp_path / "cb.json").write_text(
        '{"active": true, "reason": "old", "until_iso": "2020-01-01T00:00:00Z"}'
    )
    result = cb(tmp_path, "status", "--file", "cb.json", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["status"] == "expired"


def test_status_when_file_corrupt_then_active_exit_21_naming_problem(tmp_path: Path) -> None:
    """An unparsable file counts as active (fail closed); the problem is named."""
    (tmp_path / "cb.json").write_text('{"active": true, "until_iso": "next week"}')
    result = cb(tmp_path, "status", "--file", "cb.json")
    assert result.returncode == 21
    assert "ACTIVE (fail closed" in result.stdout
    assert "not an ISO 8601 time" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enable"], "--reason"),
        (
            ["enable", "--reason", "x", "--minutes", "5", "--until", "2030-01-01T00:00:00Z"],
            "not allowed",
        ),
        (["enable", "--reason", "x", "--minutes", "0"], "--minutes 0 is out of range"),
        (["enable", "--reason", "x", "--until", "2030-01-01T00:00:00"], "has no timezone"),
        (["enable", "--reason", "x", "--until", "2020-01-01T00:00:00Z"], "not in the future"),
        (["enable", "--reason", " "], "--reason is empty"),
        (["enable", "--reason", "x", "--until", "10000-01-01T00:00:00Z"], "--until='10000-01"),
        (
            ["enable", "--reason", "x", "--until", "9999-12-31T23:59:59-01:00"],
            "--until='9999-12-31T23:59:59-01:00' is outside the years 1-9999 in UTC",
        ),
        (
            ["enable", "--reason", "x", "--until", "0001-01-01T00:00:00+01:00"],
            "is outside the years 1-9999 in UTC",
        ),
        (["enable", "--reason", "x", "--minutes", "1_0"], "--minutes '1_0' is not valid"),
        (["enable", "--reason", "x", "--minutes", "١٢"], "is not valid (write ASCII"),
        (["enable", "--reason", "r" * 1001], "--reason is 1001 characters long"),
        (["status", "--file", "a", "--state-dir", "b"], "not allowed"),
    ],
)
def test_cli_when_arguments_bad_then_exit_2_and_no_file(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Bad arguments exit 2 with a message and change nothing."""
    result = cb(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "user_data" / "state" / "circuit_breaker.json").exists()


@pytest.mark.parametrize(
    ("kind", "value"),
    [("text", "abc"), ("negative", "-1"), ("out_of_range", "1000000"), ("empty", "")],
)
def test_cli_when_every_risk_variable_bad_then_exit_2_naming_each(
    tmp_path: Path, kind: str, value: str
) -> None:
    """Every RISK_* variable with a bad value stops the program (exit 2) and is named.

    Paths and the URL accept any text, so for them only the empty value is wrong.
    """
    text_ok = {"RISK_STATE_DIR", "RISK_CIRCUIT_BREAKER_FILE", "RISK_DB_PATH", "RISK_DB_URL"}
    unbounded = {"RISK_MAX_CONCURRENT_BACKTESTS"}  # blank = unlimited; no upper bound
    checked = {
        name
        for name in KNOWN_VARIABLES
        if not (name in text_ok and kind != "empty")
        and not (name in unbounded and kind in ("empty", "out_of_range"))
    }
    result = cb(tmp_path, "status", env=dict.fromkeys(checked, value))
    assert result.returncode == 2
    assert result.stdout == ""
    missing = sorted(name for name in checked if f"{name}={value!r}" not in result.stderr)
    assert missing == []


def test_cli_when_registry_unwritable_then_change_kept_and_exit_5(tmp_path: Path) -> None:
    """The breaker changes even when its incident cannot be recorded; exit 5 says so."""
    (tmp_path / "db").write_text("a file where the registry folder should be")
    env = {"RISK_DB_PATH": "db/registry.sqlite"}
    result = cb(tmp_path, "enable", "--reason", "outage", env=env)
    assert result.returncode == 5
    assert "incident could not be recorded" in result.stderr
    assert cb(tmp_path, "status", env=env).returncode == 20


def test_cli_when_concurrent_enable_disable_then_file_always_valid(tmp_path: Path) -> None:
    """Several CLI processes flipping the breaker at once never leave invalid JSON."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), command, "--reason", f"writer {n}"],
            cwd=tmp_path,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, command in enumerate(["enable", "disable"] * 3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    status = cb(tmp_path, "status", "--json")
    assert status.returncode in (0, 20)
    assert json.loads(status.stdout)["status"] in ("active", "inactive")
    assert len(_incidents(tmp_path)) == 6


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (os.mkfifo, "it is a named pipe (FIFO)"),
        (lambda p: p.symlink_to(p.with_name("gone.json")), "it is a symbolic link"),
    ],
    ids=["fifo", "dangling-symlink"],
)
def test_status_when_path_hostile_then_exit_21_at_once(
    tmp_path: Path, make: object, problem: str
) -> None:
    """A FIFO does not hang `status`; a dangling symlink does not read as inactive."""
    make(tmp_path / "cb.json")  # type: ignore[operator]
    result = cb(tmp_path, "status", "--file", "cb.json")
    assert result.returncode == 21, result.stderr
    assert problem in result.stdout


def test_status_when_reason_forges_lines_then_shown_escaped_on_one_line(tmp_path: Path) -> None:
    """Newlines, carriage returns and terminal escapes in a reason cannot add a line."""
    forged = "ok\n  until:   2000-01-01T00:00:00Z\rcircuit breaker: inactive\x1b[2J"
    enabled = cb(tmp_path, "enable", "--reason", forged, "--file", "cb.json")
    assert enabled.returncode == 0, enabled.stderr

    result = cb(tmp_path, "status", "--file", "cb.json")

    assert result.returncode == 20
    lines = result.stdout.splitlines()
    assert [line.split(":")[0].strip() for line in lines] == [
        "circuit breaker",
        "reason",
        "until",
        "file",
    ]
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "ok\\n  until:   2000-01-01T00:00:00Z\\rcircuit breaker: inactive\\x1b[2J" in lines[1]
    assert json.loads((tmp_path / "cb.json").read_text())["reason"] == forged
    assert "\\n" in _incidents(tmp_path)[0][1]  # the incident text is escaped too


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "named pipe"),
        (b'{"active": false, "until_iso": "9999-12-31T23:59:59-01:00"}', "outside the years"),
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
    ],
    ids=["fifo", "calendar-edge", "deep-nesting"],
)
def test_runner_when_breaker_file_hostile_then_refused_exit_10_with_incident(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    """`tradingbot freqtrade backtesting` is refused (exit 10, blocked), never hangs or crashes."""
    project = make_project(tmp_path)
    state = project / "user_data" / "state"
    state.mkdir(parents=True)
    if content is None:
        os.mkfifo(state / "circuit_breaker.json")
    else:
        (state / "circuit_breaker.json").write_bytes(content)
    args = ["freqtrade", "backtesting", "-c", "user_data/configs/config.backtest.json"]

    result = run_cli([*args, "--strategy", "MaCrossoverStrategy"], project, timeout=120)

    assert result.returncode == 10, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert problem in result.stderr
    runs = _query_runs(project)
    assert runs == [("backtest", "blocked")]
    assert any("CIRCUIT_BREAKER" in text for _, text in _incidents(project))


def _query_runs(project: Path) -> list[tuple[str, str]]:
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        return [(str(a), str(b)) for a, b in conn.execute("SELECT kind, status FROM runs")]
