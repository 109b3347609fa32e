"""``registry import DIR``: record results that were produced outside the runner.

Backtest result files (``*.zip`` or legacy ``*.json`` with a ``strategy`` section) and
hyperopt results (``*.fthypt``) found in DIR (recursively) become succeeded runs with
their metrics, dated when Freqtrade produced them. Importing is idempotent: a result
file already in the registry (recorded by the runner or an earlier import) is skipped.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from app.errors import DataError
from app.registry import Registry
from app.results import BacktestResult, read_backtest, read_hyperopt
from app.runner.paths import portable_path


@dataclass
class ImportReport:
    """What an import did."""

    imported: list[str] = field(default_factory=list)  # new run ids
    skipped: list[str] = field(default_factory=list)  # result paths already recorded
    unreadable: list[str] = field(default_factory=list)  # "path: reason"


def _result_key(path: Path, strategy: str, multi: bool) -> str:
    """The result_path stored for one strategy of a file (files may hold several)."""
    key = portable_path(path)
    return f"{key}::{strategy}" if multi else key


def _candidates(folder: Path) -> list[Path]:
    files = [*folder.rglob("*.zip"), *folder.rglob("*.fthypt")]
    files += [
        p for p in folder.rglob("backtest-result-*.json") if not p.name.endswith(".meta.json")
    ]
    return sorted(files)


def _when(ts: int) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=UTC) if ts > 0 else None


def _import_backtest(
    registry: Registry, path: Path, correlation: str, report: ImportReport
) -> None:
    results: list[BacktestResult] = read_backtest(path)
    multi = len(results) > 1
    for result in results:
        key = _result_key(path, result.strategy, multi)
        if registry.find_run_by_result_path(key) is not None:
            report.skipped.append(key)
            continue
        when = _when(result.run_start_ts)
        run_id = registry.start_run(
            kind="backtest",
            correlation_id=correlation,
            strategy=result.strategy,
            timeframe=result.timeframe or None,
            timerange=result.timerange,
            pairs=result.pairs,
            started_utc=when,
        )
        registry.add_metrics(run_id, result.metrics)
        registry.finish_run(
            run_id,
            status="succeeded",
            exit_code=0,
            result_path=key,
            equity_hash=result.equity_hash,
            finished_utc=when,
        )
        report.imported.append(run_id)


def _import_hyperopt(
    registry: Registry, path: Path, correlation: str, report: ImportReport
) -> None:
    key = portable_path(path)
    if registry.find_run_by_result_path(key) is not None:
        report.skipped.append(key)
        return
    result = read_hyperopt(path)
    when = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    run_id = registry.start_run(
        kind="hyperopt", correlation_id=correlation, strategy=result.strategy, started_utc=when
    )
    metrics = {"epochs": float(result.epochs), "best_epoch": float(result.best_epoch)}
    if math.isfinite(result.best_loss):  # the registry refuses NaN; leave it out
        metrics["best_loss"] = result.best_loss
    registry.add_metrics(run_id, metrics | result.best_metrics)
    registry.finish_run(
        run_id,
        status="succeeded",
        exit_code=0,
        result_path=key,
        params=result.best_params,
        finished_utc=when,
    )
    report.imported.append(run_id)


def import_results(registry: Registry, folder: Path) -> ImportReport:
    """Import every result file under ``folder``; unreadable files are reported, not fatal."""
    if not folder.is_dir():
        raise DataError(
            f"{folder} is not a folder; pass the folder holding the result files "
            "(e.g. user_data/backtest_results)"
        )
    report = ImportReport()
    correlation = f"import_{uuid.uuid4().hex[:8]}"
    for path in _candidates(folder):
        try:
            if path.suffix == ".fthypt":
                _import_hyperopt(registry, path, correlation, report)
            else:
                _import_backtest(registry, path, correlation, report)
        except DataError as exc:
            report.unreadable.append(f"{path}: {exc}")
    return report
