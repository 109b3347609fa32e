"""Find and read the result files that *this* run wrote.

Freqtrade names results by time, and several runs may share a results folder, so
the runner lists the folder before starting Freqtrade and, afterwards, takes the
new files that belong to its strategy and started after it did.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import DataError
from app.results import read_backtest, read_backtest_meta, read_hyperopt
from app.runner.fingerprints import pair_of_file
from app.runner.ftconfig import ResolvedConfig, expand_pairs

if TYPE_CHECKING:
    from app.runner.runner import RunPlan

# Freqtrade stamps results in whole seconds; allow for that and for clock rounding.
_START_SLACK_SEC = 2.0


@dataclass(frozen=True)
class Ingested:
    """What the registry stores for a succeeded run."""

    metrics: dict[str, float]
    result_path: Path
    equity_hash: str | None
    params: dict[str, Any] | None


def snapshot(folder: Path | None) -> frozenset[str]:
    """Names of the result files in ``folder`` now."""
    if folder is None or not folder.is_dir():
        return frozenset()
    return frozenset(p.name for p in folder.iterdir() if p.suffix in (".zip", ".fthypt"))


def param_file(strategy_file: Path) -> dict[str, Any] | None:
    """The ``params`` of the strategy's parameter file, when it has one."""
    path = strategy_file.with_suffix(".json")
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"parameter file {path} cannot be read ({exc}); fix or remove it") from exc
    params = data.get("params") if isinstance(data, dict) else None
    return params if isinstance(params, dict) else None


def pairs_in(cfg: ResolvedConfig) -> list[str]:
    """The whitelist expanded against the pairs that have candle files."""
    folder = cfg.candle_dir
    available = sorted(
        {p for f in folder.iterdir() if (p := pair_of_file(f))} if folder.is_dir() else set()
    )
    matched, _ = expand_pairs(cfg.whitelist, available)
    return matched


def _new_files(plan: RunPlan, suffix: str) -> list[Path]:
    folder = plan.result_dir
    if folder is None or not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix == suffix
        and p.name not in plan.existing_results
        and p.stat().st_mtime >= plan.started - _START_SLACK_SEC
    )


def _backtest(plan: RunPlan) -> Ingested | None:
    wanted = plan.strategies
    for path in reversed(_new_files(plan, ".zip")):
        meta = read_backtest_meta(path)
        if meta and not set(wanted) <= set(meta):
            continue  # another strategy's run finished in the same folder meanwhile
        results = {r.strategy: r for r in read_backtest(path)}
        if len(wanted) == 1 and wanted[0] in results:
            r = results[wanted[0]]
            return Ingested(r.metrics, path, r.equity_hash, None)
        if wanted and all(w in results for w in wanted):
            metrics = {
                f"{name}.{k}": v for name in wanted for k, v in results[name].metrics.items()
            }
            return Ingested(metrics, path, None, None)
    return None


def _hyperopt(plan: RunPlan) -> Ingested | None:
    wanted = plan.strategies
    for path in reversed(_new_files(plan, ".fthypt")):
        result = read_hyperopt(path)
        if wanted and result.strategy != wanted[0]:
            continue
        metrics = {"epochs": float(result.epochs), "best_epoch": float(result.best_epoch)}
        if math.isfinite(result.best_loss):  # the registry refuses NaN; leave it out
            metrics["best_loss"] = result.best_loss
        metrics |= result.best_metrics
        return Ingested(metrics, path, None, result.best_params)
    return None


def collect(plan: RunPlan) -> Ingested | None:
    """This run's results, or None when the command writes none (or export was disabled)."""
    if plan.inv.command == "backtesting":
        return _backtest(plan)
    if plan.inv.command == "hyperopt":
        return _hyperopt(plan)
    return None
