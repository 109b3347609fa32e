"""One guarded run of a cluster sweep: recorded and gated here, run on a Dask worker.

The client does everything the guarded runner does except running Freqtrade: it reads
the arguments and config, checks the offline inputs and builds the job
(:func:`app.sweep.specs.build_spec`) -- bad input records nothing --, records the run
(``running``, with the fingerprints of the client's files), passes the gates (circuit
breaker, drawdown, a concurrency slot: see :mod:`app.sweep.cluster`), submits the job,
then places the returned result files in its own result folders and ingests exactly
those. Every run is recorded once, in the client's registry; workers never see it.

Attempts: a worker announces each attempt of a job. When a second attempt of the same
job starts (Dask re-runs the task elsewhere because its worker died), the first one can
no longer finish: its run is recorded as ``interrupted`` (:data:`INTERRUPTED_STATUS`)
with an incident naming the lost worker, and a new run is recorded (and gated again)
for the new attempt. Since a job is a pure function of its inputs, whichever attempt
returns the answer, it is recorded once, as succeeded or failed. A cancelled job (Ctrl-C,
or an earlier fold failed) ends as ``interrupted`` too.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from app.errors import DataError, TradingBotError
from app.logs import DEFAULT_LOG_FILE, get_logger
from app.registry import Registry
from app.risk.gates import RunRefused, RunRequest, run_gates
from app.runner import ingest
from app.runner.ftargs import parse_invocation
from app.runner.paths import portable_path
from app.runner.runner import RunPlan, fingerprint_inputs, make_plan
from app.settings import RiskSettings
from app.sweep.cluster import Cluster
from app.sweep.jobs import Blobs, JobResult, JobSpec, NeedBlobs
from app.sweep.model import RunOutcome
from app.sweep.placing import place
from app.sweep.specs import Sources, build_spec, with_run_ids

INTERRUPTED_STATUS = "interrupted"
MAX_SUBMISSIONS = 5  # a job whose worker keeps lacking inputs is not retried forever
_log = get_logger("sweep.remote")


def _free_name(path: Path) -> Path:
    """``path``, or ``<stem>-2<suffix>``, ``-3`` ... when taken (created: reserved)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 1
    while True:
        try:
            candidate.open("x").close()
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
            continue
        return candidate


class JobCancelled(Exception):  # noqa: N818  # a state, not an error
    """The job's future was cancelled (Ctrl-C, or the sweep dropped it)."""


@dataclass
class _Attempt:
    """The run recorded for the attempt of a job now running (or about to)."""

    run_id: str
    key: str  # the job's key
    argv: list[str]  # Freqtrade's arguments (recorded again for a new attempt)
    bound: str | None = None  # the worker's attempt id this run stands for
    worker: str | None = None


