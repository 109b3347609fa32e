"""Planning a sweep: validation before anything is written, and the Freqtrade arguments.

The runs themselves are exercised for real in tests/integration/test_sweep.py.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.errors import ConfigError, DataError
from app.registry import Registry
from app.settings import load_settings
from app.sweep.engine import Sweep, SweepRequest
from app.sweep.model import FoldResult
from tests.helpers import make_project


@contextlib.contextmanager
def working_dir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project with the repo's configs and strategies and a (fake) candle folder."""
    root = make_project(tmp_path / "project")
    data = root / "candles"
    data.mkdir()
    (data / "ETH_BTC-5m.feather").write_bytes(b"")  # presence is all planning checks
    with working_dir(root):
        yield root


def request(**changes: object) -> SweepRequest:
    base = SweepRequest(
        strategies=["MaCrossoverStrategy", "MeanReversionStrategy"],
        timerange="20180110-20180130",
        folds=2,
        epochs=7,
        datadir=Path("candles"),
        pairs=["ETH/BTC"],
        jobs=2,
        work_dir=Path("sweeps"),
    )
    return replace(base, **changes)


def sweep(req: SweepRequest, root: Path) -> Sweep:
    settings = load_settings({}, dotenv_path=None)
    return Sweep(req, settings, Registry(f"sqlite:///{root / 'registry.sqlite'}"), environ={})


def test_sweep_when_planned_then_hyperopt_trains_on_the_snapshot_window(project: Path) -> None:
    """Hyperopt runs the training window from the sweep's snapshot, with the sweep's knobs."""
    planned = sweep(request(), project)
    fold = planned.folds[0]
    item = FoldResult(fold, fold.train.timerange(planned.candle), "unused")

    argv = planned.hyperopt_args(planned.sources[0], Path("snap"), item)

    assert argv[0] == "hyperopt"
    assert argv[argv.index("--strategy") + 1] == "MaCrossoverStrategy"
    assert argv[argv.index("--strategy-path") + 1] == "snap"
    assert argv[argv.index("--timerange") + 1] == fold.train.timerange(planned.candle)
    assert argv[argv.index("--epochs") + 1] == "7"
    assert argv[argv.index("--hyperopt-loss") + 1] == "RiskAwareHyperOptLoss"
    assert argv[argv.index("--random-state") + 1] == "42"
    assert argv[argv.index("-j") + 1] == "2"
    assert argv[argv.index("--datadir") + 1] == "candles"
    assert "--enable-protections" in argv
    spaces = argv.index("--spaces")
    assert argv[spaces + 1 : spaces + 3] == ["buy", "sell"]


def test_sweep_when_planned_then_backtest_tests_the_fold_copy_on_the_next_window(
    project: Path,
) -> None:
    """The out-of-sample backtest runs the fold's copy on the window after training."""
    planned = sweep(request(protections=False), project)
    fold = planned.folds[1]
    item = FoldResult(fold, "unused", fold.test.timerange(planned.candle))

    argv = planned.backtest_args(planned.sources[1], Path("fold_2"), item)

    assert argv[0] == "backtesting"
    assert argv[argv.index("--strategy") + 1] == "MeanReversionStrategy"
    assert argv[argv.index("--strategy-path") + 1] == "fold_2"
    assert argv[argv.index("--timerange") + 1] == fold.test.timerange(planned.candle)
    assert "--epochs" not in argv
    assert "--enable-protections" not in argv
    assert fold.test.start == fold.train.end


def test_sweep_when_planned_then_correlation_id_is_the_sweep_id(project: Path) -> None:
    """Every run inherits the sweep id as TRADINGBOT_CORRELATION_ID."""
    planned = sweep(request(), project)

    assert planned.environ["TRADINGBOT_CORRELATION_ID"] == planned.sweep_id
    assert planned.sweep_id.startswith("sweep_")
    assert planned.workspace.root == Path("sweeps") / planned.sweep_id


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"strategies": []}, ConfigError, "--strategies is empty"),
        ({"strategies": ["A", "A"]}, ConfigError, "names one twice"),
        ({"strategies": ["NoSuchStrategy"]}, ConfigError, "'NoSuchStrategy' is not defined"),
        ({"epochs": 0}, ConfigError, "--epochs 0"),
        ({"spaces": []}, ConfigError, "--spaces is empty"),
        ({"min_oos_trades": -1}, ConfigError, "--min-oos-trades -1"),
        ({"timerange": "20180130-20180110"}, ConfigError, "ends before it starts"),
        ({"folds": 1000}, ConfigError, "use fewer folds"),
        ({"configs": [Path("nope.json")]}, ConfigError, "nope.json not found"),
        ({"datadir": Path("empty")}, DataError, "no candle files in empty"),
        ({"strategy_path": Path("nowhere")}, ConfigError, "--strategy-path 'nowhere'"),
    ],
)
def test_sweep_when_bad_input_then_refused_before_anything_is_written(
    project: Path, changes: dict[str, object], error: type[Exception], message: str
) -> None:
    """Bad input is refused with the fix, and leaves no sweep folder and no registry."""
    (project / "empty").mkdir()

    with pytest.raises(error, match=message):
        sweep(request(**changes), project)

    assert not (project / "sweeps").exists()
    assert not (project / "registry.sqlite").exists()
