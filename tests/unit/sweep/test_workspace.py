"""A sweep's folder: strategy snapshots and per-fold parameter files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.errors import ConfigError, RegistryError
from app.sweep.workspace import Workspace, locate

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SOURCE = "from freqtrade.strategy import IStrategy\n\n\nclass Demo(IStrategy):\n    pass\n"
BEST = {"buy": {"buy_fast": 7}, "stoploss": {"stoploss": -0.04}}


@pytest.fixture
def strategies(tmp_path: Path) -> Path:
    """A strategies folder with Demo (in demo_file.py) and its current parameter file."""
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "demo_file.py").write_text(SOURCE)
    (folder / "demo_file.json").write_text('{"strategy_name": "Demo", "params": {}}')
    return folder


def test_locate_when_class_defined_then_its_file_and_param_file(strategies: Path) -> None:
    """The strategy is found by class name, as Freqtrade finds it, not by file name."""
    source = locate("Demo", strategies)

    assert source.file == strategies / "demo_file.py"
    assert source.param_file == strategies / "demo_file.json"


@pytest.mark.parametrize(
    ("name", "folder", "message"),
    [("Nope", "strategies", "is not defined"), ("Demo", "x", "is not a folder")],
)
def test_locate_when_missing_then_config_error(
    strategies: Path, name: str, folder: str, message: str
) -> None:
    """An unknown strategy or folder is refused naming --strategy-path."""
    with pytest.raises(ConfigError, match=message) as caught:
        locate(name, strategies.parent / folder)
    assert "--strategy-path" in str(caught.value)


def test_train_dir_when_created_then_code_and_current_params_are_copied(
    strategies: Path, tmp_path: Path
) -> None:
    """The training snapshot holds the code and the parameters it started from."""
    space = Workspace(tmp_path / "sweep_1")
    space.create()

    folder = space.train_dir(locate("Demo", strategies))

    assert (folder / "demo_file.py").read_text() == SOURCE
    assert json.loads((folder / "demo_file.json").read_text())["strategy_name"] == "Demo"


def test_fold_dir_when_params_given_then_freqtrade_param_file_beside_the_copy(
    strategies: Path, tmp_path: Path
) -> None:
    """The fold's copy loads exactly the fold's parameters; the original is untouched."""
    space = Workspace(tmp_path / "sweep_1")
    space.create()
    source = locate("Demo", strategies)
    space.train_dir(source)
    before = source.param_file.read_text()

    folder = space.fold_dir(source, 2, "run_x", BEST, NOW)

    assert folder.name == "fold_2"
    assert (folder / "demo_file.py").read_text() == SOURCE
    document = json.loads((folder / "demo_file.json").read_text())
    assert document["strategy_name"] == "Demo"
    assert document["params"] == BEST
    assert document["ft_stratparam_v"] == 1
    assert source.param_file.read_text() == before


@pytest.mark.parametrize("params", [None, {}, {"buy": 3}, {"stoploss": {"stoploss": 0.5}}])
def test_fold_dir_when_params_invalid_then_refused(
    strategies: Path, tmp_path: Path, params: object
) -> None:
    """Parameters Freqtrade could not load are refused, naming the run."""
    space = Workspace(tmp_path / "sweep_1")
    space.create()
    source = locate("Demo", strategies)
    space.train_dir(source)

    with pytest.raises(RegistryError, match="run_bad"):
        space.fold_dir(source, 1, "run_bad", params, NOW)


def test_create_when_folder_exists_then_refused(tmp_path: Path) -> None:
    """A sweep never writes into another sweep's folder."""
    (tmp_path / "sweep_1").mkdir()

    with pytest.raises(ConfigError, match="already exists"):
        Workspace(tmp_path / "sweep_1").create()
