"""A sweep on a Dask cluster: every strategy's folds at once, with the in-process answers.

Each fold is a client thread: hyperopt, then the fold's parameter copy, then the
out-of-sample backtest, each through :class:`app.sweep.remote.RemoteRunner`. What keeps
the answers equal to an in-process sweep's:

* the same Freqtrade arguments, and ``-j`` pinned: Freqtrade's hyperopt asks its
  optimizer for one batch of points per round, a batch as large as its worker count,
  so the epochs depend on ``-j``. Without ``--jobs`` the client's count is used (what
  ``-j -1``, Freqtrade's default, means on the client), never the worker's;
* the drawdown gate reads the strategy's latest backtest, which in process is the
  previous fold's: with ``RISK_MAX_BACKTEST_DRAWDOWN_PCT`` set, a fold's backtest waits
  until the previous fold's backtest ended (hyperopts do not wait);
* in process a failed or refused run stops the strategy's later folds. Here they run at
  the same time: once a fold fails, later folds' runs that have not started are skipped,
  those in flight finish, and the result keeps only the folds up to the first failure --
  runs of later folds stay in the registry (same correlation id; a
  ``sweep_folds_dropped`` line names them) but not in the result;
* verdicts and promotions are decided in the main thread in strategy order, after the
  folds, as in process.

Ctrl-C cancels every job (workers kill the jobs' process trees), waits for the threads
to record their runs as interrupted, and raises :class:`Interrupted`.
"""

from __future__ import annotations

import concurrent.futures
import signal
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.logs import get_logger
from app.runner.process import Interrupted
from app.sweep.cluster import Cluster
from app.sweep.model import FoldResult, RunOutcome, StrategyResult
from app.sweep.remote import RemoteRunner
from app.sweep.specs import cpu_count
from app.sweep.worker import topic_of
from app.sweep.workspace import StrategySource

if TYPE_CHECKING:
    from pathlib import Path

    from app.sweep.engine import Progress, Sweep

_log = get_logger("sweep")
_INF = 1 << 30


@dataclass
class _Strategy:
    """One strategy's shared state across its fold threads."""

    source: StrategySource
    train_dir: Path
    result: StrategyResult
    failed_at: int = _INF
    backtests_done: dict[int, threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, index: int) -> None:
        with self.lock:
            self.failed_at = min(self.failed_at, index)

    def stopped_before(self, index: int) -> bool:
        with self.lock:
            return self.failed_at < index


class ClusterSweep:
    """Runs the folds of a :class:`Sweep` on ``cluster``."""

    def __init__(self, sweep: Sweep, cluster: Cluster, bar: Progress) -> None:
        self.sweep = sweep
        self.bar = bar
        self.runner = RemoteRunner(
            cluster,
            sweep.settings,
            sweep.registry,
            environ=sweep.environ,
            offline=sweep.request.offline,
            on_worker=bar.job_worker,
            slot_wait_sec=sweep.request.slot_wait_sec,
        )
        cluster.listen(topic_of(sweep.sweep_id))  # workers announce each job attempt there
        if sweep.request.jobs is None:
            sweep.default_jobs = cpu_count()
        self.ordered_backtests = sweep.settings.max_backtest_drawdown_pct is not None
        limit = sweep.settings.max_concurrent_backtests if cluster.local else 0
        self._slots = threading.BoundedSemaphore(limit) if limit else None

    def run(self) -> list[StrategyResult]:
        """Every strategy's folds, in strategy and fold order, with verdicts."""
        sweep = self.sweep
        states = []
        for source in sweep.sources:
            result = StrategyResult(source.name)
            for fold in sweep.folds:
                result.folds.append(
                    FoldResult(
                        fold, fold.train.timerange(sweep.candle), fold.test.timerange(sweep.candle)
                    )
                )
            state = _Strategy(source, sweep.workspace.train_dir(source), result)
            state.backtests_done = {f.fold.index: threading.Event() for f in result.folds}
            states.append(state)
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, len(states) * len(sweep.folds)), thread_name_prefix="sweep-fold"
        )
        tasks = [pool.submit(self._fold, s, item) for s in states for item in s.result.folds]
        try:
            pending = set(tasks)
            while pending:  # short waits: Ctrl-C reaches this (main) thread between them
                _, pending = concurrent.futures.wait(pending, timeout=0.5)
        except Interrupted:
            self.runner.cancel_all()
            concurrent.futures.wait(tasks)
            raise
        finally:
            pool.shutdown(wait=True)
        for task in tasks:
            task.result()  # a thread's unexpected error surfaces here
        if self.runner.stop.is_set():
            raise Interrupted(signal.SIGINT)
        for state in states:
            self._keep_up_to_first_failure(state)
            state.result.verdict = sweep.verdict(state.source, state.result.folds)
        return [s.result for s in states]

    def _fold(self, state: _Strategy, item: FoldResult) -> None:
        index = item.fold.index
        try:
            if state.stopped_before(index) or self.runner.stop.is_set():
                return
            argv = self.sweep.hyperopt_args(state.source, state.train_dir, item)
            item.hyperopt = self._run(state, item, "hyperopt", argv)
            if not item.hyperopt.succeeded:
                state.fail(index)
                return
            fold_dir = self.sweep.fold_dir(state.source, index, item.hyperopt)
            if fold_dir is None:
                state.fail(index)
                return
            if self.ordered_backtests and index > 1:
                state.backtests_done[index - 1].wait()
            if state.stopped_before(index) or self.runner.stop.is_set():
                return
            item.backtest = self._run(
                state, item, "backtest", self.sweep.backtest_args(state.source, fold_dir, item)
            )
            if not item.backtest.succeeded:
                state.fail(index)
        finally:
            if item.hyperopt is None:
                self.bar.advance()
            if item.backtest is None:
                self.bar.advance()
            state.backtests_done[index].set()

    def _run(self, state: _Strategy, item: FoldResult, kind: str, argv: list[str]) -> RunOutcome:
        sweep = self.sweep
        label = f"{state.source.name} fold {item.fold.index}/{len(sweep.folds)}: {kind}"
        key = f"{sweep.sweep_id}/{state.source.name}/fold-{item.fold.index}/{kind}"
        if self._slots is not None:
            self._slots.acquire()
        try:
            self.bar.begin_job(key, label)
            try:
                return self.runner.run(argv, key=key, label=label)
            finally:
                self.bar.end_job(key)
        finally:
            if self._slots is not None:
                self._slots.release()

    def _keep_up_to_first_failure(self, state: _Strategy) -> None:
        """Drop the folds after the first incomplete one, as an in-process sweep stops there."""
        dropped: list[str] = []
        seen_failure = False
        for item in state.result.folds:
            if seen_failure:
                runs = (item.hyperopt, item.backtest)
                dropped.extend(r.run_id for r in runs if r is not None and r.run_id)
                item.hyperopt = item.backtest = None
            elif not item.complete:
                seen_failure = True
        if dropped:
            _log.warning(
                "sweep_folds_dropped",
                extra={"correlation_id": self.sweep.sweep_id, "strategy": state.source.name,
                       "run_ids": dropped},
            )  # fmt: skip
