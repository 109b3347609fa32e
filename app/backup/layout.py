"""What a backup holds and where each part lives on disk.

Components (the names ``restore --only`` takes):

=========  ==========================================  ==============================
component  source                                      in the backup
=========  ==========================================  ==============================
registry   the registry SQLite file                    ``registry/<file name>``
trades     every ``tradesv3*.sqlite`` under user_data  ``trades/<path in user_data>``
backtests  ``<user_data>/backtest_results/``           ``backtest_results.zip``
hyperopts  ``<user_data>/hyperopt_results/``           ``hyperopt_results.zip``
logs       ``<user_data>/logs/`` (``--logs`` only)     ``logs.zip``
state      the state folder, without ``running/``      ``state.zip``
params     ``<user_data>/strategies/*.json``           ``params/<file name>``
=========  ==========================================  ==============================

The registry is ``RISK_DB_URL`` / ``RISK_DB_PATH`` when set, else
``<user_data>/registry/strategies_registry.sqlite``; the state folder is
``RISK_STATE_DIR`` when set, else ``<user_data>/state``. So ``--user-data DIR``
moves everything that was not configured explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.backup.names import refusal
from app.registry.engine import parse_url, safe_url, sqlite_file
from app.settings import sqlite_url

if TYPE_CHECKING:
    from app.settings import RiskSettings

COMPONENTS: tuple[str, ...] = (
    "registry",
    "trades",
    "backtests",
    "hyperopts",
    "logs",
    "state",
    "params",
)
ARCHIVES = {
    "backtests": "backtest_results.zip",
    "hyperopts": "hyperopt_results.zip",
    "logs": "logs.zip",
    "state": "state.zip",
}
TRADES_PATTERN = "tradesv3*.sqlite"
REGISTRY_FILE = Path("registry") / "strategies_registry.sqlite"
# Top folders of user_data that are no place for a trade database: other parts' folders,
# code Freqtrade loads (strategies, hyperopts, freqaimodels), notebooks, configs and data.
NOT_FOR_TRADES = frozenset(
    {
        "backups", "backtest_results", "hyperopt_results", "logs", "state", "registry",
        "strategies", "hyperopts", "freqaimodels", "notebooks", "configs", "data", "plot",
    }
)  # fmt: skip


def absolute(path: Path) -> Path:
    """``path`` made absolute and normalised, *without* resolving links (``resolve()`` would
    hide a symbolic link that the restore has to see and refuse)."""
    return Path(os.path.normpath(Path(path).absolute()))


@dataclass(frozen=True, slots=True)
class Place:
    """A folder as a trusted ``anchor`` (taken as given) plus ``parts`` below it.

    A restore opens the anchor as the operator named it and walks ``parts`` without
    following symbolic links: for everything under user_data the anchor is user_data's
    parent, so user_data itself and every folder below it must be real folders.
    """

    anchor: Path
    parts: tuple[str, ...]

    @property
    def path(self) -> Path:
        """The folder's path."""
        return self.anchor.joinpath(*self.parts)

    def below(self, *more: str) -> Place:
        """A folder further down."""
        return Place(self.anchor, (*self.parts, *more))


@dataclass(frozen=True, slots=True)
class BackupPaths:
    """The live locations a backup reads from and a restore writes to."""

    user_data: Path
    registry_url: str
    state_dir: Path

    @classmethod
    def resolve(cls, user_data: Path, settings: RiskSettings) -> BackupPaths:
        """Explicit settings win; everything else lives under ``user_data``."""
        explicit = settings.model_fields_set
        if settings.db_url:
            url = settings.db_url
        elif "db_path" in explicit:
            url = sqlite_url(settings.db_path)
        else:
            url = sqlite_url(user_data / REGISTRY_FILE)
        state_dir = settings.state_dir if "state_dir" in explicit else user_data / "state"
        return cls(user_data=user_data, registry_url=url, state_dir=state_dir)

    @property
    def registry_file(self) -> Path | None:
        """The registry's SQLite file, ``None`` when the registry is another database."""
        return sqlite_file(parse_url(self.registry_url))

    @property
    def registry_display(self) -> str:
        """The registry URL with the password hidden."""
        return safe_url(parse_url(self.registry_url))

    @property
    def backups_dir(self) -> Path:
        """Default parent folder of new backups."""
        return self.user_data / "backups"

    def component_root(self, component: str) -> Path:
        """Folder that a component's relative ``target`` paths are relative to."""
        roots = {
            "trades": self.user_data,
            "backtests": self.user_data / "backtest_results",
            "hyperopts": self.user_data / "hyperopt_results",
            "logs": self.user_data / "logs",
            "state": self.state_dir,
            "params": self.user_data / "strategies",
        }
        if component == "registry":
            registry = self.registry_file
            if registry is None:
                raise ValueError("the registry is not an SQLite file")
            return registry.parent
        return roots[component]

    def place(self, component: str) -> Place:
        """Where a component's files go: the folder's :class:`Place` (registry: its folder)."""
        folder = self.component_root(component)
        user_data = absolute(self.user_data)
        target = absolute(folder)
        if target.is_relative_to(user_data) and user_data.name:
            relative = target.relative_to(user_data).parts
            return Place(user_data.parent, (user_data.name, *relative))
        if not target.name:
            return Place(target, ())
        return Place(target.parent, (target.name,))

    def reserved_for_trades(self) -> frozenset[str]:
        """Top folders of user_data where no trade database may be (see ``NOT_FOR_TRADES``)."""
        reserved = set(NOT_FOR_TRADES)
        user_data = absolute(self.user_data)
        for folder in (self.state_dir, self.registry_file and self.registry_file.parent):
            if folder:
                target = absolute(folder)
                if target != user_data and target.is_relative_to(user_data):
                    reserved.add(target.relative_to(user_data).parts[0])
        return frozenset(reserved)

    def trade_databases(self) -> tuple[list[Path], list[str]]:
        """Every trade database under user_data a restore would accept; notes on the rest."""
        if not self.user_data.is_dir():
            return [], []
        reserved = self.reserved_for_trades()
        found, notes = [], []
        for path in sorted(self.user_data.rglob(TRADES_PATTERN)):
            parts = path.relative_to(self.user_data).parts
            if parts[0] == "backups" or path.is_symlink() or not path.is_file():
                continue
            problem = refusal("trades", parts, reserved)
            if problem is None:
                found.append(path)
            else:
                notes.append(f"trades: left out {path}: it {problem}")
        return found, notes

    def param_files(self) -> tuple[list[Path], list[str]]:
        """The strategies' parameter files (``<strategy file>.json``); notes on the rest."""
        folder = self.component_root("params")
        if not folder.is_dir():
            return [], []
        found, notes = [], []
        for path in sorted(folder.glob("*.json")):
            if path.is_symlink() or not path.is_file():
                continue
            problem = refusal("params", (path.name,))
            if problem is None:
                found.append(path)
            else:
                notes.append(f"params: left out {path}: it {problem}")
        return found, notes
