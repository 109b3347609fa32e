"""`tradingbot drill` end to end: every built-in game day, as an operator runs it.

All drills run at once, each in its own project (its own registry, user_data and ports):
the bots idle most of the time, so the suite waits for the longest drill, not for the sum.
The longest starts first, alone; the others start when its bot trades.
A custom scenario on the real 1m candles of ``../shared/data`` expects something that
cannot happen, and must fail with exit code 1 naming it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from app.drill.builtins import builtin_names, load_builtin
from tests.helpers import clean_env, make_project

# Seven bots start at once; on a machine shared with other work that can take many minutes.
pytestmark = [pytest.mark.freqtrade, pytest.mark.timeout(2400)]

DRILL_TIMEOUT_S = 2100
# Stops the bot and starts it again, on one real pair; halted:DAILY_LOSS_CAP cannot hold
# (no loss cap is set and nothing loses money on purpose).
CUSTOM: dict[str, Any] = {
    "description": "stop and start on real candles; one expectation that cannot hold",
    "duration_s": 30,
    "events": [{"at_s": 5, "action": "stop_bot"}, {"at_s": 7, "action": "start_bot"}],
    "expect": ["bot_survives", "no_duplicate_trades", "entries_resume", "halted:DAILY_LOSS_CAP"],
}


@dataclass
class Drill:
    """One finished `tradingbot drill` run."""

    project: Path
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any]
    api_password: str | None  # read from a running bot's environment

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        db = self.project / "user_data" / "registry" / "strategies_registry.sqlite"
        with sqlite3.connect(db) as conn:
            return conn.execute(sql, params).fetchall()

    @property
    def held(self) -> dict[str, bool]:
        return {e["name"]: e["held"] for e in self.report["expectations"]}

    def fault_hits(self) -> dict[str, int]:
        """Requests hit per fault and endpoint (summed over events of the same kind)."""
        hits: dict[str, int] = {}
        for fault in self.report["faults"]:
            key = f"{fault['fault']} on {fault['endpoint']}"
            hits[key] = hits.get(key, 0) + fault["hits"]
        return hits


def _start(project: Path, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "drill", *args],
        cwd=project,
        env=clean_env(),
        stdout=(project / "stdout.txt").open("w"),
        stderr=(project / "stderr.txt").open("w"),
        text=True,
    )


@pytest.fixture(scope="module")
def drills(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Drill]:
    """Every built-in drill plus the custom one, run concurrently; their results."""
    running: dict[str, tuple[Path, subprocess.Popen[str]]] = {}
    # The longest drill sets the wall time: it starts first, alone, so that its bot is not
    # slowed by six others starting; they start once it trades and finish before it does.
    longest, *others = sorted(builtin_names(), key=lambda n: -load_builtin(n).duration_s)
    for name in (longest, *others):
        project = make_project(tmp_path_factory.mktemp(name))
        running[name] = (project, _start(project, [name, "--json", "report.json"]))
        if name == longest:
            _wait_trading(project, running[name][1])
    project = make_project(tmp_path_factory.mktemp("custom"))
    (project / "custom.json").write_text(json.dumps(CUSTOM))
    args = ["--scenario", "custom.json", "--datadir", str(shared_data), "--pairs", "UNITTEST/BTC"]
    running["custom"] = (project, _start(project, [*args, "--json", "-"]))
    passwords: dict[str, str | None] = dict.fromkeys(running)
    deadline = time.monotonic() + DRILL_TIMEOUT_S
    while time.monotonic() < deadline and any(p.poll() is None for _, p in running.values()):
        for name, (project, _) in running.items():
            passwords[name] = passwords[name] or _bot_password(project)
        time.sleep(1)
    done = {}
    for name, (project, proc) in running.items():
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        stdout = (project / "stdout.txt").read_text()
        stderr = (project / "stderr.txt").read_text()
        report_file = project / "report.json"
        text = report_file.read_text() if report_file.exists() else stdout
        try:
            report = json.loads(text)
        except json.JSONDecodeError:
            report = {}
        done[name] = Drill(project, code, stdout, stderr, report, passwords[name])
    return done


def _wait_trading(project: Path, proc: subprocess.Popen[str]) -> None:
    """Until the drill in ``project`` says its bot trades (or it ended, or 5 minutes)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if "bot trading" in (project / "stderr.txt").read_text():
            return
        time.sleep(0.5)


def _bot_password(project: Path) -> str | None:
    """The API password in the environment of a bot running in ``project`` (if one runs)."""
    for proc in psutil.process_iter(["cwd"]):
        try:
            if (proc.info["cwd"] or "").startswith(str(project)):
                found = proc.environ().get("FREQTRADE__API_SERVER__PASSWORD")
                if found:
                    return str(found)
        except psutil.Error:
            continue
    return None


def _why(drill: Drill) -> str:
    return f"exit {drill.returncode}\n{drill.stdout[-6000:]}\n{drill.stderr[-3000:]}"


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_drill_when_run_then_every_expectation_holds_and_is_recorded(
    drills: dict[str, Drill], name: str
) -> None:
    """Each built-in game day passes (exit 0), and the registry holds the drill (kind drill,
    its verdict) and the bot runs it started (dry_run, same correlation id)."""
    drill = drills[name]
    assert drill.returncode == 0, _why(drill)
    assert drill.report["status"] == "succeeded"
    assert drill.held and all(drill.held.values()), drill.held
    run_id = drill.report["drill"]["run_id"]
    correlation = drill.report["drill"]["correlation_id"]
    [(kind, status, code, reason, corr)] = drill.rows(
        "SELECT kind, status, exit_code, end_reason, correlation_id FROM runs WHERE run_id = ?",
        run_id,
    )
    assert (kind, status, code, corr) == ("drill", "succeeded", 0, correlation)
    assert reason == f"all {len(drill.held)} expectations held"
    bots = drill.rows("SELECT kind FROM runs WHERE correlation_id = ? AND run_id != ?",
                      correlation, run_id)  # fmt: skip
    assert bots == [("dry_run",)] * len(drill.report["bots"])
    metrics = dict(drill.rows("SELECT key, value FROM metrics WHERE run_id = ?", run_id))
    assert metrics["entries"] == len(drill.report["entries"]) > 0
    assert metrics["expectations_failed"] == 0
    # The drill's breaker is its own: the project's real breaker file is never touched.
    assert not (drill.project / "user_data" / "state" / "circuit_breaker.json").exists()


