"""`make demo`'s main job, and the runner's handling of SIGINT/SIGTERM during a run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import SHARED_PAIRS, clean_env, run_cli

pytestmark = pytest.mark.freqtrade


def test_demo_when_no_candles_then_synthetic_sample_backtested_and_said_so(project: Path) -> None:
    """On a fresh machine the demo generates the sample, says it is synthetic, prints the report."""
    result = run_cli(["demo"], project)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "SYNTHETIC DATA" in result.stdout
    assert "STRATEGY SUMMARY" in result.stdout
    assert (project / "user_data" / "data" / "synthetic" / "SYNTHETIC.md").is_file()
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select kind, strategy, status from runs").fetchall()
    assert rows == [("backtest", "MaCrossoverStrategy", "succeeded")]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_backtest_when_interrupted_then_interrupted_incident_and_slot_released(
    shared_data: Path, project: Path, signum: int
) -> None:
    """A signal mid-run stops Freqtrade, marks the run interrupted with an incident, frees
    the slot."""
    running = project / "user_data" / "state" / "running"
    args = ["-m", "app", "freqtrade", "--offline", "backtesting"]
    args += ["-c", "user_data/configs/config.backtest.json", "--strategy", "MaCrossoverStrategy"]
    args += ["--datadir", str(shared_data), "--pairs", *SHARED_PAIRS]
    env = clean_env({"RISK_MAX_CONCURRENT_BACKTESTS": "1"})
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(running.glob("*.lock")):
            time.sleep(0.05)
        slot_taken = bool(list(running.glob("*.lock")))
        time.sleep(1.0)  # Freqtrade is importing or loading data now
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert slot_taken
    assert proc.returncode != 0
    assert list(running.glob("*.lock")) == []
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        [(status,)] = conn.execute("select status from runs").fetchall()
        incidents = [d for (d,) in conn.execute("select description from incidents")]
    assert status == "interrupted", stderr[-2000:]
    assert any(f"interrupted by signal {int(signum)}" in d for d in incidents), incidents


def test_runner_when_killed_then_freqtrade_child_does_not_outlive_it(
    shared_data: Path, project: Path
) -> None:
    """SIGKILL of the runner (no cleanup possible) still ends its Freqtrade child."""
    import psutil

    args = ["-m", "app", "freqtrade", "--offline", "backtesting"]
    args += ["-c", "user_data/configs/config.backtest.json", "--strategy", "MaCrossoverStrategy"]
    args += ["--datadir", str(shared_data)]
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=project,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        runner = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        children: list[psutil.Process] = []
        while time.monotonic() < deadline and not children:
            children = runner.children()
            time.sleep(0.05)
        assert children, "the runner started no Freqtrade child"
        proc.kill()
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(children, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert alive == []
