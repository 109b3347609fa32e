"""`tradingbot drill` as a user runs it: bad input stops before anything starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
import pytest

from app.drill.builtins import builtin_names
from tests.helpers import make_project, run_cli

GOOD: dict[str, Any] = {
    "duration_s": 30,
    "events": [{"at_s": 5, "for_s": 5, "fault": "http_500", "endpoint": "klines"}],
    "expect": ["bot_survives"],
}


def _nothing_started(project: Path) -> None:
    """No registry, no drill folder, no process working in the project."""
    user_data = project / "user_data"
    assert not (user_data / "registry").exists()
    assert not (user_data / "drills").exists()
    left = []
    for proc in psutil.process_iter(["cwd"]):
        try:
            if (proc.info["cwd"] or "").startswith(str(project)):
                left.append(proc.pid)
        except psutil.Error:
            continue
    assert left == []


@pytest.mark.parametrize(
    ("change", "args", "code", "message"),
    [
        ({"events": [{"at_s": 5, "for_s": 5, "fault": "meteor", "endpoint": "*"}]}, [], 2,
         "unknown fault 'meteor'"),
        ({"events": [{"at_s": 5, "action": "breaker_off"}]}, [], 2,
         "the breaker is not on then"),
        ({"expect": ["refusals:BAD_LUCK"]}, [], 2, "'refusals:BAD_LUCK' names no reason code"),
        ({"events": [{"at_s": 50, "action": "kill_bot"}]}, [], 2, "at_s=50 is out of range"),
        ({"settings": {"RISK_DAILY_LOSS_CAP_PCT": 5}}, [], 2, "RISK_DAILY_LOSS_CAP_PCT='5'"),
        ({}, ["--pairs", "NOPE/BTC"], 2, "not in the drill's synthetic market"),
        ({}, ["--datadir", "missing-folder"], 3, "missing-folder"),
        ({}, ["--json", "no/such/folder/r.json"], 2, "does not exist"),
    ],
)  # fmt: skip
def test_drill_when_bad_input_then_refused_before_anything_starts(
    tmp_path: Path, change: dict[str, Any], args: list[str], code: int, message: str
) -> None:
    """A bad scenario, setting, pair, datadir or report path: a clear error and its exit
    code, with no run recorded, no drill folder and no bot started."""
    project = make_project(tmp_path)
    (project / "drill.json").write_text(json.dumps({**GOOD, **change}))

    result = run_cli(["drill", "--scenario", "drill.json", *args], project)

    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    _nothing_started(project)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["earthquake"], "unknown drill 'earthquake'"),
        ([], "name one drill"),
        (["stale-data", "--scenario", "x.json"], "name one drill"),
        (["--list", "stale-data"], "--list takes no scenario"),
    ],
)
def test_drill_when_no_single_drill_named_then_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Exactly one drill: a built-in name or --scenario FILE."""
    project = make_project(tmp_path)
    result = run_cli(["drill", *args], project)
    assert result.returncode == 2
    assert message in result.stderr
    _nothing_started(project)


def test_drill_list_when_run_then_every_builtin_with_what_it_rehearses(tmp_path: Path) -> None:
    """--list names every built-in drill with its expectations."""
    result = run_cli(["drill", "--list"], tmp_path)
    assert result.returncode == 0, result.stderr
    for name in builtin_names():
        assert name in result.stdout
    assert "no_entries_while_breaker_on" in result.stdout
    assert "CircuitBreakerActive" in result.stdout
