"""Concurrency slots across real processes: racing, killed, orphaned, waiting and
interrupted runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import clean_env, make_project

# A run that takes the gates like the runner does and holds its slot for HOLD seconds (or,
# with HOLD -1, until out/release exists), after waiting up to WAIT seconds for it. With
# ORPHAN it first starts a process of its run in its own session (as an escaped worker).
WORKER = r"""
import json, os, signal, subprocess, sys, time, uuid
from pathlib import Path
from app.processes import PROCESS_TAG_ENV, RunProcesses
from app.registry import Registry
from app.risk.gates import RunRefused, RunRequest, run_gates
from app.settings import load_settings

name, hold, wait, orphan = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
out = Path("out")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the runner exits normally on TERM
# Python's Ctrl-C, even when the suite runs as a shell's background job (which starts every
# child with SIGINT ignored, and Python then keeps it ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
settings = load_settings()
registry = Registry.from_settings(settings)
run_id = registry.start_run(kind="backtest", correlation_id=name, strategy="S")
processes = None
if orphan == "orphan":
    tag = uuid.uuid4().hex
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                             env={**os.environ, PROCESS_TAG_ENV: tag}, start_new_session=True)
    (out / f"{name}.orphan").write_text(str(child.pid))
    processes = RunProcesses(os.getpid(), os.getpgid(0), tag)
while not (out / "go").exists():
    time.sleep(0.01)
request = RunRequest("backtest", "S", run_id, name, processes=processes, slot_wait_sec=wait)
try:
    with run_gates(request, settings, registry):
        with (out / "order").open("a") as order:
            order.write(name + "\n")
        (out / f"{name}.in").touch()
        inside = len(list(out.glob("*.in")))
        (out / f"{name}.json").write_text(json.dumps({"inside": inside, "pid": os.getpid()}))
        while hold < 0 and not (out / "release").exists():
            time.sleep(0.02)
        time.sleep(max(hold, 0))
        (out / f"{name}.in").unlink()
except RunRefused as refused:
    sys.exit(refused.exit_code)
