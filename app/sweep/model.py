"""What a sweep produced: per fold, per strategy, and for the whole sweep (plain values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.sweep.folds import Fold

# Registry metrics shown and stored for each side of a fold (see app.results).
SHOWN_METRICS = ("trades", "profit_total", "max_drawdown_account", "winrate", "profit_factor")


@dataclass
class RunOutcome:
    """One guarded Freqtrade run of the sweep."""

    run_id: str | None
    exit_code: int
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # why the sweep could not run or use it

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.run_id is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "exit_code": self.exit_code,
            "metrics": {k: self.metrics[k] for k in SHOWN_METRICS if k in self.metrics},
            "error": self.error,
        }


@dataclass
class FoldResult:
    """In-sample (hyperopt's best epoch) and out-of-sample (backtest) of one fold."""

    fold: Fold
    train_timerange: str
    test_timerange: str
    hyperopt: RunOutcome | None = None
    backtest: RunOutcome | None = None

    @property
    def complete(self) -> bool:
        return bool(self.hyperopt and self.hyperopt.succeeded) and bool(
            self.backtest and self.backtest.succeeded
        )

    def oos(self, key: str) -> float | None:
        """An out-of-sample metric, None when the backtest did not succeed or lacks it."""
        if self.backtest is None or not self.backtest.succeeded:
            return None
        return self.backtest.metrics.get(key)

    def to_json(self) -> dict[str, Any]:
        return {
            "fold": self.fold.index,
            "train": {**self.fold.train.to_json(), "timerange": self.train_timerange},
            "test": {**self.fold.test.to_json(), "timerange": self.test_timerange},
            "hyperopt": None if self.hyperopt is None else self.hyperopt.to_json(),
            "backtest": None if self.backtest is None else self.backtest.to_json(),
        }


@dataclass(frozen=True)
class Verdict:
    """Whether a strategy's out-of-sample results pass the promotion threshold."""

    passed: bool
    reasons: tuple[str, ...]
    candidate_run_id: str | None  # the hyperopt run promoted when passed
    promoted: bool = False
    param_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "candidate_run_id": self.candidate_run_id,
            "promoted": self.promoted,
            "param_file": self.param_file,
        }


@dataclass
class StrategyResult:
    """Every fold of one strategy and its verdict."""

    strategy: str
    folds: list[FoldResult] = field(default_factory=list)
    verdict: Verdict | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "folds": [f.to_json() for f in self.folds],
            "verdict": None if self.verdict is None else self.verdict.to_json(),
        }


@dataclass
class SweepResult:
    """The whole sweep."""

    sweep_id: str
    timerange: str
    settings: dict[str, Any]
    strategies: list[StrategyResult] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        """Every run the sweep started, in order."""
        runs = [
            run
            for strategy in self.strategies
            for fold in strategy.folds
            for run in (fold.hyperopt, fold.backtest)
        ]
        return [run.run_id for run in runs if run is not None and run.run_id is not None]

    @property
    def exit_code(self) -> int:
        """0 when every run succeeded, else the first failed run's code."""
        for strategy in self.strategies:
            for fold in strategy.folds:
                for run in (fold.hyperopt, fold.backtest):
                    if run is not None and not run.succeeded:
                        return run.exit_code or 1
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "correlation_id": self.sweep_id,
            "timerange": self.timerange,
            "settings": self.settings,
            "exit_code": self.exit_code,
            "run_ids": self.run_ids,
            "strategies": [s.to_json() for s in self.strategies],
        }
