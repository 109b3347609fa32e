"""``tradingbot registry`` and ``tradingbot params`` run as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.registry import Registry
from app.registry.models import Run

TINY = Path(__file__).resolve().parent / "strategies" / "tiny_param_strategy.py"
RUN_KEYS = {
    "run_id", "kind", "strategy", "timeframe", "timerange", "pairs", "status", "started_utc",
    "finished_utc", "exit_code", "config_hash", "strategy_hash", "data_fingerprint", "params",
    "freqtrade_version", "host", "correlation_id", "result_path", "command", "config_path",
    "equity_hash", "duration_s", "pid", "heartbeat_utc", "end_reason",
}  # fmt: skip


def _cli(cwd: Path, db_url: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RISK_")}
    env["RISK_DB_URL"] = db_url
    done = subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == expect, done.stderr
    return done


@pytest.fixture
def seeded(tmp_path: Path) -> str:
    """SQLite with two backtests of S (one failed, with an incident) and their metrics.

    The query commands run on SQLite only (each costs a process start); the params flow
    below runs on both backends, which proves RISK_DB_URL reaches PostgreSQL.
    """
    db_url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    with Registry(db_url) as registry:
        registry.start_run(kind="backtest", correlation_id="c", strategy="S", run_id="run_a")
        registry.add_metrics("run_a", {"profit_total": 0.10, "max_drawdown_account": 0.05})
        registry.finish_run("run_a", status="succeeded", exit_code=0)
        registry.start_run(kind="backtest", correlation_id="c", strategy="S", run_id="run_b")
        registry.add_metrics("run_b", {"profit_total": 0.25, "trades": 12})
        registry.finish_run("run_b", status="failed", exit_code=2)
        registry.log_incident(
            severity="error", description="freqtrade exited 2", correlation_id="c", run_id="run_b"
        )
    return db_url


def test_registry_runs_when_json_then_stable_keys_newest_first(seeded: str, tmp_path: Path) -> None:
    """``registry runs --json`` lists every run with the documented keys, newest first."""
    out = json.loads(_cli(tmp_path, seeded, "registry", "runs", "--json").stdout)
    assert [run["run_id"] for run in out["runs"]] == ["run_b", "run_a"]
    assert set(out["runs"][0]) == RUN_KEYS
    assert out["runs"][0]["started_utc"].endswith("Z")


def test_registry_runs_when_table_then_ids_and_statuses_shown(seeded: str, tmp_path: Path) -> None:
    """The human table shows each run id with its status."""
    text = _cli(tmp_path, seeded, "registry", "runs", "--strategy", "S", "--limit", "5").stdout
    assert "run_a" in text
    assert "succeeded" in text
    assert "run_b" in text
    assert "failed" in text


def test_registry_show_when_json_then_run_metrics_and_incidents(
    seeded: str, tmp_path: Path
) -> None:
    """``registry show`` returns the run, its metrics and its incidents."""
    out = json.loads(_cli(tmp_path, seeded, "registry", "show", "run_b", "--json").stdout)
    assert out["run"]["status"] == "failed"
    assert out["metrics"] == {"profit_total": 0.25, "trades": 12.0}
    assert [i["description"] for i in out["incidents"]] == ["freqtrade exited 2"]


def test_registry_compare_when_json_then_difference_b_minus_a(seeded: str, tmp_path: Path) -> None:
    """``registry compare`` puts both runs' metrics side by side with B - A."""
    out = json.loads(
        _cli(tmp_path, seeded, "registry", "compare", "run_a", "run_b", "--json").stdout
    )
    rows = {row["key"]: row for row in out["metrics"]}
    assert rows["profit_total"]["diff"] == pytest.approx(0.15)
    assert rows["trades"] == {"key": "trades", "a": None, "b": 12.0, "diff": None}
    assert out["differences"] == []


def test_registry_incidents_when_json_then_listed(seeded: str, tmp_path: Path) -> None:
    """``registry incidents --json`` lists the incident with its run."""
    out = json.loads(_cli(tmp_path, seeded, "registry", "incidents", "--json").stdout)
    [incident] = out["incidents"]
    assert incident["run_id"] == "run_b"
    assert incident["severity"] == "error"