"""


def _spawn(
    project: Path, name: str, hold: float, slots: int, wait: float = 0.0, orphan: bool = False
) -> subprocess.Popen[str]:
    env = clean_env({"RISK_MAX_CONCURRENT_BACKTESTS": str(slots)})
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, name, str(hold), str(wait), "orphan" if orphan else "-"],
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


def test_slots_when_runner_gone_but_its_orphan_lives_then_new_run_refused_until_it_ends(
    project: Path,
) -> None:
    """A slot is never reclaimed while a process of its run lives, in any session."""
    (project / "out" / "go").touch()
    victim = _spawn(project, "victim", hold=120, slots=1, orphan=True)
    _wait_for(project / "out" / "victim.json", victim)
    orphan = int((project / "out" / "victim.orphan").read_text())
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    try:
        beside = _spawn(project, "beside", hold=0, slots=1)
        _, refused_err = beside.communicate(timeout=120)
    finally:
        os.kill(orphan, signal.SIGKILL)
    after = _spawn(project, "after", hold=0, slots=1)
    _, after_err = after.communicate(timeout=120)

    assert beside.returncode == 10
    assert f"pids {orphan}" in refused_err
    assert after.returncode == 0, after_err[-2000:]
    assert (project / "out" / "order").read_text().split() == ["victim", "after"]


def _tickets(project: Path) -> list[Path]:
    return sorted((project / "user_data" / "state" / "running" / "queue").glob("*.ticket"))


def test_slots_when_several_wait_then_served_in_arrival_order_and_dead_waiter_skipped(
    project: Path,
) -> None:
    """Waiters get the slot first come, first served; a waiter killed in the queue is skipped."""
    (project / "out" / "go").touch()
    holder = _spawn(project, "holder", hold=-1, slots=1)
    _wait_for(project / "out" / "holder.json", holder)
    waiters = {}
    for n, name in enumerate(["w1", "w2", "w3", "w4"]):
        waiters[name] = _spawn(project, name, hold=0.2, slots=1, wait=120)
        deadline = time.monotonic() + 120
        while len(_tickets(project)) < n + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    waiters["w2"].send_signal(signal.SIGKILL)
    waiters["w2"].wait(timeout=30)
    (project / "out" / "release").touch()
    results = {name: proc.communicate(timeout=180) for name, proc in waiters.items()}
    holder.wait(timeout=60)

    assert (project / "out" / "order").read_text().split() == ["holder", "w1", "w3", "w4"]
    assert [waiters[n].returncode for n in ("w1", "w3", "w4")] == [0, 0, 0]
    assert "waiting for a backtest slot: 3 ahead" in results["w4"][1]
    log = (project / "user_data" / "logs" / "risk.jsonl").read_text().splitlines()
    skipped = [json.loads(line) for line in log if '"slot_ticket_skipped"' in line]
    assert [Path(r["ticket"]).name.split("_")[2] for r in skipped] == ["w2.ticket"]
    assert _tickets(project) == []
    assert _locks(project) == []


def _cli_backtest(project: Path, data: Path, wait: str) -> subprocess.Popen[str]:
    args = ["-m", "app", "freqtrade", "--wait-for-slot", wait, "backtesting"]
    args += ["-c", "user_data/configs/config.backtest.json", "--strategy", "MaCrossoverStrategy"]
    return subprocess.Popen(
        [sys.executable, *args, "--datadir", str(data)],
        cwd=project,
        env=clean_env({"RISK_MAX_CONCURRENT_BACKTESTS": "1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _registry(project: Path, sql: str) -> list[tuple[object, ...]]:
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


Waiting = tuple[Path, dict[str, tuple[int, str, str]]]


@pytest.fixture(scope="module")
def waiting_runners(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Waiting:
    """Two real runners queue behind a held slot at once: one waits 2 s and gives up, the
    other gets SIGINT while queued. The project, and per name: (exit code, stderr,
    correlation id)."""
    project = make_project(tmp_path_factory.mktemp("waiting"))
    (project / "out").mkdir()
    (project / "out" / "go").touch()
    holder = _spawn(project, "holder", hold=-1, slots=1)
    _wait_for(project / "out" / "holder.json", holder)
    try:
        timeout = _cli_backtest(project, shared_data, "2")
        ctrl_c = _cli_backtest(project, shared_data, "300")
        deadline = time.monotonic() + 120
        while len(_tickets(project)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        ctrl_c.send_signal(signal.SIGINT)
        results = {"timeout": timeout.communicate(timeout=300)[1]}
        results["ctrl_c"] = ctrl_c.communicate(timeout=300)[1]
    finally:
        (project / "out" / "release").touch()
        holder.wait(timeout=60)
    codes = {"timeout": timeout.returncode, "ctrl_c": ctrl_c.returncode}
    corr = {name: json.loads(next(line for line in err.splitlines() if "run_started" in line))
            ["correlation_id"] for name, err in results.items()}  # fmt: skip
    return project, {name: (codes[name], results[name], corr[name]) for name in results}


def test_runner_when_wait_for_slot_times_out_then_exit_10_blocked_with_incident(
    waiting_runners: Waiting,
) -> None:
    """`tradingbot freqtrade --wait-for-slot 2`: a visible wait, then the usual refusal."""
    project, results = waiting_runners
    code, err, correlation = results["timeout"]
    [(run_id, status, exit_code)] = _registry(
        project, f"select run_id, status, exit_code from runs where correlation_id='{correlation}'"
    )
    [(description,)] = _registry(
        project, f"select description from incidents where run_id = '{run_id}'"
    )

    assert code == 10, err[-2000:]
    assert "waiting for a backtest slot: 0 ahead" in err
    assert (status, exit_code) == ("blocked", 10)
    assert "CONCURRENCY_LIMIT" in description
    assert "after waiting 2 s" in description
    assert _tickets(project) == []


def test_runner_when_ctrl_c_while_waiting_then_exit_130_and_no_ticket_left(
    waiting_runners: Waiting,
) -> None:
    """SIGINT in the queue: a clean exit 130, the ticket removed, the run interrupted."""
    project, results = waiting_runners
    code, err, correlation = results["ctrl_c"]
    [(status, exit_code, reason)] = _registry(
        project,
        f"select status, exit_code, end_reason from runs where correlation_id='{correlation}'",
    )

    assert code == 130, err[-2000:]
    assert "Traceback" not in err
    assert _tickets(project) == []
    assert (status, exit_code) == ("interrupted", 130)
    assert reason == "interrupted by signal 2 (SIGINT) before Freqtrade ran"
