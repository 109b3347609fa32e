"""The promotion threshold over a strategy's out-of-sample folds."""

from __future__ import annotations

import pytest

from app.settings import load_settings
from app.sweep.criteria import DEFAULT_MAX_DRAWDOWN, PromotionPolicy, judge
from tests.unit.sweep.builders import fold_result

POLICY = PromotionPolicy(max_drawdown=0.10, min_trades=10)


def test_judge_when_every_rule_holds_then_passes_with_last_fold_candidate() -> None:
    """Profitable majority, positive total, enough trades, small drawdowns: pass."""
    folds = [fold_result(1, profit=0.02), fold_result(2, profit=-0.005), fold_result(3)]

    verdict = judge(folds, POLICY)

    assert verdict.passed
    assert verdict.candidate_run_id == "run_h3"
    assert not verdict.promoted


@pytest.mark.parametrize(
    ("folds", "reason"),
    [
        ([fold_result(1, profit=0.02), fold_result(2, profit=-0.01)], "in 1 of 2 folds"),
        (
            [fold_result(1, profit=0.01), fold_result(2), fold_result(3, profit=-0.05)],
            "total OOS profit -3.00% <= 0",  # 2 of 3 folds won, the third lost it all
        ),
        ([fold_result(1), fold_result(2, trades=9)], "fold 2: 9 OOS trades < 10"),
        ([fold_result(1, drawdown=0.10), fold_result(2)], "fold 1: OOS max drawdown 10.00%"),
        ([fold_result(1), fold_result(2, backtest_code=2)], "folds [2] did not complete"),
        ([fold_result(1, hyperopt_code=1, backtest_code=None)], "folds [1] did not complete"),
        ([], "folds none did not complete"),
    ],
)
def test_judge_when_a_rule_fails_then_refused_naming_it(folds: list, reason: str) -> None:
    """Each failed rule is named in the reasons; nothing passes on a partial sweep."""
    verdict = judge(folds, POLICY)

    assert not verdict.passed
    assert any(reason in text for text in verdict.reasons), verdict.reasons


def test_policy_when_guard_limit_set_then_it_is_the_drawdown_threshold() -> None:
    """RISK_MAX_BACKTEST_DRAWDOWN_PCT is the OOS drawdown limit; unset means the default."""
    limited = load_settings({"RISK_MAX_BACKTEST_DRAWDOWN_PCT": "0.07"}, dotenv_path=None)
    unset = load_settings({}, dotenv_path=None)

    assert PromotionPolicy.from_settings(limited, min_trades=5).max_drawdown == 0.07
    assert PromotionPolicy.from_settings(unset, min_trades=5).max_drawdown == DEFAULT_MAX_DRAWDOWN
