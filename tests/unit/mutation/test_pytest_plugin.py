"""The mutation runs' pytest plugin (mutation/pytest_plugin.py): wrong imports fail the run."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

import app
from mutation.pytest_plugin import import_problems
from tests.helpers import REPO_ROOT
from tests.unit.mutation.conftest import run_python


def test_problems_when_app_from_tested_tree_and_no_freqtrade_then_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests that import the tree's own app and not Freqtrade are what a mutation run wants."""
    monkeypatch.delitem(sys.modules, "freqtrade", raising=False)

    assert app.__file__ is not None
    assert import_problems(REPO_ROOT, freqtrade_allowed=False) == []


def test_problems_when_app_imported_from_elsewhere_then_named(tmp_path: Path) -> None:
    """An app imported from outside the mutated tree would let every mutant survive."""
    (problem,) = import_problems(tmp_path, freqtrade_allowed=True)

    assert f"not from the mutated tree {tmp_path}" in problem


def test_problems_when_freqtrade_imported_then_named_unless_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Freqtrade in the test process is a problem only for targets marked imports-freqtrade."""
    monkeypatch.setitem(sys.modules, "freqtrade", types.ModuleType("freqtrade"))

    (problem,) = import_problems(REPO_ROOT, freqtrade_allowed=False)
    assert "imported Freqtrade" in problem and "imports-freqtrade = true" in problem
    assert import_problems(REPO_ROOT, freqtrade_allowed=True) == []


@pytest.mark.parametrize(("allow", "code"), [([], 4), (["--mutation-allows-freqtrade"], 0)])
def test_plugin_when_passing_tests_import_freqtrade_then_session_fails_unless_allowed(
    tmp_path: Path, allow: list[str], code: int
) -> None:
    """A green run that imported Freqtrade exits 4 (so the baseline fails) and says why."""
    test = tmp_path / "test_imports.py"
    test.write_text(
        "import sys, types\n"
        "sys.modules['freqtrade'] = types.ModuleType('freqtrade')\n"
        "def test_passes():\n    assert True\n"
    )
    result = run_python(
        *("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mutation.pytest_plugin"),
        *("-p", "no:hypothesispytest", *allow, test),
    )

    assert result.returncode == code, result.stdout + result.stderr
    assert ("imported Freqtrade" in result.stderr) is (code != 0)
