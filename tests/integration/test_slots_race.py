"""Concurrency slots across real processes: racing, killed and interrupted runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import clean_env

# A run that takes the gates like the runner does and holds its slot for HOLD seconds.
WORKER = r"""
import json, os, signal, sys, time
from pathlib import Path
from app.registry import Registry
from app.risk.gates import RunRefused, RunRequest, run_gates
from app.settings import load_settings

name, hold = sys.argv[1], float(sys.argv[2])
out = Path("out")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the runner exits normally on TERM
settings = load_settings()
registry = Registry.from_settings(settings)
run_id = registry.start_run(kind="backtest", correlation_id=name, strategy="S")
while not (out / "go").exists():
    time.sleep(0.01)
try:
    with run_gates(RunRequest("backtest", "S", run_id, name), settings, registry):
        (out / f"{name}.in").touch()
        inside = len(list(out.glob("*.in")))
        (out / f"{name}.json").write_text(json.dumps({"inside": inside, "pid": os.getpid()}))
        time.sleep(hold)
        (out / f"{name}.in").unlink()
except RunRefused as refused:
    sys.exit(refused.exit_code)
"""


def _spawn(project: Path, name: str, hold: float, slots: int) -> subprocess.Popen[str]:
    env = clean_env({"RISK_MAX_CONCURRENT_BACKTESTS": str(slots)})
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, name, str(hold)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    for _ in range(3000):
        if path.exists() or proc.poll() is not None:
            break
        time.sleep(0.01)
    assert path.exists(), proc.communicate(timeout=30)[1][-2000:]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path


def _locks(project: Path) -> list[Path]:
    return list((project / "user_data" / "state" / "running").glob("*.lock"))


def test_slots_when_six_processes_race_for_two_then_never_more_than_two(project: Path) -> None:
    """N processes racing for M slots: at most M run at once, the rest exit 10."""
    procs = [_spawn(project, f"w{n}", hold=1.5, slots=2) for n in range(6)]
    time.sleep(0.5)  # let them all import and wait at the start line
    (project / "out" / "go").touch()
    codes = [proc.wait(timeout=300) for proc in procs]

    inside = [json.loads(p.read_text())["inside"] for p in (project / "out").glob("w*.json")]
    assert set(codes) <= {0, 10}, [p.communicate()[1][-1500:] for p in procs]
    assert 1 <= codes.count(0) == len(inside)
    assert max(inside) <= 2
    assert codes.count(10) >= 1
    assert _locks(project) == []


def test_slots_when_holder_killed_then_next_run_reclaims(project: Path) -> None:
    """kill -9 leaves a lock file; the next run finds its process dead and reclaims it."""
    (project / "out" / "go").touch()
    victim = _spawn(project, "victim", hold=120, slots=1)
    _wait_for(project / "out" / "victim.json", victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert len(_locks(project)) == 1

    successor = _spawn(project, "successor", hold=0, slots=1)
    _, err = successor.communicate(timeout=120)

    assert successor.returncode == 0, err[-2000:]
    log = (project / "user_data" / "logs" / "risk.jsonl").read_text().splitlines()
    reclaimed = [json.loads(line) for line in log if '"slot_reclaimed"' in line]
    assert (
        reclaimed[0]["holder_pid"] == json.loads((project / "out/victim.json").read_text())["pid"]
    )
    assert _locks(project) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_slots_when_run_interrupted_then_slot_released(project: Path, signum: int) -> None:
    """SIGTERM (turned into a normal exit) and SIGINT (KeyboardInterrupt) release the slot."""
    (project / "out" / "go").touch()
    proc = _spawn(project, "interrupted", hold=120, slots=1)
    _wait_for(project / "out" / "interrupted.json", proc)
    assert len(_locks(project)) == 1

    proc.send_signal(signum)
    proc.wait(timeout=60)

    assert proc.returncode != 0
    assert _locks(project) == []
