"""A sweep's folder: strategy snapshots and per-fold parameter files.

Freqtrade finds a strategy in ``--strategy-path`` before ``user_data/strategies`` and
loads its parameters from the ``.json`` beside the *file it loaded*
(``HyperStrategyMixin.load_params_from_file``: ``Path(strategy.__file__).with_suffix
(".json")``). So a sweep never touches the strategy's real parameter file:

``<sweep>/<Strategy>/train/``
    a copy of the strategy file and of its current parameter file (if any), taken once
    at the start: every fold's hyperopt starts from the same code and parameters even if
    someone edits the originals meanwhile;
``<sweep>/<Strategy>/fold_<i>/``
    the same code with fold ``i``'s best parameters in its ``.json``: the out-of-sample
    backtest runs exactly those.

``<sweep>/sweep.log`` collects Freqtrade's output; ``<sweep>/sweep.json`` the summary.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.errors import ConfigError
from app.registry.paramfile import render_param_file, validate_params, write_atomically
from app.runner.fingerprints import find_strategy_file


@dataclass(frozen=True)
class StrategySource:
    """Where a strategy's code and parameter file are."""

    name: str
    file: Path

    @property
    def param_file(self) -> Path:
        return self.file.with_suffix(".json")


def locate(name: str, strategy_path: Path) -> StrategySource:
    """The file defining class ``name`` in ``strategy_path`` (searched as Freqtrade does)."""
    if not strategy_path.is_dir():
        raise ConfigError(
            f"--strategy-path {str(strategy_path)!r} is not a folder; pass the folder holding "
            "the strategy files (default user_data/strategies)"
        )
    path = find_strategy_file(name, [strategy_path])
    if path is None:
        raise ConfigError(
            f"strategy {name!r} is not defined in any .py file of {str(strategy_path)!r}; check "
            "--strategies or --strategy-path"
        )
    return StrategySource(name, path)


class Workspace:
    """The files of one sweep under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def log_file(self) -> Path:
        return self.root / "sweep.log"

    @property
    def summary_file(self) -> Path:
        return self.root / "sweep.json"

    def create(self) -> None:
        """Make the sweep folder; a sweep id is never reused."""
        try:
            self.root.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise ConfigError(
                f"sweep folder {self.root} already exists; start a new sweep"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot create the sweep folder {self.root} ({exc}); check --work-dir"
            ) from None

    def train_dir(self, source: StrategySource) -> Path:
        """Snapshot the strategy (code and current parameters) for the training runs."""
        folder = self.root / source.name / "train"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.file, folder / source.file.name)
        if source.param_file.is_file():
            shutil.copy2(source.param_file, folder / source.param_file.name)
        return folder

    def fold_dir(
        self, source: StrategySource, fold: int, run_id: str, params: Any, now: datetime
    ) -> Path:
        """A folder whose strategy copy loads ``params`` (run ``run_id``'s best set)."""
        train = self.root / source.name / "train" / source.file.name
        folder = self.root / source.name / f"fold_{fold}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(train, folder / source.file.name)
        checked = validate_params(run_id, params)
        write_atomically(
            (folder / source.file.name).with_suffix(".json"),
            render_param_file(source.name, checked, now),
        )
        return folder
