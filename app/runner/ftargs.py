"""What a Freqtrade command line asks for, read without importing Freqtrade.

Only the options the runner needs are parsed; everything else passes through to
Freqtrade untouched (the runner never rewrites the user's arguments, it only
appends its own).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import ConfigError

# Subcommands that accept -c/--config (and so can take the offline overlay).
CONFIG_COMMANDS = frozenset(
    {
        "trade", "webserver", "backtesting", "backtesting-show", "backtesting-analysis",
        "hyperopt", "hyperopt-list", "hyperopt-show", "edge", "lookahead-analysis",
        "recursive-analysis", "download-data", "list-data", "list-markets", "list-pairs",
        "list-timeframes", "list-strategies", "list-hyperoptloss", "list-freqaimodels",
        "list-pairlists", "test-pairlist", "show-config", "plot-dataframe", "plot-profit",
        "convert-data", "convert-trade-data", "trades-to-ohlcv", "strategy-updater",
    }
)  # fmt: skip
KIND_BY_COMMAND = {
    "backtesting": "backtest",
    "hyperopt": "hyperopt",
    "download-data": "download",
}


@dataclass(frozen=True)
class Invocation:
    """A Freqtrade command line and the options the runner reads from it."""

    argv: list[str]
    command: str | None
    configs: list[Path] = field(default_factory=list)
    datadir: Path | None = None
    userdir: Path | None = None
    strategies: list[str] = field(default_factory=list)
    strategy_path: Path | None = None
    timerange: str | None = None
    timeframe: str | None = None
    pairs: list[str] = field(default_factory=list)
    backtest_directory: Path | None = None
    logfile: str | None = None
    dry_run_flag: bool = False
    trading_mode: str | None = None
    cache: str | None = None
    export: str | None = None
    disable_param_export: bool = False
    wants_help: bool = False

    @property
    def accepts_config(self) -> bool:
        return self.command in CONFIG_COMMANDS

    @property
    def writes_results(self) -> bool:
        """True when a successful run must leave a result file behind."""
        if self.command == "backtesting":
            return self.export != "none"
        return self.command == "hyperopt"

    def kind(self, dry_run: bool) -> str:
        """The registry's run kind for this command."""
        if self.command == "trade":
            return "dry_run" if dry_run or self.dry_run_flag else "live"
        return KIND_BY_COMMAND.get(self.command or "", "other")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    p.add_argument("command", nargs="?")
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("-V", "--version", action="store_true")
    p.add_argument("-c", "--config", action="append", default=[])
    p.add_argument("-d", "--datadir", "--data-dir")
    p.add_argument("--userdir", "--user-data-dir")
    p.add_argument("-s", "--strategy")
    p.add_argument("--strategy-list", nargs="+", default=[])
    p.add_argument("--strategy-path")
    p.add_argument("--timerange")
    p.add_argument("-i", "--timeframe")
    p.add_argument("-p", "--pairs", nargs="+", default=[])
    p.add_argument("--backtest-directory", "--export-directory")
    p.add_argument("--logfile", "--log-file")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--trading-mode", "--tradingmode")
    p.add_argument("--cache")
    p.add_argument("--export")
    p.add_argument("--disable-param-export", action="store_true")
    return p


def parse_invocation(argv: list[str]) -> Invocation:
    """Read ``argv`` (Freqtrade's arguments, subcommand first)."""
    try:
        ns, _unknown = _parser().parse_known_args(argv)
    except argparse.ArgumentError as exc:
        raise ConfigError(f"cannot read the Freqtrade arguments {argv!r}: {exc}") from None
    command = ns.command if ns.command and not ns.command.startswith("-") else None
    strategies = ([ns.strategy] if ns.strategy else []) + list(ns.strategy_list)
    return Invocation(
        argv=list(argv),
        command=command,
        configs=[Path(c) for c in ns.config],
        datadir=Path(ns.datadir) if ns.datadir else None,
        userdir=Path(ns.userdir) if ns.userdir else None,
        strategies=strategies,
        strategy_path=Path(ns.strategy_path) if ns.strategy_path else None,
        timerange=ns.timerange,
        timeframe=ns.timeframe,
        pairs=list(ns.pairs),
        backtest_directory=Path(ns.backtest_directory) if ns.backtest_directory else None,
        logfile=ns.logfile,
        dry_run_flag=ns.dry_run,
        trading_mode=ns.trading_mode,
        cache=ns.cache,
        export=ns.export,
        disable_param_export=ns.disable_param_export,
        wants_help=bool(ns.help or ns.version or command is None),
    )