class RemoteRunner:
    """Runs the sweep's Freqtrade commands on a cluster; thread-safe (one thread per job)."""

    def __init__(
        self,
        cluster: Cluster,
        settings: RiskSettings,
        registry: Registry,
        *,
        environ: dict[str, str],
        offline: bool,
        on_worker: Callable[[str, str], None] = lambda _key, _worker: None,
        slot_wait_sec: float = 0.0,
    ) -> None:
        self.cluster = cluster
        # Queue this long for a backtest slot (the runner's first-come-first-served line).
        self.slot_wait_sec = slot_wait_sec
        self.settings = settings
        self.gate_settings = (
            settings
            if cluster.local
            else settings.model_copy(update={"max_concurrent_backtests": 0})
        )
        self.registry = registry
        self.environ = environ
        self.offline = offline
        self.on_worker = on_worker
        self.sources = Sources()
        self.stop = threading.Event()
        self._futures: set[Any] = set()
        self._lock = threading.Lock()  # futures, result folders, shared logs

    # -- ONE RUN -------------------------------------------------------------------------

    def run(self, argv: list[str], *, key: str, label: str) -> RunOutcome:
        """Record, gate, run remotely and record ``argv``; never raises for a failed run."""
        plan = make_plan(parse_invocation(argv), self.environ)
        try:
            spec = build_spec(
                plan,
                key=key,
                label=label,
                offline=self.offline,
                settings=self.settings,
                environ=self.environ,
                sources=self.sources,
            )
        except TradingBotError as exc:
            sys.stderr.write(f"Error: {exc}\n")
            return RunOutcome(None, exc.exit_code, error=str(exc))
        attempt = _Attempt(self._start(plan, argv), key, argv)
        try:
            with run_gates(self._request(plan, attempt), self.gate_settings, self.registry):
                result = self._submit(plan, spec, attempt)
        except RunRefused as refused:
            return self._blocked(attempt, refused)
        except JobCancelled:
            self._finish_failed(plan, attempt, INTERRUPTED_STATUS, 130, "was cancelled")
            return RunOutcome(attempt.run_id, 130, error="interrupted")
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self._finish_failed(plan, attempt, "failed", 1, f"client stopped: {exc!r}")
            raise
        return self._record(plan, attempt, result)

    def _start(self, plan: RunPlan, argv: list[str]) -> str:
        flags = ["--offline"] if self.offline else []
        return self.registry.start_run(
            kind=plan.kind,
            correlation_id=plan.correlation_id,
            strategy=plan.strategy,
            freqtrade_version=version("freqtrade"),
            command=["tradingbot", "freqtrade", *flags, *argv],
            **fingerprint_inputs(plan),  # type: ignore[arg-type]  # keys match start_run's
        )

    def _request(self, plan: RunPlan, attempt: _Attempt) -> RunRequest:
        return RunRequest(
            plan.kind,
            plan.strategy,
            attempt.run_id,
            plan.correlation_id,
            slot_wait_sec=self.slot_wait_sec,
        )

    # -- SUBMITTING AND WATCHING ---------------------------------------------------------

    def _submit(self, plan: RunPlan, spec: JobSpec, attempt: _Attempt) -> Any:
        from app.sweep.worker import run_job

        spec = with_run_ids(spec, attempt.run_id, plan.correlation_id)
        events = self.cluster.route(spec.key)
        blobs: Blobs | None = None
        workers: list[str] | None = None
        try:
            for submission in range(1, MAX_SUBMISSIONS + 1):
                placement = {"workers": workers, "allow_other_workers": True} if workers else {}
                future = self.cluster.client.submit(
                    run_job, spec, blobs, key=f"{spec.key}#{submission}", pure=False,
                    retries=0, **placement,
                )  # fmt: skip
                outcome = self._watch(plan, attempt, future, events)
                if not isinstance(outcome, NeedBlobs):
                    return outcome
                blobs = Blobs({sha: self.sources.read(sha) for sha in outcome.missing})
                workers = [outcome.worker]
            raise DataError(f"job {spec.key}: workers kept lacking its inputs; see their logs")
        finally:
            self.cluster.forget(spec.key)

    def _watch(
        self,
        plan: RunPlan,
        attempt: _Attempt,
        future: Any,
        events: queue.Queue[dict[str, Any]],
    ) -> Any:
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(lambda _f: events.put({"type": "done"}))
        try:
            while True:
                if self.stop.is_set():
                    future.cancel()
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if event.get("type") == "attempt":
                    self._observe(plan, attempt, str(event["attempt"]), str(event["worker"]))
                elif event.get("type") == "done" and future.done():
                    break
        except BaseException:
            future.cancel()
            raise
        finally:
            with self._lock:
                self._futures.discard(future)
        if future.cancelled() or future.status == "cancelled":
            raise JobCancelled
        if future.status == "error":
            exc = future.exception()
            return JobResult(
                plan.correlation_id, attempt.bound or "-", attempt.worker or "-", "-", 1,
                error=f"{type(exc).__name__}: {exc}",
            )  # fmt: skip
        return future.result()

    def _observe(self, plan: RunPlan, attempt: _Attempt, attempt_id: str, worker: str) -> None:
        """An attempt of the job started on ``worker``; a new one means the last was lost."""
        self.on_worker(attempt.key, worker)
        if attempt.bound is None:
            attempt.bound, attempt.worker = attempt_id, worker
            return
        if attempt.bound == attempt_id:
            return
        lost = attempt.worker
        self._finish_failed(
            plan, attempt, INTERRUPTED_STATUS, None,
            f"was interrupted: worker {lost} was lost while running it; Dask runs the job "
            f"again on {worker}",
        )  # fmt: skip
        attempt.run_id = self._start(plan, attempt.argv)
        attempt.bound, attempt.worker = attempt_id, worker
        _log.warning(
            "job_attempt_lost",
            extra={"correlation_id": plan.correlation_id, "run_id": attempt.run_id,
                   "lost_worker": lost, "worker": worker},
        )  # fmt: skip
        # The new run passes the breaker and drawdown gates too (its slot is the job's).
        unlimited = self.settings.model_copy(update={"max_concurrent_backtests": 0})
        with run_gates(self._request(plan, attempt), unlimited, self.registry):
            pass

    def cancel_all(self) -> None:
        """Cancel every job in flight (Ctrl-C); their threads record them as interrupted."""
        self.stop.set()
        with self._lock:
            futures = list(self._futures)
        if futures:
            with contextlib.suppress(Exception):
                self.cluster.client.cancel(futures, force=True)

    # -- RECORDING -----------------------------------------------------------------------

    def _blocked(self, attempt: _Attempt, refused: RunRefused) -> RunOutcome:
        self.registry.finish_run(attempt.run_id, status="blocked", exit_code=refused.exit_code)
        sys.stderr.write(f"Refused: {refused}\n")  # into sweep.log, as the runner prints it
        return RunOutcome(attempt.run_id, refused.exit_code, error="run ended with status blocked")

    def _finish_failed(  # noqa: PLR0917  # the five facts of a failure, in their order
        self,
        plan: RunPlan,
        attempt: _Attempt,
        status: str,
        code: int | None,
        reason: str,
        excerpt: str | None = None,
    ) -> None:
        where = f" on worker {attempt.worker}" if attempt.worker else ""
        self.registry.finish_run(attempt.run_id, status=status, exit_code=code)
        self.registry.log_incident(
            severity="error",
            description=f"freqtrade {plan.inv.command} ({plan.kind}){where} {reason}",
            correlation_id=plan.correlation_id,
            run_id=attempt.run_id,
            log_excerpt=excerpt,
        )
        _log.warning(
            "run_failed",
            extra={"correlation_id": plan.correlation_id, "run_id": attempt.run_id,
                   "reason": reason, "worker": attempt.worker},
        )  # fmt: skip

    def _record(self, plan: RunPlan, attempt: _Attempt, result: JobResult) -> RunOutcome:
        if result.attempt != "-":  # normally announced already; this covers a lost event
            try:
                self._observe(plan, attempt, result.attempt, result.worker)
            except RunRefused as refused:
                return self._blocked(attempt, refused)
        self._keep_logs(plan, attempt, result)
        if result.error is not None or result.exit_code != 0:
            reason = (
                f"could not run: {result.error}"
                if result.error is not None
                else f"exited with code {result.exit_code}"
            )
            code = result.exit_code or 1
            self._finish_failed(plan, attempt, "failed", code, reason, result.log_tail())
            return RunOutcome(attempt.run_id, code, error="run ended with status failed")
        return self._ingest(plan, attempt, result)

    def _keep_logs(self, plan: RunPlan, attempt: _Attempt, result: JobResult) -> None:
        """Freqtrade's log where the runner would keep it; its output into the sweep log."""
        with self._lock:
            if plan.logfile is not None and (result.log or result.output):
                plan.logfile = _free_name(plan.logfile)  # runs starting in one second share it
                plan.logfile.write_text(result.log or result.output)
            header = f"\n== run {attempt.run_id} on worker {result.worker} ({result.host}) ==\n"
            sys.stdout.write(header + result.output)
            sys.stdout.flush()
            if result.guard_log:
                DEFAULT_LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
                with DEFAULT_LOG_FILE.open("a") as guard_log:
                    guard_log.write(result.guard_log)

    def _ingest(self, plan: RunPlan, attempt: _Attempt, result: JobResult) -> RunOutcome:
        folder = plan.result_dir
        prefix = "backtest_results/" if plan.inv.command == "backtesting" else "hyperopt_results/"
        files = {k.removeprefix(prefix): v for k, v in result.files.items() if k.startswith(prefix)}
        if folder is None:  # make_plan sets one for backtests and hyperopts
            raise DataError(f"{plan.inv.command} has no result folder")
        try:
            with self._lock:
                plan.started = time.time()
                placed = place(files, folder)
                # Ingest exactly this job's files: everything else in the folder counts as old.
                names = {p.name for p in placed}
                plan.existing_results = frozenset(ingest.snapshot(folder) - names)
                found = ingest.collect(plan)
        except DataError as exc:
            reason = f"succeeded but its results cannot be read: {exc}"
            self._finish_failed(plan, attempt, "failed", 1, reason, result.log_tail())
            return RunOutcome(attempt.run_id, 1, error="run ended with status failed")
        if found is None:
            reason = f"exited 0 but wrote no results (see {plan.logfile})"
            self._finish_failed(plan, attempt, "failed", 1, reason, result.log_tail())
            return RunOutcome(attempt.run_id, 1, error="run ended with status failed")
        self.registry.add_metrics(attempt.run_id, found.metrics)
        self.registry.finish_run(
            attempt.run_id,
            status="succeeded",
            exit_code=0,
            result_path=portable_path(found.result_path),
            equity_hash=found.equity_hash,
            params=found.params,
        )
        _log.info(
            "run_succeeded",
            extra={"correlation_id": plan.correlation_id, "run_id": attempt.run_id,
                   "worker": result.worker, "seconds": round(result.timings.get("total", 0), 3)},
        )  # fmt: skip
        return RunOutcome(attempt.run_id, 0, self.registry.run_metrics(attempt.run_id))
