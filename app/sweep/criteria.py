"""The promotion threshold: when out-of-sample results justify new parameters.

A strategy passes when, over its folds' out-of-sample backtests:

1. every fold ran (hyperopt and backtest succeeded);
2. every fold had at least ``min_trades`` trades (fewer say nothing);
3. profit was positive in a strict majority of folds, *and* the folds' profits sum to
   more than zero (one large loss is not outvoted by small gains);
4. every fold's ``max_drawdown_account`` stayed below ``max_drawdown``, the guard's
   ``RISK_MAX_BACKTEST_DRAWDOWN_PCT`` (20 % when unset, as in RiskAwareHyperOptLoss):
   the runner's ``max_dd_block`` gate would otherwise refuse the strategy's next
   backtest.

What is promoted is the *last* fold's hyperopt run: its parameters were fitted on the
most recent training window and then passed their own out-of-sample test; the earlier
folds show that the fitting procedure holds up out of sample.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import RiskSettings
from app.sweep.model import FoldResult, Verdict

DEFAULT_MAX_DRAWDOWN = 0.20  # same default as user_data/hyperopts/RiskAwareHyperOptLoss.py
DEFAULT_MIN_TRADES = 10


@dataclass(frozen=True)
class PromotionPolicy:
    """Thresholds of :func:`judge`."""

    max_drawdown: float = DEFAULT_MAX_DRAWDOWN
    min_trades: int = DEFAULT_MIN_TRADES

    @classmethod
    def from_settings(cls, settings: RiskSettings, *, min_trades: int) -> PromotionPolicy:
        """The guard's drawdown limit (or the default) and ``min_trades`` per fold."""
        limit = settings.max_backtest_drawdown_pct
        return cls(DEFAULT_MAX_DRAWDOWN if limit is None else limit, min_trades)

    def describe(self) -> str:
        return (
            f"OOS profit > 0 in a majority of folds and in total, >= {self.min_trades} trades "
            f"and max drawdown < {self.max_drawdown:.1%} in every fold"
        )


def judge(folds: list[FoldResult], policy: PromotionPolicy) -> Verdict:
    """Apply the threshold to a strategy's folds; the reasons name every failed rule."""
    reasons: list[str] = []
    incomplete = [f.fold.index for f in folds if not f.complete]
    if not folds or incomplete:
        reasons.append(f"folds {incomplete or 'none'} did not complete")
        return Verdict(False, tuple(reasons), None)
    profits = [f.oos("profit_total") or 0.0 for f in folds]
    for result in folds:
        trades = result.oos("trades") or 0.0
        if trades < policy.min_trades:
            reasons.append(
                f"fold {result.fold.index}: {trades:.0f} OOS trades < {policy.min_trades}"
            )
        drawdown = result.oos("max_drawdown_account") or 0.0
        if drawdown >= policy.max_drawdown:
            reasons.append(
                f"fold {result.fold.index}: OOS max drawdown {drawdown:.2%} >= "
                f"{policy.max_drawdown:.2%}"
            )
    winners = sum(1 for p in profits if p > 0)
    if winners * 2 <= len(folds):
        reasons.append(f"OOS profit > 0 in {winners} of {len(folds)} folds (need a majority)")
    if sum(profits) <= 0:
        reasons.append(f"total OOS profit {sum(profits):.2%} <= 0")
    last = folds[-1].hyperopt
    candidate = None if last is None else last.run_id
    if reasons:
        return Verdict(False, tuple(reasons), candidate)
    return Verdict(True, (policy.describe(),), candidate)
