"""Sweeps on Dask: per-job overhead cold vs warm, sweep wall time, projected speed-up.

    .venv/bin/python benchmarks/bench_sweep.py [--jobs 5] [--sweeps 1] [--skip-sweep]

1. **Per-job overhead**: one small backtest (MaCrossoverStrategy, 7 shared pairs, three
   days) submitted as a sweep job (``run_job``) to a one-worker ``LocalCluster``, timed
   from ``submit`` to the result on the client. *Cold*: the worker starts a fresh
   interpreter per job (``TRADINGBOT_SWEEP_WARM=0``, what every in-process run pays);
   *warm*: it forks its pre-loaded zygote. Cold and warm jobs alternate, medians; the
   first job of each (inputs shipped, zygote started) is dropped. **Freqtrade's own
   time** F is the warm child's life (fork to exit: Freqtrade's configuration, exchange,
   data, backtest and result files, with nothing left to import); the overhead of a job
   is its round trip minus F. Target: warm <= 0.3 s.
2. **Sweep wall time**: the same ``tradingbot sweep`` (1 strategy, 2 folds, 3 epochs,
   -j 1) in process and with ``--workers 2``, alternating, medians.
3. **Projection** for N machines of one worker each, from the measured figures:
   ``speed-up(N) = J (F + o_cold) / (ceil(J / N) (F + o_warm + s))`` where J jobs of
   Freqtrade time F each are spread evenly, o is the per-job overhead and s the client's
   scheduling cost per job (submit to start, result back: the warm job's round trip minus
   the worker's own measured time). Printed for the sweep of a typical size (J = 2 x folds
   x strategies = 60) with F from the backtest and from a 100-epoch hyperopt estimate.

Needs ../shared/data/binance. The figures are noisy on a shared machine: read the ratios.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data" / "binance"
PAIRS = ["ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC"]
TIMERANGE = "20180120-20180123"


def project_dir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    for folder in ("configs", "strategies", "hyperopts"):
        shutil.copytree(
            REPO_ROOT / "user_data" / folder,
            root / "user_data" / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.json")
            if folder == "strategies"
            else shutil.ignore_patterns("__pycache__"),
        )
    return root


def backtest_argv() -> list[str]:
    argv = ["backtesting", "-c", "user_data/configs/config.backtest.json"]
    argv += ["--strategy", "MaCrossoverStrategy", "--strategy-path", "user_data/strategies"]
    return [*argv, "--datadir", str(DATA), "--pairs", *PAIRS, "--timerange", TIMERANGE]


def job_seconds(project: Path, jobs: int) -> dict[str, list[float]]:
    """Round-trip seconds of the backtest as a sweep job, cold and warm, alternating."""
    from distributed import Client, LocalCluster

    from app.runner.ftargs import parse_invocation
    from app.runner.runner import make_plan
    from app.settings import load_settings
    from app.sweep.jobs import Blobs, NeedBlobs
    from app.sweep.specs import Sources, build_spec
    from app.sweep.worker import run_job

    plan = make_plan(parse_invocation(backtest_argv()), {})
    sources = Sources()
    spec = build_spec(
        plan, key="bench/x", label="bench", offline=True, settings=load_settings({}, None),
        environ={}, sources=sources,
    )  # fmt: skip
    out: dict[str, list[float]] = {"cold": [], "warm": [], "worker": [], "child": []}
    clusters = {
        mode: LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"TRADINGBOT_SWEEP_WARM": "1" if mode == "warm" else "0"},
        )
        for mode in ("cold", "warm")
    }
    clients = {mode: Client(cluster) for mode, cluster in clusters.items()}
    try:
        for n in range(jobs + 1):
            for mode in ("cold", "warm") if n % 2 else ("warm", "cold"):
                client = clients[mode]
                began = time.perf_counter()
                result = client.submit(run_job, spec, None, pure=False).result()
                if isinstance(result, NeedBlobs):  # first job: ship the inputs, not counted
                    blobs = Blobs({sha: sources.read(sha) for sha in result.missing})
                    result = client.submit(run_job, spec, blobs, pure=False).result()
                    continue
                wall = time.perf_counter() - began
                if result.exit_code != 0:
                    raise SystemExit(f"job failed: {result.error}\n{result.log_tail()}")
                if n:
                    out[mode].append(wall)
                    if mode == "warm":
                        out["worker"].append(result.timings["total"])
                        out["child"].append(result.timings["freqtrade"])
    finally:
        for client in clients.values():
            client.close()
        for cluster in clusters.values():
            cluster.close()
    return out


def sweep_seconds(project: Path, workers: int | None) -> float:
    args = [sys.executable, "-m", "app", "sweep", "--strategies", "MaCrossoverStrategy"]
    args += ["--timerange", "20180111-20180129", "--folds", "2", "--epochs", "3", "-j", "1"]
    args += ["--datadir", str(DATA), "--pairs", *PAIRS, "--json"]
    if workers:
        args += ["--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISK_", "TRADINGBOT_"))}
    began = time.perf_counter()
    result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"sweep failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - began


def speed_up(n: int, jobs: int, freqtrade: float, cold: float, warm: float, sched: float) -> float:
    return jobs * (freqtrade + cold) / (math.ceil(jobs / n) * (freqtrade + warm + sched))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5, help="measured jobs per side")
    parser.add_argument("--sweeps", type=int, default=1, help="sweeps per side")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no market data at {DATA} (../shared/data): nothing to measure")
        return 1
    project = project_dir()
    os.chdir(project)
    try:
        jobs = job_seconds(project, args.jobs)
        core = statistics.median(jobs["child"])
        print(f"Freqtrade's own time, one backtest ({TIMERANGE}, 7 pairs): {core:.3f} s")
        cold = statistics.median(jobs["cold"]) - core
        warm = statistics.median(jobs["warm"]) - core
        sched = statistics.median(w - t for w, t in zip(jobs["warm"], jobs["worker"], strict=True))
        print(
            f"per-job overhead (job wall - Freqtrade's time, median of {args.jobs}): cold "
            f"{cold:.3f} s  warm {warm:.3f} s  (warm/cold {warm / cold:.2f})   target warm <= 0.3"
        )
        print(f"client scheduling cost per job (round trip - worker time): {sched:.3f} s")
        if not args.skip_sweep:
            walls: dict[str, list[float]] = {"in process": [], "--workers 2": []}
            for n in range(args.sweeps):
                for label in ("in process", "--workers 2")[:: 1 if n % 2 == 0 else -1]:
                    workers = 2 if label == "--workers 2" else None
                    walls[label].append(sweep_seconds(project, workers))
            inproc, local = (statistics.median(v) for v in walls.values())
            print(
                f"sweep wall time (1 strategy, 2 folds, 3 epochs, -j 1; median of {args.sweeps}):"
                f" in process {inproc:.1f} s  --workers 2 {local:.1f} s  "
                f"speed-up {inproc / local:.2f} (2 cores here)"
            )
        print("\nprojected speed-up on N machines (one worker each), J = 60 jobs:")
        for label, f_time in (("backtest-sized jobs", core), ("100-epoch hyperopt jobs", 60.0)):
            figures = "  ".join(
                f"N={n}: {speed_up(n, 60, f_time, cold, warm, sched):5.1f}"
                f" ({speed_up(n, 60, f_time, cold, warm, sched) / n:4.2f} N)"
                for n in (2, 4, 10, 20)
            )
            print(f"  {label:24} F={f_time:5.1f} s  {figures}")
    finally:
        os.chdir("/")
        shutil.rmtree(project, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
