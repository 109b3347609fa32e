"""``--offline``: a loopback exchange for the lifetime of one Freqtrade command.

Before Freqtrade starts, the requested pairs are checked against the candle files
(an unknown pair fails here, with the datadir named, instead of deep inside
Freqtrade); the exchange is started on a free loopback port; and a config overlay
pointing ccxt at it is written to a temporary file and appended as the last
``-c``, so it wins over the user's configs without anybody editing them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from app.datadirs import is_synthetic
from app.errors import ConfigError
from app.offline_exchange.overlay import ccxt_overlay
from app.offline_exchange.replay import Mode
from app.offline_exchange.server import OfflineExchange
from app.offline_exchange.store import CandleStore
from app.runner.ftargs import Invocation
from app.runner.ftconfig import ResolvedConfig, expand_pairs

SUPPORTED_EXCHANGES = ("binance",)

# Commands whose pairs must exist in the offline data (others only need markets).
PAIR_COMMANDS = frozenset(
    {"trade", "backtesting", "hyperopt", "download-data", "lookahead-analysis",
     "recursive-analysis", "plot-dataframe"}
)  # fmt: skip
# Environment variables that could leak credentials or re-point the exchange offline.
_BLOCKED_ENV_PREFIX = "FREQTRADE__EXCHANGE__"


@dataclass(frozen=True)
class OfflineSession:
    """What the runner adds to the child's command line and environment."""

    url: str
    extra_args: list[str]
    unset_env: list[str]
    mode: Mode


def mode_for(command: str | None) -> Mode:
    """Replay for live-like commands (trade, webserver), historic for the rest."""
    return Mode.REPLAY if command in ("trade", "webserver") else Mode.HISTORIC


def check_pairs(inv: Invocation, cfg: ResolvedConfig, store: CandleStore) -> list[str]:
    """The pairs the command will use; :class:`ConfigError` for pairs without candles."""
    available = sorted(m.pair for m in store.markets(cfg.futures).values())
    if inv.command not in PAIR_COMMANDS or not cfg.whitelist:
        return available
    matched, missing = expand_pairs(cfg.whitelist, available)
    if missing:
        raise ConfigError(
            f"pair(s) {', '.join(missing)} have no candle files in {store.datadir}"
            f"{'/futures' if cfg.futures else ''} (available: {', '.join(available) or 'none'}); "
            "fix --pairs / pair_whitelist, or point --offline-datadir at data that has them"
        )
    return matched


def blocked_env(environ: Mapping[str, str]) -> list[str]:
    """Variables removed offline: no exchange credentials or overrides reach Freqtrade."""
    return sorted(k for k in environ if k.upper().startswith(_BLOCKED_ENV_PREFIX))


@contextlib.contextmanager
def offline_session(
    inv: Invocation, cfg: ResolvedConfig, source_datadir: Path | None, environ: Mapping[str, str]
) -> Iterator[OfflineSession]:
    """Validate, start the exchange, write the overlay; stop and clean up on exit."""
    if cfg.exchange not in SUPPORTED_EXCHANGES:
        raise ConfigError(
            f"--offline imitates Binance only, but the config's exchange.name is "
            f"{cfg.exchange!r}; use a Binance config (user_data/configs/) or drop --offline"
        )
    if inv.command == "trade" and not cfg.dry_run:
        raise ConfigError(
            "--offline cannot place real orders: the config has dry_run false; add --dry-run "
            "or use user_data/configs/config.testnet.json"
        )
    source = source_datadir or cfg.datadir
    if inv.command == "download-data" and source_datadir is None:
        raise ConfigError(
            "offline download-data needs a source: pass --offline-datadir DIR (the candles to "
            "serve) and --datadir for where Freqtrade should write them"
        )
    mode = mode_for(inv.command)
    exchange = OfflineExchange(source, mode=mode)
    check_pairs(inv, cfg, exchange.state.store)
    with exchange:
        overlay = ccxt_overlay(exchange.url, futures=cfg.futures)
        fd, name = tempfile.mkstemp(prefix="tradingbot-offline-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(overlay, handle)
            yield OfflineSession(exchange.url, ["-c", name], blocked_env(environ), mode)
        finally:
            Path(name).unlink(missing_ok=True)


def describe_source(path: Path) -> str:
    """One line saying what the offline exchange serves (for the console)."""
    if is_synthetic(path):
        return f"{path} (SYNTHETIC sample data, not real market prices)"
    return str(path)
