"""Sweeps on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes.

The workers run in folders of their own (cwd, HOME and local directory), so everything
a job needs reaches them through the job itself. One cluster serves the whole module;
the test that kills a worker runs last.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import REPO_ROOT, SHARED_PAIRS, clean_env, make_project, run_cli

pytestmark = pytest.mark.freqtrade

STRATEGY = "MeanReversionStrategy"
DASK = Path(sys.executable).parent / "dask"
# The arguments of the in-process sweep fixture in test_sweep.py.
SWEEP_ARGS = ["sweep", "--strategies", STRATEGY, "--timerange", "20180111-20180129"]
SWEEP_ARGS += ["--folds", "2", "--epochs", "3", "-j", "2", "--random-state", "3"]
IDS = {"sweep_id", "correlation_id", "run_id", "run_ids", "candidate_run_id"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait(10)


class DaskCluster:
    """The scheduler's address and the worker processes (their folders are separate)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: list[str], folder: Path) -> subprocess.Popen[bytes]:
        folder.mkdir(parents=True, exist_ok=True)
        env = clean_env({"HOME": str(folder)})
        log = (folder / "process.log").open("ab")
        proc = subprocess.Popen([str(DASK), *args], cwd=folder, env=env, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        port = self.address.rsplit(":", 1)[1]
        self._spawn(
            ["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            self.root / "scheduler",
        )
        for name in ("w1", "w2"):
            folder = self.root / name
            args = ["worker", self.address, "--nthreads", "1", "--no-dashboard", "--name", name]
            self.workers.append(self._spawn([*args, "--local-directory", str(folder)], folder))
        from distributed import Client

        from app.sweep.worker import prewarm

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(self.address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=60)
                    client.run(prewarm)  # the zygotes import Freqtrade while tests set up
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise

    def job_processes(self) -> list[psutil.Process]:
        """Processes of jobs (children of the workers' zygotes and everything below)."""
        found: list[psutil.Process] = []
        for worker in self.workers:
            try:
                tree = psutil.Process(worker.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for proc in tree:
                try:
                    if "app.sweep.zygote" in " ".join(proc.cmdline()):
                        found.extend(proc.children(recursive=True))
                except psutil.NoSuchProcess:
                    continue
        return [p for p in found if _alive(p)]

    def worker_running_a_job(self) -> subprocess.Popen[bytes] | None:
        for worker in self.workers:
            jobs = [
                p
                for p in self.job_processes()
                if p.pid in {c.pid for c in psutil.Process(worker.pid).children(recursive=True)}
            ]
            if jobs:
                return worker
        return None

    def stop(self) -> None:
        for proc in reversed(self.procs):
            _kill_tree(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[DaskCluster]:
    """A scheduler and two workers on free loopback ports, each in its own folder."""
    running = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _runs(project: Path) -> list[dict[str, Any]]:
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("select * from runs order by started_utc")]


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in IDS}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _sweep_args(shared_data: Path, *extra: str) -> list[str]:
    return [*SWEEP_ARGS, "--datadir", str(shared_data), "--pairs", *SHARED_PAIRS, *extra]


@pytest.fixture(scope="module")
def cluster_sweep(
    cluster: DaskCluster, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """The in-process fixture's sweep (test_sweep.py), run on the cluster."""
    project = make_project(tmp_path_factory.mktemp("cluster-sweep"))
    args = _sweep_args(shared_data, "--promote", "--json", "--scheduler", cluster.address)
    result = run_cli(args, project)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return project, json.loads(result.stdout)


def test_cluster_sweep_when_run_then_results_equal_the_in_process_sweep(
    cluster_sweep: tuple[Path, dict[str, Any]],
    sweep: tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    """Same folds, metrics, parameters, trades and verdict as the same sweep in process."""
    project, summary = cluster_sweep
    local_project, _, local_summary = sweep

    assert _without_ids(summary) == _without_ids(local_summary)
    remote_runs, local_runs = _runs(project), _runs(local_project)
    key = lambda r: (r["kind"], r["timerange"])  # noqa: E731
    assert sorted((key(r), r["params"], r["equity_hash"]) for r in remote_runs) == sorted(
        (key(r), r["params"], r["equity_hash"]) for r in local_runs
    )
    assert {r["status"] for r in remote_runs} == {"succeeded"}
    assert len(remote_runs) == 4  # each run recorded once, in the client's registry


def test_cluster_sweep_when_run_then_results_and_logs_are_on_the_client(
    cluster_sweep: tuple[Path, dict[str, Any]],
) -> None:
    """Result files were shipped back and ingested; Freqtrade's logs are kept as in process."""
    project, summary = cluster_sweep
    runs = {r["run_id"]: r for r in _runs(project)}

    for run_id in summary["run_ids"]:
        result = project / runs[run_id]["result_path"]
        assert result.is_file() and result.stat().st_size > 0
    folder = project / "user_data" / "hyperopt_results" / "sweeps" / summary["sweep_id"]
    log = (folder / "sweep.log").read_text()
    assert log.count("BACKTESTING REPORT") == 2
    assert log.count("on worker tcp://127.0.0.1:") == 4
    assert len(list((project / "user_data" / "logs" / "freqtrade").glob("*.log"))) == 4


def test_job_spec_when_built_then_names_no_client_path(
    cluster_sweep: tuple[Path, dict[str, Any]], shared_data: Path
) -> None:
    """A job carries contents by hash and arguments without paths: workers need no shared disk."""
    from app.runner.ftargs import parse_invocation
    from app.runner.runner import make_plan
    from app.settings import load_settings
    from app.sweep.specs import Sources, build_spec

    project, _summary = cluster_sweep
    run = next(r for r in _runs(project) if r["kind"] == "hyperopt")
    argv = json.loads(run["command"])[3:]  # after "tradingbot freqtrade --offline"
    before = Path.cwd()
    os.chdir(project)
    try:
        plan = make_plan(parse_invocation(argv), {})
        spec = build_spec(
            plan, key="k/x", label="x", offline=True, settings=load_settings({}, None),
            environ={}, sources=Sources(),
        )  # fmt: skip
    finally:
        os.chdir(before)
    text = json.dumps([spec.args, dict(spec.env), dict(spec.files)])

    for forbidden in (str(project), str(shared_data), str(REPO_ROOT), "user_data/strategies"):
        assert forbidden not in text
    assert any(name.startswith("data/ETH_BTC-5m") for name in spec.files)
    assert "strategies/MeanReversionStrategy.py" in spec.files


def test_job_when_inputs_cached_then_second_job_ships_nothing(cluster: DaskCluster) -> None:
    """A worker asks for the blobs it lacks once; the same inputs again ship nothing."""
    from distributed import Client

    from app.sweep.jobs import Blobs, JobResult, JobSpec, NeedBlobs, sha256_bytes
    from app.sweep.worker import run_job

    data = os.urandom(1000)
    sha = sha256_bytes(data)
    # A Freqtrade version no worker has: the job stops right after its inputs are ready.
    spec = JobSpec("cachetest/x", "backtesting", (), {"data/x.feather": sha}, {}, True, "0", "0")
    with Client(cluster.address, timeout=10) as client:
        worker = sorted(client.scheduler_info()["workers"])[0]

        def submit(blobs: Blobs | None, n: int) -> Any:
            return client.submit(
                run_job, spec, blobs, workers=[worker], key=f"cachetest-{n}"
            ).result()

        first, second, third = submit(None, 1), submit(Blobs({sha: data}), 2), submit(None, 3)

    assert first == NeedBlobs(worker, (sha,))
    assert isinstance(second, JobResult) and second.fetched == (sha,)
    assert isinstance(third, JobResult) and third.fetched == ()
    assert "Freqtrade" in (third.error or "")


CRASHING_STRATEGY = """
import ctypes
import os

from app.strategies import GuardedStrategy


class CrashStrategy(GuardedStrategy):
    timeframe = "5m"

{crash}
"""


@pytest.mark.parametrize(
    ("crash", "code"), [("ctypes.string_at(0)", 128 + signal.SIGSEGV), ("os._exit(3)", 3)]
)
def test_job_when_freqtrade_crashes_then_only_the_job_ends(
    cluster: DaskCluster, shared_data: Path, tmp_path: Path, crash: str, code: int
) -> None:
    """A job that segfaults or _exits ends with its code; worker and zygote live on."""
    from distributed import Client

    from app.runner.ftargs import parse_invocation
    from app.runner.runner import make_plan
    from app.settings import load_settings
    from app.sweep.jobs import Blobs, JobResult, NeedBlobs
    from app.sweep.specs import Sources, build_spec
    from app.sweep.worker import prewarm, run_job

    project = make_project(tmp_path)
    (project / "crash").mkdir()
    (project / "crash" / "CrashStrategy.py").write_text(CRASHING_STRATEGY.format(crash=crash))
    argv = ["backtesting", "-c", "user_data/configs/config.backtest.json", "--strategy"]
    argv += ["CrashStrategy", "--strategy-path", "crash", "--datadir", str(shared_data)]
    argv += ["--pairs", "ETH/BTC", "--timerange", "20180120-20180121"]
    before = Path.cwd()
    os.chdir(project)
    try:
        sources = Sources()
        spec = build_spec(
            make_plan(parse_invocation(argv), {}), key=f"crash/{code}", label="crash",
            offline=True, settings=load_settings({}, None), environ={}, sources=sources,
        )  # fmt: skip
    finally:
        os.chdir(before)
    with Client(cluster.address, timeout=10) as client:
        worker = sorted(client.scheduler_info()["workers"])[0]
        zygotes = client.run(prewarm, workers=[worker])
        result = client.submit(run_job, spec, None, workers=[worker], pure=False).result()
        if isinstance(result, NeedBlobs):
            blobs = Blobs({sha: sources.read(sha) for sha in result.missing})
            result = client.submit(run_job, spec, blobs, workers=[worker], pure=False).result()
        after = client.run(prewarm, workers=[worker])

    assert isinstance(result, JobResult)
    assert result.exit_code == code, result.output[-2000:]
    assert result.worker == worker
    assert after == zygotes  # the same zygote process serves the next job


def test_cluster_sweep_when_client_interrupted_then_no_job_process_survives(
    cluster: DaskCluster, shared_data: Path, tmp_path: Path
) -> None:
    """Ctrl-C cancels every job; workers kill the jobs' process trees; runs end interrupted."""
    project = make_project(tmp_path)
    args = [sys.executable, "-m", "app", *_sweep_args(shared_data, "--scheduler", cluster.address)]
    args[args.index("3", args.index("--epochs"))] = "200"
    proc = subprocess.Popen(
        args, cwd=project, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and len(cluster.job_processes()) < 2:
            time.sleep(0.3)  # until both hyperopts run (with their -j 2 worker processes)
        assert cluster.job_processes(), "no job started on the cluster"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and cluster.job_processes():
        time.sleep(0.3)

    assert proc.returncode == 130, stderr[-2000:]
    assert cluster.job_processes() == []
    statuses = [r["status"] for r in _runs(project)]
    assert statuses and "running" not in statuses and "succeeded" not in statuses


def test_cluster_sweep_when_worker_killed_mid_job_then_job_reruns_and_sweep_completes(
    cluster: DaskCluster, shared_data: Path, tmp_path: Path
) -> None:
    """SIGKILL of a worker's process tree: the attempt is recorded interrupted, Dask re-runs
    the job on the other worker, the sweep completes with one succeeded run per job."""
    from app.sweep.remote import INTERRUPTED_STATUS

    project = make_project(tmp_path)
    args = [sys.executable, "-m", "app", *_sweep_args(shared_data, "--scheduler", cluster.address)]
    args[args.index("2", args.index("--folds"))] = "1"
    proc = subprocess.Popen(
        [*args, "--json"], cwd=project, env=clean_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600  # a loaded machine: zygotes still importing
        victim = None
        while time.monotonic() < deadline and victim is None and proc.poll() is None:
            victim = cluster.worker_running_a_job()
            time.sleep(0.1)
        if victim is None:
            proc.kill()
            pytest.fail(f"no job started on the cluster: {proc.communicate()[1][-3000:]!r}")
        _kill_tree(victim)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert proc.returncode == 0, stderr[-3000:]
    runs = _runs(project)
    hyperopts = [r["status"] for r in runs if r["kind"] == "hyperopt"]
    assert sorted(hyperopts) == sorted([INTERRUPTED_STATUS, "succeeded"])
    assert [r["status"] for r in runs if r["kind"] == "backtest"] == ["succeeded"]
    db = project / "user_data" / "registry" / "strategies_registry.sqlite"
    with sqlite3.connect(db) as conn:
        texts = [row[0] for row in conn.execute("select description from incidents")]
    assert any("was lost while running it" in t for t in texts), texts
    assert json.loads(stdout)["exit_code"] == 0


def _alive(proc: psutil.Process) -> bool:
    """Running, not a zombie (a zombie is only an exit status waiting to be read)."""
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
