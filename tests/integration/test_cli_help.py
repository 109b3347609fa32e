"""Every command answers --help, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.cli import build_parser
from tests.helpers import REPO_ROOT, clean_env


def _commands() -> list[list[str]]:
    """Every subcommand path of ``tradingbot``, e.g. ["registry", "runs"]."""
    import argparse

    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_top_level_help_when_asked_then_lists_every_command() -> None:
    """`tradingbot --help` exits 0 and names each top-level command."""
    result = _run(["--help"])

    assert result.returncode == 0
    for path in _commands():
        if len(path) == 1:
            assert path[0] in result.stdout


@pytest.mark.parametrize("path", _commands(), ids=" ".join)
def test_subcommand_help_when_asked_then_usage_and_exit_0(path: list[str]) -> None:
    """Each subcommand has its own --help."""
    result = _run([*path, "--help"])

    assert result.returncode == 0, result.stderr
    assert f"usage: tradingbot {' '.join(path)}" in result.stdout


def test_console_script_when_installed_then_same_as_python_m_app() -> None:
    """The `tradingbot` console script and `python -m app` are the same program."""
    script_path = REPO_ROOT / ".venv" / "bin" / "tradingbot"
    if not script_path.exists():
        pytest.skip("the tradingbot console script is not installed in .venv (run make test)")

    script = subprocess.run(
        [str(script_path), "--version"], capture_output=True, text=True, check=False
    )

    assert script.returncode == 0
    assert script.stdout == _run(["--version"]).stdout
    assert script.stdout.startswith("tradingbot ")