def test_registry_show_when_unknown_run_then_exit_5_and_message(
    seeded: str, tmp_path: Path
) -> None:
    """An unknown run id exits 5 with an Error line naming the id."""
    done = _cli(tmp_path, seeded, "registry", "show", "run_nope", expect=5)
    assert "Error: run 'run_nope' is not in the registry" in done.stderr
    assert done.stdout == ""


def test_registry_runs_when_kind_invalid_then_exit_5_with_allowed(
    seeded: str, tmp_path: Path
) -> None:
    """A bad --kind names the allowed kinds."""
    done = _cli(tmp_path, seeded, "registry", "runs", "--kind", "paper", expect=5)
    assert "run kind 'paper' is not valid; use one of backtest, hyperopt" in done.stderr


def test_registry_upgrade_when_fresh_sqlite_then_file_created_at_head(tmp_path: Path) -> None:
    """``registry upgrade`` creates the SQLite file and its folder and reports the head."""
    db = tmp_path / "deep" / "folder" / "registry.sqlite"
    out = json.loads(_cli(tmp_path, f"sqlite:///{db}", "registry", "upgrade", "--json").stdout)
    assert out["revision"] == "0003_outbox"
    assert db.is_file()


def test_params_cli_when_promote_history_rollback_then_file_follows(
    db_url: str, tmp_path: Path
) -> None:
    """promote writes the file, history lists the active set, rollback removes it again."""
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(TINY, strategies / TINY.name)
    param_file = strategies / "tiny_param_strategy.json"
    with Registry(db_url) as registry:
        run_id = registry.start_run(
            kind="hyperopt", correlation_id="c", strategy="TinyParamStrategy"
        )
        registry.finish_run(
            run_id, status="succeeded", exit_code=0, params={"buy": {"buy_fast": 11}}
        )
    where = ("--strategies-dir", str(strategies))

    promoted = json.loads(
        _cli(tmp_path, db_url, "params", "promote", run_id, *where, "--json").stdout
    )
    assert promoted["file"] == str(param_file)
    assert json.loads(param_file.read_text())["params"] == {"buy": {"buy_fast": 11}}

    history = json.loads(
        _cli(tmp_path, db_url, "params", "history", "TinyParamStrategy", *where, "--json").stdout
    )
    assert [s["active"] for s in history["param_sets"]] == [True]
    assert history["file_matches_active"] is True

    rolled = json.loads(
        _cli(tmp_path, db_url, "params", "rollback", "TinyParamStrategy", *where, "--json").stdout
    )
    assert rolled["file_removed"] is True
    assert not param_file.exists()

    refused = _cli(tmp_path, db_url, "params", "rollback", "TinyParamStrategy", *where, expect=5)
    assert "has no active parameter set" in refused.stderr


def test_registry_commands_when_another_module_adds_one_then_it_parses() -> None:
    """Other modules (import, verify) extend ``registry`` through registry_commands()."""
    import argparse

    from app.registry.cli import register, registry_commands

    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="command")
    early = registry_commands(subparsers)  # an extension registered before this module
    early.add_parser("import").add_argument("folder")
    register(subparsers)
    assert registry_commands(subparsers) is early
    assert parser.parse_args(["registry", "import", "results"]).folder == "results"
    assert parser.parse_args(["registry", "runs", "--limit", "3"]).limit == 3


def test_registry_runs_when_runner_gone_then_shown_interrupted_with_reason(
    seeded: str, tmp_path: Path
) -> None:
    """A query marks a run whose runner died as interrupted; the table shows the reason."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Registry(seeded) as registry:
        registry.start_run(kind="hyperopt", correlation_id="c", strategy="S", run_id="run_c")
        registry._heartbeat.discard("run_c")
        with registry.session(write=True) as session:
            session.get(Run, "run_c").pid = dead.pid  # type: ignore[union-attr]

    text = _cli(tmp_path, seeded, "registry", "runs", "--strategy", "S").stdout
    shown = json.loads(_cli(tmp_path, seeded, "registry", "show", "run_c", "--json").stdout)

    row = next(line for line in text.splitlines() if "run_c" in line)
    assert "interrupted" in row
    assert f"runner pid {dead.pid} on host" in row
    assert shown["run"]["status"] == "interrupted"
    assert shown["run"]["end_reason"].endswith(f"(process {dead.pid} is not running)")
