"""What runs on a Dask worker: one sweep job, from content-hashed inputs to result bytes.

:func:`run_job` is the task the client submits. In order:

1. store any blobs shipped with the job (each checked against its hash); if the worker's
   cache still lacks an input, return :class:`NeedBlobs` at once (the client sends them
   and resubmits the job to this worker);
2. announce the attempt (a ``log_event`` on the sweep's topic: job, attempt id, worker)
   so the client can record an attempt that a dying worker never finishes;
3. lay the inputs out in a fresh folder, start the offline exchange on them (as the
   guarded runner does), and run Freqtrade in a child forked from this worker's zygote
   (:mod:`app.sweep.zygote`); while it runs, watch the task: when the client cancels it
   or goes away, kill the child's process tree;
4. return the result files, logs and timings, and delete the folder.

One Freqtrade job runs at a time per worker process (a lock): run workers with
``--nthreads 1`` and one worker process per job slot. A job never reads the worker's
``RISK_*``/``FREQTRADE__*`` environment or ``.env``: the guard's settings come in the spec.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

from app.errors import TradingBotError
from app.sweep.blobcache import BlobCache
from app.sweep.jobs import (
    LOG_FILE,
    USER_DATA,
    Blobs,
    JobResult,
    JobSpec,
    NeedBlobs,
    bundle_digest,
    worker_argv,
)
from app.sweep.zygote import Zygote, ZygoteError

CACHE_DIR_ENV = "TRADINGBOT_SWEEP_CACHE_DIR"
WARM_ENV = "TRADINGBOT_SWEEP_WARM"  # 0 = a fresh interpreter per job (benchmarks)
RESULT_SUFFIXES = (".zip", ".fthypt", ".json")
_POLL_SEC = 0.2
_KILL_GRACE_SEC = 5.0
_STRIPPED_PREFIXES = ("RISK_", "FREQTRADE__", "TRADINGBOT_", "PYTEST_")

_lock = threading.Lock()
_zygote: Zygote | None = None


def _worker() -> Any:  # distributed.Worker (imported lazily: clients never need it here)
    from distributed import get_worker

    return get_worker()


def cache_root(local_directory: str) -> Path:
    """``TRADINGBOT_SWEEP_CACHE_DIR``, else ``<worker local directory>/tradingbot-cache``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured) if configured else Path(local_directory) / "tradingbot-cache"


