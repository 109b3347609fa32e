"""Mutation targets (mutation/targets.py): coverage of the risk code, selection, commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mutation.targets import (
    Target,
    TargetError,
    check_files,
    context_fingerprint,
    load_config,
    load_targets,
    module_fingerprint,
    pytest_command,
    select,
)
from tests.helpers import REPO_ROOT

TARGETS = load_targets()


def test_targets_when_read_then_every_risk_module_mapped_once_to_existing_tests() -> None:
    """Each module of app/risk/ and app/circuit_breaker.py has a target; every file exists."""
    risk = {str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "app" / "risk").rglob("*.py")}

    assert {t.module for t in TARGETS} == risk | {"app/circuit_breaker.py"}
    check_files(TARGETS)  # raises TargetError naming a missing file


def test_targets_when_read_then_only_flagged_targets_use_freqtrade_tests() -> None:
    """Tests of targets not marked imports-freqtrade never import Freqtrade themselves."""
    imports = re.compile(r"^\s*(from|import)\s+freqtrade\b", re.M)
    for target in TARGETS:
        if not target.imports_freqtrade:
            for test in target.tests:
                assert not imports.search((REPO_ROOT / test).read_text()), (target.module, test)
    flagged = [t for t in TARGETS if t.imports_freqtrade]
    assert any(imports.search((REPO_ROOT / t).read_text()) for f in flagged for t in f.tests)


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (["app/risk/decision.py"], ["app/risk/decision.py"]),
        (["app/risk/rules/", "app/risk/rules/base.py"], "rules"),
        (["app/risk/rules"], "rules"),
        ([], "all"),
        (["  "], "all"),
    ],
)
def test_select_when_module_or_folder_named_then_those_targets(
    wanted: list[str], expected: list[str] | str
) -> None:
    """A module path selects it, a folder everything under it (once); nothing selects all."""
    chosen = [t.module for t in select(TARGETS, wanted)]

    if expected == "rules":
        expected = [t.module for t in TARGETS if t.module.startswith("app/risk/rules/")]
        assert len(expected) == 13
    elif expected == "all":
        expected = [t.module for t in TARGETS]
    assert chosen == expected


@pytest.mark.parametrize("name", ["app/risk/nothing.py", "app/ris", "app/risk/rules/base"])
def test_select_when_name_matches_nothing_then_error_naming_it(name: str) -> None:
    """A typo is refused with the name and the list of targets, never silently ignored."""
    with pytest.raises(TargetError, match=f"MODULES='{name}' matches no target") as info:
        select(TARGETS, [name])
    assert "app/risk/decision.py" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[target]]\nmodule = "a.txt"\ntests = ["t.py"]\n', "needs module"),
        ('[[target]]\nmodule = "a.py"\n', "needs tests"),
        ('[[target]]\nmodule = "a.py"\ntests = []\n', "needs tests"),
        ('[[target]]\nmodule = "a.py"\ntests = ["t.py"]\nflag = 1\n', "unknown keys"),
        ('[[target]]\nmodule = "a.py"\ntests = ["t.py"]\n' * 2, "listed twice"),
        ("[[target]\n", "cannot read"),
    ],
)
def test_load_targets_when_file_wrong_then_error_naming_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    """Each kind of mistake in targets.toml is refused with a message that says what to fix."""
    path = tmp_path / "targets.toml"
    path.write_text(text)

    with pytest.raises(TargetError, match=message):
        load_targets(path)


def test_check_files_when_test_missing_then_error_naming_file_and_target() -> None:
    """A target whose test file does not exist is refused before anything runs."""
    with pytest.raises(TargetError, match=r"tests/unit/risk/test_gone\.py \(target app/x\.py\)"):
        check_files([Target("app/x.py", ("tests/unit/risk/test_gone.py",))])


def _project(root: Path, test_text: str = "def test_x(): pass\n") -> Target:
    (root / "app").mkdir()
    (root / "app" / "mod.py").write_text("X = 1\n")
    (root / "app" / "other.py").write_text("Y = 1\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_mod.py").write_text(test_text)
    (root / "tests" / "helpers.py").write_text("H = 1\n")
    return Target("app/mod.py", ("tests/test_mod.py",))


@pytest.mark.parametrize(
    ("test_text", "flagged", "hypothesis_off", "freqtrade_allowed"),
    [
        ("def test_x(): pass\n", False, True, False),
        ("from hypothesis import given\n", False, False, False),
        ("def test_x(): pass\n", True, True, True),
    ],
)
def test_pytest_command_when_built_then_only_the_mapped_tests_with_slow_plugins_off(
    tmp_path: Path, test_text: str, flagged: bool, hypothesis_off: bool, freqtrade_allowed: bool
) -> None:
    """pytest -x on the mapped tests, no cache or random order, the import check plugin;
    Hypothesis' plugin off unless a test uses it; Freqtrade allowed only when flagged."""
    target = _project(tmp_path, test_text)
    target = Target(target.module, target.tests, imports_freqtrade=flagged)

    args = shlex.split(pytest_command(target, "/venv/bin/python", tmp_path))

    assert args[:3] == ["/venv/bin/python", "-m", "pytest"]
    assert args[-1] == "tests/test_mod.py"
    assert {"-x", "no:cacheprovider", "no:randomly", "mutation.pytest_plugin"} <= set(args)
    assert ("no:hypothesispytest" in args) is hypothesis_off
    assert ("--mutation-allows-freqtrade" in args) is freqtrade_allowed


def test_fingerprints_when_files_change_then_only_the_matching_one_moves(tmp_path: Path) -> None:
    """The module's own change renews the session; tests, helpers and other code re-test
    survivors only; neither moves when nothing changed."""
    target = _project(tmp_path)
    config = load_config()
    command = pytest_command(target, "python", tmp_path)

    def both() -> tuple[str, str]:
        return (
            module_fingerprint(target, config, tmp_path),
            context_fingerprint(target, command, tmp_path),
        )

    first = both()
    assert both() == first
    (tmp_path / "tests" / "test_mod.py").write_text("def test_y(): pass\n")
    second = both()
    assert second[0] == first[0] and second[1] != first[1]
    (tmp_path / "tests" / "helpers.py").write_text("H = 2\n")
    (tmp_path / "app" / "other.py").write_text("Y = 2\n")
    third = both()
    assert third[0] == first[0] and third[1] != second[1]
    (tmp_path / "app" / "mod.py").write_text("X = 2\n")
    fourth = both()
    assert fourth[0] != first[0] and fourth[1] == third[1]


def test_pytest_command_when_python_moves_then_context_fingerprint_kept(tmp_path: Path) -> None:
    """Another venv path (CI vs a laptop) is not a change of the tests."""
    target = _project(tmp_path)

    assert context_fingerprint(
        target, pytest_command(target, "/a/python", tmp_path), tmp_path
    ) == context_fingerprint(target, pytest_command(target, "/b/python", tmp_path), tmp_path)


def test_config_when_read_then_timeout_and_noise_filter_set() -> None:
    """The shared config has a timeout and excludes only arithmetic-to-bitwise replacements."""
    config = load_config()

    assert config["cosmic-ray"]["timeout"] > 0
    assert config["cosmic-ray"]["distributor"]["name"] == "local"
    (pattern,) = config["cosmic-ray"]["filters"]["operators-filter"]["exclude-operators"]
    assert "BitOr|BitAnd|BitXor|LShift|RShift" in pattern
    assert pattern.startswith("core/ReplaceBinaryOperator_(Add|Sub|Mul|Div|FloorDiv|Mod|Pow)_")
