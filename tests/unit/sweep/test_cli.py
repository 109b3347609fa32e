"""``tradingbot sweep`` and ``tradingbot report strategies`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sweep.report import BEGIN, END
from tests.helpers import run_cli

SWEEP = ["sweep", "--folds", "2", "--epochs", "3"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategies", "NoSuch", "--timerange", "20180110-20180130"], "'NoSuch' is not defined"),
        (["--strategies", "MaCrossoverStrategy", "--timerange", "20180130-20180110"], "ends"),
        (["--strategies", "MaCrossoverStrategy", "--timerange", "20180110-"], "both dates"),
    ],
)  # fmt: skip
def test_sweep_when_bad_input_then_exit_2_and_nothing_written(
    project: Path, args: list[str], message: str
) -> None:
    """Bad input exits 2 with ``Error: ...``; no registry, results or logs appear."""
    candles = project / "candles"
    candles.mkdir()
    (candles / "ETH_BTC-5m.feather").write_bytes(b"")

    result = run_cli([*SWEEP, *args, "--datadir", str(candles)], project)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    for folder in ("registry", "hyperopt_results", "backtest_results", "logs"):
        assert not (project / "user_data" / folder).exists(), folder


def test_sweep_when_required_flag_missing_then_usage_error(project: Path) -> None:
    """--folds, --strategies and --timerange are required."""
    result = run_cli(["sweep", "--strategies", "A", "--timerange", "20180110-20180130"], project)

    assert result.returncode == 2
    assert "--folds" in result.stderr


def test_report_when_document_lacks_markers_then_exit_2_and_unchanged(project: Path) -> None:
    """The report refuses a document without its markers and leaves it as it was."""
    doc = project / "STRATEGIES.md"
    doc.write_text("# Strategies\n")

    result = run_cli(["report", "strategies", "--doc", str(doc)], project)

    assert result.returncode == 2
    assert "has no generated section" in result.stderr
    assert doc.read_text() == "# Strategies\n"


def test_report_when_registry_empty_then_section_says_nothing_recorded(project: Path) -> None:
    """With no runs the generated section says so for every project strategy."""
    doc = project / "STRATEGIES.md"
    doc.write_text(f"intro\n{BEGIN}\n{END}\n")

    result = run_cli(["report", "strategies", "--doc", str(doc)], project)

    assert result.returncode == 0, result.stderr
    assert "Updated" in result.stdout
    text = doc.read_text()
    assert text.startswith(f"intro\n{BEGIN}\n_Generated ")
    for name in ("BreakoutStrategy", "MaCrossoverStrategy", "MeanReversionStrategy"):
        assert f"| {name} | no backtest recorded |" in text
        assert f"| {name} | no sweep recorded |" in text