def job_environment(spec: JobSpec, root: Path) -> dict[str, str]:
    """The child's environment: this worker's, minus settings a job must not inherit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_PREFIXES)}
    env.update(spec.env)
    env["RISK_STATE_DIR"] = str(root / USER_DATA / "state")
    env["RISK_DB_PATH"] = str(root / USER_DATA / "registry" / "strategies_registry.sqlite")
    return env


def _get_zygote(log_dir: Path) -> Zygote:
    global _zygote  # noqa: PLW0603  # one zygote per worker process, reused by every job
    warm = os.environ.get(WARM_ENV, "1") != "0"
    if _zygote is None or not _zygote.alive or not warm:
        if _zygote is not None:
            _zygote.close()
        log_dir.mkdir(parents=True, exist_ok=True)
        _zygote = Zygote(warm=warm, log_file=log_dir / "zygote.log")
    return _zygote


def prewarm(dask_worker: Any = None) -> int:
    """Start this worker's zygote now (``client.run(prewarm)``); returns its pid.

    Runs on the worker's event loop: it never waits for a running job (the job's zygote
    is warm already).
    """
    worker = dask_worker or _worker()
    if not _lock.acquire(blocking=False):
        return _zygote.proc.pid if _zygote is not None else 0
    try:
        return _get_zygote(cache_root(worker.local_directory)).proc.pid
    finally:
        _lock.release()


def _cancelled(worker: Any, key: str) -> bool:
    """True once the scheduler no longer wants this task (cancelled, client gone)."""
    task = worker.state.tasks.get(key)
    return task is None or task.state not in ("executing", "long-running")


def run_job(spec: JobSpec, blobs: Blobs | None = None) -> JobResult | NeedBlobs:
    """Run ``spec`` on this worker (the Dask task; see the module docstring)."""
    worker = _worker()
    key = str(worker.get_current_task())
    cache = BlobCache(cache_root(worker.local_directory))
    fetched = tuple(sorted(blobs.data)) if blobs else ()
    for sha, data in blobs.data.items() if blobs else ():
        cache.put(sha, data)
    missing = cache.missing(spec.files.values())
    if missing:
        return NeedBlobs(worker.address, tuple(missing))
    attempt = uuid.uuid4().hex[:12]
    result = JobResult(spec.key, attempt, worker.address, socket.gethostname(), 1)
    result.fetched = fetched
    # Through the worker's client, a round trip: once Freqtrade starts, the scheduler has the
    # announcement, even if this worker dies the next moment (its batched stream might not).
    from distributed import get_client

    get_client().log_event(
        topic_of(spec.key),
        {"type": "attempt", "job": spec.key, "attempt": attempt, "worker": worker.address},
    )
    with _lock:
        began = time.perf_counter()
        try:
            _execute(spec, cache, result, lambda: _cancelled(worker, key))
        except (TradingBotError, ZygoteError, OSError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        result.timings["total"] = time.perf_counter() - began
    return result


def topic_of(job_key: str) -> str:
    """The sweep's event topic: ``tradingbot-<sweep id>`` (the key's first part)."""
    return f"tradingbot-{job_key.split('/', 1)[0]}"


def _execute(spec: JobSpec, cache: BlobCache, result: JobResult, cancelled: Any) -> None:
    if spec.freqtrade_version != version("freqtrade"):
        raise TradingBotError(
            f"worker {result.worker} runs Freqtrade {version('freqtrade')}, the client "
            f"{spec.freqtrade_version}: results would differ; install the same version on "
            "every worker"
        )
    if spec.bundle != bundle_digest():
        raise TradingBotError(
            f"worker {result.worker} runs other tradingbot code than the client (app/ sources "
            "differ): results would differ; install the same commit on every worker"
        )
    clock = time.perf_counter
    jobs = cache.root.parent / "tradingbot-jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"{result.attempt}-", dir=jobs))
    try:
        began = clock()
        cache.materialize(spec.files, root)
        for folder in ("backtest_results", "hyperopt_results", "logs"):
            (root / USER_DATA / folder).mkdir(parents=True, exist_ok=True)
        argv = worker_argv(spec, root)
        env = job_environment(spec, root)
        result.timings["materialize"] = clock() - began
        with _exchange(spec, argv, env) as extra:
            result.timings["exchange"] = clock() - began - result.timings["materialize"]
            zygote = _get_zygote(cache.root)
            started = clock()
            pid = zygote.start([*argv, *extra], env, root, root / "output.log")
            result.timings["fork"] = clock() - started
            result.exit_code = _wait(zygote, pid, cancelled)
            result.timings["freqtrade"] = clock() - started
        _collect(root, result)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _exchange(spec: JobSpec, argv: list[str], env: dict[str, str]) -> Iterator[list[str]]:
    """The offline exchange for the job's own candles (``-c overlay``), when asked."""
    if not spec.offline:
        yield []
        return
    from app.runner.ftargs import parse_invocation
    from app.runner.ftconfig import resolve
    from app.runner.offline import offline_session

    inv = parse_invocation(argv)
    with offline_session(inv, resolve(inv, env), None, env) as session:
        for name in session.unset_env:
            env.pop(name, None)
        yield session.extra_args


def _wait(zygote: Zygote, pid: int, cancelled: Any) -> int:
    """Wait for the job; on cancellation SIGTERM its process group, SIGKILL after a grace."""
    killed_at: float | None = None
    while True:
        code = zygote.wait(_POLL_SEC)
        if code is not None:
            return code
        if killed_at is None and cancelled():
            zygote.kill_job(pid, signal.SIGTERM)
            killed_at = time.monotonic()
        elif killed_at is not None and time.monotonic() - killed_at > _KILL_GRACE_SEC:
            zygote.kill_job(pid, signal.SIGKILL)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def _collect(root: Path, result: JobResult) -> None:
    """Result files (by ``<folder>/<name>``), Freqtrade's log and output, the guard's log."""
    for folder in ("backtest_results", "hyperopt_results"):
        for path in sorted((root / USER_DATA / folder).iterdir()):
            if path.is_file() and path.name.endswith(RESULT_SUFFIXES):
                result.files[f"{folder}/{path.name}"] = path.read_bytes()
    result.log = _read(root / LOG_FILE)
    result.output = _read(root / "output.log")
    result.guard_log = _read(root / USER_DATA / "logs" / "risk.jsonl")
