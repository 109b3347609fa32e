"""Fold results for the sweep's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.sweep.folds import Fold, Window
from app.sweep.model import FoldResult, RunOutcome

T0 = datetime(2018, 1, 10, tzinfo=UTC)
DAY = timedelta(days=1)


def fold_result(
    index: int,
    *,
    profit: float = 0.01,
    trades: float = 30,
    drawdown: float = 0.02,
    hyperopt_code: int = 0,
    backtest_code: int | None = 0,
) -> FoldResult:
    """Fold ``index`` with the given out-of-sample figures (in-sample figures fixed)."""
    start = T0 + (index - 1) * 2 * DAY
    fold = Fold(index, Window(start, start + 4 * DAY), Window(start + 4 * DAY, start + 6 * DAY))
    result = FoldResult(fold, f"train{index}", f"test{index}")
    result.hyperopt = RunOutcome(
        f"run_h{index}",
        hyperopt_code,
        {"trades": 80.0, "profit_total": 0.05, "max_drawdown_account": 0.03},
    )
    if backtest_code is not None:
        metrics = {"trades": trades, "profit_total": profit, "max_drawdown_account": drawdown}
        result.backtest = RunOutcome(
            f"run_b{index}", backtest_code, metrics if backtest_code == 0 else {}
        )
    return result
