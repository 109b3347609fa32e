"""The sweep's results table and verdict lines."""

from __future__ import annotations

from rich.console import Console

from app.sweep.model import RunOutcome, StrategyResult, SweepResult, Verdict
from app.sweep.render import results_table, verdict_line
from tests.unit.sweep.builders import fold_result


def _text(result: SweepResult) -> str:
    console = Console(record=True, width=250)
    console.print(results_table(result))
    return console.export_text()


def test_results_table_when_folds_ran_then_in_and_out_of_sample_side_by_side() -> None:
    """Each fold row shows windows, IS figures (hyperopt) and OOS figures (backtest)."""
    result = SweepResult("sweep_x", "20180110-20180130", {})
    result.strategies.append(
        StrategyResult("DemoStrategy", [fold_result(1, profit=0.0123, trades=41, drawdown=0.034)])
    )

    lines = [line for line in _text(result).splitlines() if "DemoStrategy" in line]

    assert len(lines) == 1
    cells = [cell.strip() for cell in lines[0].split("│") if cell.strip()]
    assert cells == ["DemoStrategy", "1", "train1", "test1", "80", "5.00%", "3.00%", "41",
                     "1.23%", "3.40%"]  # fmt: skip


def test_results_table_when_run_failed_then_exit_code_shown() -> None:
    """A failed run shows its exit code instead of figures."""
    fold = fold_result(1, backtest_code=None)
    fold.hyperopt = RunOutcome("run_h1", 10)
    result = SweepResult("sweep_x", "r", {}, [StrategyResult("DemoStrategy", [fold])])

    assert "failed (10)" in _text(result)


def test_verdict_line_when_promoted_passed_or_refused_then_says_which() -> None:
    """The line names the promoted run and file, the promotable run, or every reason."""
    promoted = StrategyResult("A", verdict=Verdict(True, ("ok",), "run_1", True, "a.json"))
    passed = StrategyResult("B", verdict=Verdict(True, ("ok",), "run_2"))
    refused = StrategyResult("C", verdict=Verdict(False, ("too few", "too deep"), "run_3"))

    assert verdict_line(promoted) == "A: PROMOTED run run_1 -> a.json"
    assert "tradingbot params promote run_2" in verdict_line(passed)
    assert verdict_line(refused) == "C: not promoted: too few; too deep"
