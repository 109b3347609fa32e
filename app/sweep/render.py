"""Show a sweep: a rich progress bar while it runs, then in-sample vs out-of-sample tables."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar
from rich.table import Table

from app.sweep.model import FoldResult, RunOutcome, StrategyResult, SweepResult


class ProgressBar:
    """The sweep's :class:`app.sweep.engine.Progress`, drawn with rich on ``console``.

    In process one bar names the run going on. On a cluster, below the bar, one line per
    job in flight names the job and the worker running it (thread-safe: rich locks).
    """

    def __init__(self, console: Console) -> None:
        self._bar = RichBar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._bar.add_task("sweep", total=None)
        self._jobs: dict[str, tuple[object, str]] = {}

    def __enter__(self) -> ProgressBar:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def start(self, total: int) -> None:
        """Set the number of Freqtrade runs."""
        self._bar.update(self._task, total=total)

    def step(self, description: str) -> None:
        """Name the run that starts now."""
        self._bar.update(self._task, description=description)

    def advance(self) -> None:
        """One run done (or skipped)."""
        self._bar.advance(self._task)

    def begin_job(self, key: str, description: str) -> None:
        """A job was submitted to the cluster (no worker yet)."""
        task = self._bar.add_task(f"  {description}: waiting for a worker", total=None)
        self._jobs[key] = (task, description)
        self._bar.update(self._task, description=f"sweep: {len(self._jobs)} job(s) in flight")

    def job_worker(self, key: str, worker: str) -> None:
        """The job runs on ``worker`` (again on another one after a worker was lost)."""
        if key in self._jobs:
            task, description = self._jobs[key]
            self._bar.update(task, description=f"  {description} on {worker}")  # type: ignore[arg-type]

    def end_job(self, key: str) -> None:
        """The job ended; one run done."""
        entry = self._jobs.pop(key, None)
        if entry is not None:
            self._bar.remove_task(entry[0])  # type: ignore[arg-type]
        self._bar.update(self._task, description=f"sweep: {len(self._jobs)} job(s) in flight")
        self._bar.advance(self._task)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _side(run: RunOutcome | None) -> list[str]:
    if run is None:
        return ["-", "-", "-"]
    if not run.succeeded:
        return [f"failed ({run.exit_code})", "-", "-"]
    m = run.metrics
    return [
        _count(m.get("trades")),
        _pct(m.get("profit_total")),
        _pct(m.get("max_drawdown_account")),
    ]


def _row(strategy: str, fold: FoldResult) -> list[str]:
    return [
        strategy,
        str(fold.fold.index),
        fold.train_timerange,
        fold.test_timerange,
        *_side(fold.hyperopt),
        *_side(fold.backtest),
    ]


def results_table(result: SweepResult) -> Table:
    """One row per strategy and fold: in-sample (best epoch) vs out-of-sample (backtest)."""
    table = Table(title=f"Walk-forward sweep {result.sweep_id} ({result.timerange})")
    for header in ("Strategy", "Fold", "Train", "Test"):
        table.add_column(header, no_wrap=True)
    for side in ("IS", "OOS"):
        table.add_column(f"{side} trades", justify="right")
        table.add_column(f"{side} profit", justify="right")
        table.add_column(f"{side} max DD", justify="right")
    for strategy in result.strategies:
        for fold in strategy.folds:
            table.add_row(*_row(strategy.strategy, fold))
    return table


def verdict_line(strategy: StrategyResult) -> str:
    """``Name: promoted ...`` / ``Name: passed ...`` / ``Name: not promoted: reasons``."""
    verdict = strategy.verdict
    if verdict is None:
        return f"{strategy.strategy}: no verdict"
    if verdict.promoted:
        return (
            f"{strategy.strategy}: PROMOTED run {verdict.candidate_run_id} -> {verdict.param_file}"
        )
    if verdict.passed:
        return (
            f"{strategy.strategy}: passed ({'; '.join(verdict.reasons)}); run "
            f"{verdict.candidate_run_id} can be promoted (--promote, or `tradingbot params "
            f"promote {verdict.candidate_run_id}`)"
        )
    return f"{strategy.strategy}: not promoted: {'; '.join(verdict.reasons)}"


def print_result(result: SweepResult, console: Console, log_file: str) -> None:
    """The results table, one verdict per strategy, and where the details are."""
    console.print(results_table(result))
    for strategy in result.strategies:
        console.print(verdict_line(strategy))
    console.print(f"Runs: {len(result.run_ids)} in the registry (correlation id {result.sweep_id})")
    console.print(f"Freqtrade output: {log_file}")
