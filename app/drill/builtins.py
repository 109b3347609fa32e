"""The built-in scenarios: JSON files shipped in ``app/drill/scenarios/``.

They are read with the same parser as an operator's ``--scenario FILE``, so a built-in is
exactly a scenario file anyone can copy and change.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from app.drill.scenario import Scenario, load_scenario
from app.errors import ConfigError

_PACKAGE = "app.drill.scenarios"


def scenario_dir() -> Path:
    """The folder of the built-in scenario files."""
    return Path(str(resources.files(_PACKAGE)))


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in scenario_dir().glob("*.json"))


def load_builtin(name: str) -> Scenario:
    """The built-in scenario ``name``; :class:`ConfigError` lists the names when unknown."""
    if name not in builtin_names():
        raise ConfigError(
            f"unknown drill {name!r}; built-in drills: {', '.join(builtin_names())} "
            "(tradingbot drill --list), or run a file with --scenario FILE"
        )
    return load_scenario(scenario_dir() / f"{name}.json")
