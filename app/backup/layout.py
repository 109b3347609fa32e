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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.registry.engine import parse_url, safe_url, sqlite_file

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
# Concurrency slots are per running process; restoring them would block runs until their TTL.
STATE_EXCLUDED = ("running",)
REGISTRY_FILE = Path("registry") / "strategies_registry.sqlite"


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
            url = f"sqlite:///{settings.db_path}"
        else:
            url = f"sqlite:///{user_data / REGISTRY_FILE}"
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

    def trade_databases(self) -> list[Path]:
        """Every trade database under user_data, except inside backups."""
        if not self.user_data.is_dir():
            return []
        skip = self.backups_dir.resolve()
        found = []
        for path in sorted(self.user_data.rglob(TRADES_PATTERN)):
            if path.is_symlink() or not path.is_file() or path.name.startswith("."):
                continue
            if path.resolve().is_relative_to(skip):
                continue
            found.append(path)
        return found

    def param_files(self) -> list[Path]:
        """The strategies' parameter files (``<strategy file>.json``)."""
        folder = self.component_root("params")
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.is_symlink())
