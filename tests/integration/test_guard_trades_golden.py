"""The guard's decisions pinned: guarded backtests make exactly the recorded trades.

Two offline backtests of ``GuardedMaCrossoverStrategy`` on the 7 shared pairs with every
``RISK_*`` rule on: limits that never bite (the guard must change nothing: the same trades
as the unguarded twin) and limits that bite (position trimming, exposure, the daily loss
cap and drawdown, the losing streak). The equity hashes were recorded before the guard's
hot path was last optimised; any change in a decision changes a hash.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.results import read_backtest
from tests.helpers import REPO_ROOT, SHARED_PAIRS, make_project, run_cli

pytestmark = pytest.mark.freqtrade

GENEROUS = {
    "RISK_LIVE_MAX_CONCURRENT_TRADES": "10",
    "RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT": "0.5",
    "RISK_MAX_EXPOSURE_PCT": "0.9",
    "RISK_MAX_POSITION_PCT": "0.2",
    "RISK_DAILY_LOSS_CAP_PCT": "0.9",
    "RISK_MAX_DAILY_DRAWDOWN_PCT": "0.9",
    "RISK_LOSS_STREAK_MAX": "500",
    "RISK_DATA_STALE_TIMEOUT_SEC": "3600",
    "RISK_MAX_ENTRY_DEVIATION_PCT": "0.5",
    "RISK_NEAR_LIQ_BUFFER_MULTIPLIER": "1",
    "RISK_MAX_LEVERAGE": "5",
}
TIGHT = {
    **GENEROUS,
    "RISK_LIVE_MAX_CONCURRENT_TRADES": "3",
    "RISK_MAX_EXPOSURE_PCT": "0.12",
    "RISK_MAX_POSITION_PCT": "0.04",
    "RISK_DAILY_LOSS_CAP_PCT": "0.002",
    "RISK_MAX_DAILY_DRAWDOWN_PCT": "0.004",
    "RISK_LOSS_STREAK_MAX": "2",
    "RISK_SESSION_COOLDOWN_MINUTES": "120",
}


def _hash(project: Path, data: Path, strategy: str, env: dict[str, str]) -> str:
    args = ["freqtrade", "--offline", "backtesting", "-c", "user_data/configs/config.backtest.json"]
    args += ["--strategy-path", str(REPO_ROOT / "tests" / "strategies"), "--strategy", strategy]
    args += ["--datadir", str(data), "--pairs", *SHARED_PAIRS, "--export", "trades"]
    result: subprocess.CompletedProcess[str] = run_cli(args, project, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = sorted((project / "user_data" / "backtest_results").glob("*.zip"))
    (outcome,) = read_backtest(path)
    path.unlink()
    return outcome.equity_hash


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize(
    ("limits", "expected"),
    [  # 85 trades (as unguarded) and 61 trades
        (GENEROUS, "db3830a61f51bce50039373e21ac881aa78f07b6202f9a509eec041779919fc3"),
        (TIGHT, "7e155bd7f13ec0df3d499ff630949dcbae8b8fbd4aa1c2f38dd6e2c484a7f887"),
    ],
    ids=["generous", "tight"],
)
def test_guarded_backtest_when_every_rule_on_then_trades_are_the_recorded_ones(
    project: Path, shared_data: Path, limits: dict[str, str], expected: str
) -> None:
    """Same inputs, same trades: the guard's decisions did not change."""
    digest = _hash(project, shared_data, "GuardedMaCrossoverStrategy", limits)

    assert digest == expected
