"""RiskAwareHyperOptLoss on synthetic trade frames (user_data/hyperopts/)."""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from app.settings import get_settings

REPO = Path(__file__).resolve().parents[3]
LOSS_FILE = REPO / "user_data" / "hyperopts" / "RiskAwareHyperOptLoss.py"
T0 = datetime(2018, 1, 10, tzinfo=UTC)


def _load() -> ModuleType:
    # Loaded by path, as Freqtrade's resolver does (the folder is not a package).
    spec = importlib.util.spec_from_file_location("risk_aware_loss_under_test", LOSS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


loss_module = _load()
RiskLimits = loss_module.RiskLimits
LIMITS = RiskLimits(max_drawdown=0.20, min_trades=20)


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No RISK_* from the shell or a .env; settings re-read for every test."""
    for name in [n for n in os.environ if n.startswith("RISK_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def trades(profits: Sequence[float]) -> pd.DataFrame:
    """Closed trades, one an hour, with these absolute profits (starting balance 1)."""
    return pd.DataFrame(
        {
            "close_date": [T0 + timedelta(hours=i) for i in range(len(profits))],
            "profit_abs": list(profits),
        }
    )


def loss_of(results: pd.DataFrame, config: dict[str, object] | None = None) -> float:
    return float(
        loss_module.RiskAwareHyperOptLoss.hyperopt_loss_function(
            results=results,
            trade_count=len(results),
            min_date=T0,
            max_date=T0 + timedelta(days=5),
            config=config or {},
            processed={},
            backtest_stats={},
            starting_balance=1.0,
        )
    )


def test_loss_when_profitable_then_minus_profit_per_unit_of_drawdown() -> None:
    """20 % profit with a 5 % account drawdown scores -(0.20 / dd)."""
    profits = [0.05] * 2 + [-0.0525] + [0.0095] * 20  # peak 1.10, trough 1.0475: dd 4.77 %

    result = loss_of(trades(profits))

    drawdown = 0.0525 / 1.10
    assert result == pytest.approx(-sum(profits) / drawdown)


def test_loss_when_same_profit_then_deeper_drawdown_is_worse() -> None:
    """For equal profit, a larger drawdown gives a larger (worse) loss."""
    shallow = [0.01] * 10 + [-0.02] + [0.01] * 12
    deep = [0.01] * 10 + [-0.06] + [0.01] * 11 + [0.05]

    assert sum(shallow) == pytest.approx(sum(deep))
    assert loss_of(trades(shallow)) < loss_of(trades(deep)) < 0


def test_loss_when_losing_then_deeper_drawdown_is_worse_not_better() -> None:
    """Losing runs: dividing a loss by the drawdown would reward drawdown; this does not."""
    shallow = [-0.001] * 25  # -2.5 %, drawdown 2.5 %
    deep = [0.05] + [-0.003] * 25  # -2.5 % too, from a higher peak: deeper drawdown

    assert sum(shallow) == pytest.approx(sum(deep))
    assert 0 < loss_of(trades(shallow)) < loss_of(trades(deep))


def test_loss_when_tiny_drawdown_then_floor_bounds_the_score() -> None:
    """A run that never drew down is scored against the 1 % floor, not divided by zero."""
    result = loss_of(trades([0.001] * 25))

    assert result == pytest.approx(-0.025 / 0.01)


def test_loss_when_drawdown_reaches_guard_limit_then_penalised_and_graded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At or above RISK_MAX_BACKTEST_DRAWDOWN_PCT a run scores worse than any allowed one."""
    monkeypatch.setenv("RISK_MAX_BACKTEST_DRAWDOWN_PCT", "0.05")
    under = trades([0.1] + [-0.0045] * 12 + [0.01] * 10)  # dd 4.9 %
    at_limit = trades([0.1] + [-0.0055] * 10 + [0.01] * 12)  # dd 5.0 %
    over = trades([0.1] + [-0.01] * 10 + [0.01] * 12)  # dd 9.1 %

    allowed = loss_of(under)

    assert allowed < loss_module.DRAWDOWN_PENALTY
    assert loss_module.DRAWDOWN_PENALTY <= loss_of(at_limit) < loss_of(over)
    assert loss_of(over) < loss_module.TRADES_PENALTY


def test_loss_when_guard_limit_unset_then_documented_default_applies() -> None:
    """Without RISK_MAX_BACKTEST_DRAWDOWN_PCT the limit is DEFAULT_MAX_DRAWDOWN (20 %)."""
    limits = loss_module.risk_limits({})

    assert limits.max_drawdown == loss_module.DEFAULT_MAX_DRAWDOWN == 0.20
    allowed = trades([0.3] + [-0.018] * 14 + [0.001] * 10)  # dd 0.252 / 1.3 = 19.4 %
    blocked = trades([0.3] + [-0.0195] * 14 + [0.001] * 10)  # dd 0.273 / 1.3 = 21 %

    assert loss_of(allowed) < 0
    assert loss_of(blocked) >= loss_module.DRAWDOWN_PENALTY


def test_loss_when_too_few_trades_then_penalised_and_more_trades_score_better() -> None:
    """Fewer than 20 trades mean nothing: penalised, and graded by how many are missing."""
    five = loss_of(trades([0.02] * 5))
    nineteen = loss_of(trades([0.02] * 19))
    twenty = loss_of(trades([0.02] * 20))

    assert five > nineteen >= loss_module.TRADES_PENALTY
    assert twenty < 0


def test_loss_when_freqtrade_min_trades_is_higher_then_it_is_the_minimum() -> None:
    """--min-trades above 20 raises the minimum; below 20 it does not lower it."""
    assert loss_module.risk_limits({"hyperopt_min_trades": 50}).min_trades == 50
    assert loss_module.risk_limits({"hyperopt_min_trades": 3}).min_trades == 20
    assert loss_of(trades([0.02] * 30), {"hyperopt_min_trades": 50}) >= (loss_module.TRADES_PENALTY)


def test_loss_when_no_trades_then_worst_penalty() -> None:
    """An empty trade list gets the full too-few-trades penalty."""
    empty = pd.DataFrame({"close_date": [], "profit_abs": []})

    assert loss_of(empty) == loss_module.TRADES_PENALTY + loss_module.PENALTY_SPAN


def test_risk_aware_loss_when_any_allowed_run_then_better_than_any_penalised() -> None:
    """Over a grid, every run within both limits beats every run outside them."""
    grid = itertools.product([-1.0, -0.2, -0.01, 0.0, 0.01, 0.5, 3.0], [0.0, 0.01, 0.19, 0.3, 1.0])
    allowed, penalised = [], []
    for (profit, drawdown), trades_ in itertools.product(grid, [0, 19, 20, 500]):
        value = loss_module.risk_aware_loss(profit, drawdown, trades_, LIMITS)
        ok = trades_ >= LIMITS.min_trades and drawdown < LIMITS.max_drawdown
        (allowed if ok else penalised).append(value)

    assert max(allowed) < min(penalised)
    assert max(penalised) < 100_000  # Freqtrade's MAX_LOSS stays the worst of all
