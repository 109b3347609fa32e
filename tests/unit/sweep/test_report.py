"""The strategies report: registry runs -> the generated section of docs/STRATEGIES.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.registry import Registry
from app.sweep.report import (
    BEGIN,
    END,
    collect,
    project_strategies,
    render,
    replace_section,
    sweep_tag,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SWEEPS = "user_data/hyperopt_results/sweeps"


def _run(
    registry: Registry,
    minute: int,
    kind: str,
    metrics: dict[str, float],
    *,
    path: str | None = None,
    status: str = "succeeded",
    timerange: str = "20180110-20180130",
) -> str:
    command = ["tradingbot", "freqtrade", "--offline", kind, "--strategy", "Demo"]
    command += ["--datadir", "../shared/data/binance"]
    if path:
        command += ["--strategy-path", path]
    run_id = registry.start_run(
        kind=kind,
        correlation_id="c",
        strategy="Demo",
        timeframe="5m",
        timerange=timerange,
        pairs=["ETH/BTC", "LTC/BTC"],
        command=command,
        started_utc=T0 + timedelta(minutes=minute),
    )
    registry.add_metrics(run_id, metrics)
    registry.finish_run(run_id, status=status, exit_code=0 if status == "succeeded" else 1)
    return run_id


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """A registry with old and new standalone backtests and two sweeps of Demo."""
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    _run(reg, 0, "backtest", {"trades": 1, "profit_total": 0.5})  # older standalone
    _run(reg, 1, "hyperopt", {"trades": 5}, path=f"{SWEEPS}/sweep_old/Demo/train")
    _run(reg, 10, "backtest", {"trades": 120, "profit_total": -0.0175, "sharpe": -1.234})
    _run(reg, 11, "backtest", {"trades": 9}, status="failed")  # newer, but failed
    for fold, minute in ((1, 20), (2, 30)):
        _run(
            reg,
            minute,
            "hyperopt",
            {"trades": 80 + fold, "profit_total": 0.01 * fold, "max_drawdown_account": 0.02},
            path=f"{SWEEPS}/sweep_new/Demo/train",
            timerange=f"train{fold}",
        )
        _run(
            reg,
            minute + 5,
            "backtest",
            {"trades": 30 + fold, "profit_total": -0.001 * fold, "max_drawdown_account": 0.01},
            path=f"{SWEEPS}/sweep_new/Demo/fold_{fold}/",
            timerange=f"test{fold}",
        )
    return reg


def test_collect_when_runs_recorded_then_newest_standalone_backtest_and_newest_sweep(
    registry: Registry,
) -> None:
    """Sweep backtests and failed runs never count as the strategy's backtest."""
    (report,) = collect(registry, ["Demo"])

    assert report.backtest is not None
    assert report.backtest_metrics["trades"] == 120
    assert report.sweep_id == "sweep_new"
    assert [(f.index, f.hyperopt.timerange, f.backtest.timerange) for f in report.folds] == [
        (1, "train1", "test1"),
        (2, "train2", "test2"),
    ]


def test_render_when_collected_then_markdown_rows_with_figures(registry: Registry) -> None:
    """The tables show the data source and the in-sample vs out-of-sample figures."""
    text = render(collect(registry, ["Demo", "Other"]), "sqlite:///r", T0)

    rows = text.splitlines()
    backtest = next(r for r in rows if r.startswith("| Demo |") and "`run_" in r)
    assert "`../shared/data/binance`, 2 pairs, 5m" in backtest
    assert "| 120 | -1.75 % |" in backtest
    assert "| -1.23 |" in backtest
    fold2 = next(r for r in rows if "| `sweep_new` | 2 |" in r)
    assert "| train2 | test2 | 82 | 2.00 % | 2.00 % | 32 | -0.20 % | 1.00 % |" in fold2
    assert "| Other | no backtest recorded |" in text
    assert "| Other | no sweep recorded |" in text


def test_replace_section_when_markers_present_then_only_the_section_changes(
    tmp_path: Path,
) -> None:
    """Text outside the markers is kept byte for byte; a rerun replaces the old section."""
    doc = tmp_path / "STRATEGIES.md"
    doc.write_text(f"# Head\n\n{BEGIN}\nold table\n{END}\n\nTail.\n")

    replace_section(doc, "first")
    replace_section(doc, "new table")

    assert doc.read_text() == f"# Head\n\n{BEGIN}\nnew table\n{END}\n\nTail.\n"


@pytest.mark.parametrize("text", ["no markers", f"{END}\n{BEGIN}\n", f"{BEGIN} only"])
def test_replace_section_when_markers_missing_then_refused_and_file_unchanged(
    tmp_path: Path, text: str
) -> None:
    """Without both markers in order nothing is written; the error shows the markers."""
    doc = tmp_path / "STRATEGIES.md"
    doc.write_text(text)

    with pytest.raises(ConfigError, match="has no generated section"):
        replace_section(doc, "table")

    assert doc.read_text() == text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"{SWEEPS}/sweep_20260101T0000Z_ab12/Demo/train", ("sweep_20260101T0000Z_ab12", "train")),
        ("/abs/sweeps/sweep_x/Demo/fold_3/", ("sweep_x", "fold_3")),
        ("user_data/strategies", None),
        (None, None),
    ],
)  # fmt: skip
def test_sweep_tag_when_strategy_path_given_then_sweep_and_part(
    registry: Registry, path: str | None, expected: tuple[str, str] | None
) -> None:
    """Sweep runs are recognised by the strategy path the sweep gave them."""
    run_id = _run(registry, 99, "backtest", {}, path=path)
    tag = sweep_tag(registry.require_run(run_id))

    assert (None if tag is None else (tag.sweep_id, tag.part)) == expected


def test_project_strategies_when_folder_scanned_then_top_level_class_names() -> None:
    """The default strategy list is every top-level class of the strategies folder."""
    folder = Path(__file__).resolve().parents[3] / "user_data" / "strategies"

    names = project_strategies(folder)

    assert {"MaCrossoverStrategy", "BreakoutStrategy", "MeanReversionStrategy"} <= set(names)
    assert "HyperOpt" not in names