def test_breaker_drill_when_run_then_breaker_changes_recorded_as_drill_incidents(
    drills: dict[str, Drill],
) -> None:
    """breaker_on/off go through the breaker's own commands: the drill's breaker file and two
    incidents tied to the drill run."""
    drill = drills["breaker-mid-run"]
    run_id = drill.report["drill"]["run_id"]
    incidents = drill.rows(
        "SELECT severity, description FROM incidents WHERE run_id = ? ORDER BY created_utc", run_id
    )
    assert [severity for severity, _ in incidents] == ["warning", "info"]
    assert all(text.startswith("drill: circuit breaker") for _, text in incidents)
    folder = Path(drill.report["drill"]["folder"])
    breaker = json.loads((drill.project / folder / "state" / "circuit_breaker.json").read_text())
    assert breaker["active"] is False


def test_kill_restart_drill_when_run_then_second_bot_took_over(drills: dict[str, Drill]) -> None:
    """kill_bot ends the first bot with SIGKILL (exit 137); a second bot runs to the end."""
    bots = drills["kill-restart"].report["bots"]
    assert [b["stopped_by"] for b in bots] == ["kill_bot", "drill end"]
    assert bots[0]["exit_code"] == 137


@pytest.mark.parametrize(
    ("name", "faults"),
    [
        ("breaker-mid-run", ["http_503 on depth"]),
        ("error-storm", ["http_503 on depth", "reset on depth", "latency on *"]),
        ("rate-limit-ban", ["http_429 on *", "http_418 on *"]),
        ("stale-data", ["stale on *"]),
        ("price-crash-loss-cap", ["price_jump on *"]),
    ],
)
def test_fault_drill_when_run_then_the_bot_met_the_faults(
    drills: dict[str, Drill], name: str, faults: list[str]
) -> None:
    """The faults really reached the bot: each counted requests it hit."""
    hits = drills[name].fault_hits()
    for fault in faults:
        assert hits[fault] > 0, hits


def test_price_crash_drill_when_run_then_loss_realised_and_entries_halted(
    drills: dict[str, Drill],
) -> None:
    """The crash shows in the trade database as a realised loss, and the timeline shows the
    guard going HALTED."""
    report = drills["price-crash-loss-cap"].report
    assert report["metrics"]["realised_profit"] < 0
    states = [row["what"] for row in report["timeline"] if row["kind"] == "state"]
    assert "ACTIVE -> HALTED (DAILY_LOSS_CAP)" in states


def test_custom_drill_when_expectation_cannot_hold_then_exit_1_naming_it(
    drills: dict[str, Drill], shared_data: Path
) -> None:
    """A scenario file on real candles with one impossible expectation: exit 1, that one
    expectation failed with its evidence, the others held; recorded as failed. --json -
    keeps stdout pure JSON."""
    drill = drills["custom"]
    assert drill.returncode == 1, _why(drill)
    assert json.loads(drill.stdout) == drill.report
    assert drill.held == {
        "bot_survives": True,
        "no_duplicate_trades": True,
        "entries_resume": True,
        "halted:DAILY_LOSS_CAP": False,
    }
    (failed,) = [e for e in drill.report["expectations"] if not e["held"]]
    assert "never went HALTED with DAILY_LOSS_CAP" in failed["evidence"][0]
    info = drill.report["drill"]
    assert (info["pairs"], info["synthetic"]) == (["UNITTEST/BTC"], False)
    assert info["datadir"] == str(shared_data.resolve())
    assert [b["stopped_by"] for b in drill.report["bots"]] == ["stop_bot", "drill end"]
    [(status, code, reason)] = drill.rows(
        "SELECT status, exit_code, end_reason FROM runs WHERE kind = 'drill'"
    )
    assert (status, code) == ("failed", 1)
    assert reason == "1 of 4 expectations failed: halted:DAILY_LOSS_CAP"


def test_drills_when_finished_then_no_bot_process_left(drills: dict[str, Drill]) -> None:
    """No runner or Freqtrade process of any drill outlives it."""
    projects = [str(d.project) for d in drills.values()]
    left = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            where = proc.info["cwd"] or ""
        except psutil.Error:
            continue
        if any(where.startswith(p) for p in projects):
            left.append(proc.info["cmdline"])
    assert left == []


def test_drills_when_finished_then_api_credentials_written_nowhere(
    drills: dict[str, Drill],
) -> None:
    """The bot's REST API password is made per drill and given to the bot in its environment
    only: no file of the project (config, logs, report, registry, trade database) holds it."""
    seen = set()
    for name, drill in drills.items():
        assert drill.api_password, f"{name}: no running bot was seen"
        seen.add(drill.api_password)
        secret = drill.api_password.encode()
        holders = [
            path
            for path in drill.project.rglob("*")
            if path.is_file() and secret in path.read_bytes()
        ]
        assert holders == [], name
    assert len(seen) == len(drills)  # a new password per drill
