"""A pytest plugin for mutation runs: fail when the tests did not test the mutant cheaply.

Loaded by every test command of ``make mutation`` (``-p mutation.pytest_plugin``). At the
end of the session it fails the run (so the baseline fails, naming the fix) when:

* ``app`` was imported from anywhere but the scratch tree Cosmic Ray mutates (an
  installed copy would make every mutant survive), or
* Freqtrade was imported although the target is not marked ``imports-freqtrade`` in
  mutation/targets.toml (about 2 s more per mutant).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ALLOW_FREQTRADE = "--mutation-allows-freqtrade"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--mutation-allows-freqtrade``: the target's tests must import Freqtrade."""
    parser.addoption(ALLOW_FREQTRADE, action="store_true", help="Freqtrade imports are expected")


def import_problems(cwd: Path, freqtrade_allowed: bool) -> list[str]:
    """What is wrong with the modules this process imported (empty when nothing)."""
    found = []
    app = sys.modules.get("app")
    app_file = getattr(app, "__file__", None)
    if app_file and not Path(app_file).resolve().is_relative_to(cwd.resolve()):
        found.append(f"the tests imported app from {app_file}, not from the mutated tree {cwd}")
    if "freqtrade" in sys.modules and not freqtrade_allowed:
        found.append(
            "the tests imported Freqtrade (~2 s per mutant): map lighter tests in "
            "mutation/targets.toml, or mark the target imports-freqtrade = true"
        )
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Turn a passing session into a failure when :func:`import_problems` finds any."""
    found = import_problems(Path.cwd(), bool(session.config.getoption(ALLOW_FREQTRADE)))
    if found:
        for problem in found:
            sys.stderr.write(f"mutation: {problem}\n")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
