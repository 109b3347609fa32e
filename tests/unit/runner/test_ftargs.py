"""Reading a Freqtrade command line without Freqtrade."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.runner.ftargs import parse_invocation


def test_parse_when_backtest_line_then_options_read_and_unknown_kept() -> None:
    """Options the runner needs are read; everything else stays in argv untouched."""
    argv = ["backtesting", "-c", "a.json", "--config", "b.json", "-s", "X", "--timerange",
            "20180110-20180120", "-p", "ETH/BTC", "LTC/BTC", "--breakdown", "day"]  # fmt: skip

    inv = parse_invocation(argv)

    assert inv.command == "backtesting"
    assert inv.configs == [Path("a.json"), Path("b.json")]
    assert inv.strategies == ["X"]
    assert inv.timerange == "20180110-20180120"
    assert inv.pairs == ["ETH/BTC", "LTC/BTC"]
    assert inv.argv == argv
    assert inv.kind(dry_run=True) == "backtest"
    assert inv.writes_results


@pytest.mark.parametrize(
    ("argv", "dry_run", "kind"),
    [
        (["trade"], True, "dry_run"),
        (["trade"], False, "live"),
        (["trade", "--dry-run"], False, "dry_run"),
        (["hyperopt", "--epochs", "5"], True, "hyperopt"),
        (["download-data"], True, "download"),
        (["lookahead-analysis"], True, "other"),
    ],
)
def test_kind_when_command_and_dry_run_then_registry_kind(
    argv: list[str], dry_run: bool, kind: str
) -> None:
    """Commands map onto the registry's run kinds; trade is live only without dry-run."""
    assert parse_invocation(argv).kind(dry_run) == kind


@pytest.mark.parametrize("argv", [[], ["--help"], ["backtesting", "-h"], ["--version"]])
def test_parse_when_help_or_no_command_then_passthrough(argv: list[str]) -> None:
    """Help and version requests go straight to Freqtrade, unrecorded."""
    assert parse_invocation(argv).wants_help


def test_writes_results_when_export_none_then_false() -> None:
    """A backtest with --export none is not expected to leave a result file."""
    assert not parse_invocation(["backtesting", "--export", "none"]).writes_results
