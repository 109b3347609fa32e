"""RiskAwareHyperOptLoss: return per unit of drawdown, within the guard's limits.

Use it with ``--hyperopt-loss RiskAwareHyperOptLoss``. Smaller is better. For an epoch
with total profit ``p`` (``profit_total``: a ratio of the starting balance) and maximum
drawdown ``d`` (``max_drawdown_account``, exactly the figure the runner's ``max_dd_block``
gate reads from the registry), with ``d_eff = max(d, 1 %)``:

* ``p >= 0``: loss = ``-p / d_eff``, a Calmar-like ratio: 5 % profit with a 2.5 % drawdown
  scores like 2 % with 1 %; a larger drawdown for the same profit is always worse;
* ``p < 0``: loss = ``-p * d_eff / 1 %^2``: a loss with a deep drawdown is worse than the
  same loss with a shallow one (dividing a negative profit by the drawdown would *reward*
  drawdown). Both branches meet at ``d_eff = 1 %``, and at ``p = 0``.

The 1 % floor stops a handful of lucky trades with almost no drawdown from scoring
without bound.

Penalties (finite and graded, so the optimiser still learns which way is better; all
below Freqtrade's own ``MAX_LOSS`` of 100000 for runs under ``--min-trades``):

* fewer than ``min_trades`` trades -> ``40000 + 10000 * (1 - trades / min_trades)``:
  too few trades to mean anything. ``min_trades`` is 20, or Freqtrade's
  ``hyperopt_min_trades`` (``--min-trades``) when that is larger;
* ``d >= RISK_MAX_BACKTEST_DRAWDOWN_PCT`` (read with ``app.settings.get_settings()``;
  20 % when unset) -> ``20000 + 10000 * min(d - limit, 1)``: the guard would refuse
  to backtest this strategy again, so hyperopt must not prefer it.

Every unpenalised loss is below 10000 (``|p| <= 1`` and ``d_eff <= 1``), so any run that
respects both limits beats any run that does not. Freqtrade itself only calls an epoch
"best" when its loss is below 100: penalised epochs, and losing ones whose loss times
drawdown is large (e.g. -10 % with a 10 % drawdown), never are, and when no epoch is,
Freqtrade says "No good result found". The runner still records the lowest-loss epoch
(``best_loss`` in the registry): check it (``>= 20000`` = penalised) before promoting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from freqtrade.data.metrics import calculate_max_drawdown
from freqtrade.optimize.hyperopt import IHyperOptLoss
from pandas import DataFrame

from app.settings import get_settings

DEFAULT_MAX_DRAWDOWN = 0.20  # when RISK_MAX_BACKTEST_DRAWDOWN_PCT is unset
MIN_TRADES = 20
DRAWDOWN_FLOOR = 0.01
DRAWDOWN_PENALTY = 20_000.0
TRADES_PENALTY = 40_000.0
PENALTY_SPAN = 10_000.0


class RiskLimits(NamedTuple):
    """What an epoch must respect to be scored on its merits.

    (A NamedTuple, not a dataclass: Freqtrade loads this file without registering it in
    ``sys.modules``, which dataclasses need.)
    """

    max_drawdown: float
    min_trades: int


def risk_limits(config: dict[str, Any]) -> RiskLimits:
    """The limits for this hyperopt: the guard's drawdown limit and the trade minimum."""
    limit = get_settings().max_backtest_drawdown_pct
    freqtrade_minimum = int(config.get("hyperopt_min_trades", 1) or 1)
    return RiskLimits(
        max_drawdown=DEFAULT_MAX_DRAWDOWN if limit is None else float(limit),
        min_trades=max(MIN_TRADES, freqtrade_minimum),
    )


def account_drawdown(results: DataFrame, starting_balance: float) -> float:
    """``max_drawdown_account`` as Freqtrade's backtest report computes it (0 if no trades)."""
    if results.empty:
        return 0.0
    try:
        drawdown = calculate_max_drawdown(
            results, value_col="profit_abs", starting_balance=starting_balance
        )
    except ValueError:
        return 0.0
    return float(drawdown.relative_account_drawdown)


def risk_aware_loss(profit: float, drawdown: float, trades: int, limits: RiskLimits) -> float:
    """The loss of one epoch (see the module docstring); smaller is better."""
    if trades < limits.min_trades:
        return TRADES_PENALTY + PENALTY_SPAN * (1.0 - trades / limits.min_trades)
    if drawdown >= limits.max_drawdown:
        return DRAWDOWN_PENALTY + PENALTY_SPAN * min(drawdown - limits.max_drawdown, 1.0)
    effective = max(drawdown, DRAWDOWN_FLOOR)
    if profit >= 0:
        return -profit / effective
    return -profit * effective / DRAWDOWN_FLOOR**2


class RiskAwareHyperOptLoss(IHyperOptLoss):
    """Return per unit of drawdown; penalises drawdowns the guard blocks and thin samples."""

    @staticmethod
    def hyperopt_loss_function(
        *,
        results: DataFrame,
        trade_count: int,
        min_date: datetime,
        max_date: datetime,
        config: dict[str, Any],
        starting_balance: float,
        **kwargs: Any,
    ) -> float:
        """Called once per epoch by Freqtrade with that epoch's closed trades."""
        profit = float(results["profit_abs"].sum()) / starting_balance if trade_count else 0.0
        drawdown = account_drawdown(results, starting_balance)
        return risk_aware_loss(profit, drawdown, trade_count, risk_limits(config))
