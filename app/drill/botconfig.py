"""The drill bot's Freqtrade config, environment and command line.

One config file, written into the drill's folder, makes the bot a busy, isolated paper
trader pointed at the drill's exchange:

* dry-run, market orders priced from the order book (fills at once), no fees (a scenario's
  loss is the one its faults cause), one trade per pair at a time;
* 1-second loops; candles that the exchange replays on the clock, and Freqtrade's
  ``outdated_offset`` at its minimum (1 minute) so that its own "outdated history" check
  never fires before the guard's stale-data rule can;
* ccxt's request timeout at 5 s (the ``timeout`` fault holds requests for 30 s);
* its own trade database, state folder (so its breaker is not the operator's) and REST API
  on a free loopback port, with credentials generated per drill and passed through the
  environment only: they are never written, printed or recorded.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.drill.market import DrillMarket
from app.logs import CORRELATION_ID_ENV, RUN_ID_ENV
from app.offline_exchange.overlay import ccxt_overlay

STRATEGY = "DrillStrategy"
STAKE_AMOUNT = 0.1  # of a wallet of 1 (BTC-quoted pairs: well above Binance's minimums)
WALLET = 1.0
CCXT_TIMEOUT_MS = 5_000
# Variables the drill sets itself; any inherited value is dropped first.
_DROPPED_PREFIXES = ("FREQTRADE__", "RISK_STATE_DIR", "RISK_CIRCUIT_BREAKER_FILE")


def strategy_path() -> Path:
    """The folder of ``DrillStrategy`` (shipped in the package)."""
    return Path(__file__).resolve().parent / "strategies"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ApiAccess:
    """The bot's REST API: where it listens and the credentials made for this drill."""

    port: int
    username: str = "drill"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return {
            "FREQTRADE__API_SERVER__USERNAME": self.username,
            "FREQTRADE__API_SERVER__PASSWORD": self.password,
            "FREQTRADE__API_SERVER__JWT_SECRET_KEY": self.jwt_secret,
        }


def bot_config(
    market: DrillMarket, exchange_url: str, db_file: Path, api_port: int
) -> dict[str, Any]:
    """The whole Freqtrade config of the drill's bot (no secrets in it)."""
    exchange = ccxt_overlay(exchange_url)["exchange"]
    for key in ("ccxt_config", "ccxt_async_config"):
        exchange[key] = {**exchange[key], "timeout": CCXT_TIMEOUT_MS}
    exchange |= {"pair_whitelist": list(market.pairs), "pair_blacklist": [], "outdated_offset": 1}
    book = {"price_side": "other", "use_order_book": True, "order_book_top": 1}
    return {
        "bot_name": "tradingbot-drill",
        "dry_run": True,
        "dry_run_wallet": WALLET,
        "stake_currency": market.stake_currency,
        "stake_amount": STAKE_AMOUNT,
        "tradable_balance_ratio": 0.99,
        "max_open_trades": len(market.pairs),
        "timeframe": market.timeframe,
        "fee": 0.0,
        "db_url": f"sqlite:///{db_file.resolve()}",
        "trading_mode": "spot",
        "margin_mode": "",
        "order_types": {
            "entry": "market",
            "exit": "market",
            "stoploss": "market",
            "stoploss_on_exchange": False,
        },
        "entry_pricing": {**book, "price_last_balance": 0.0},
        "exit_pricing": book,
        "unfilledtimeout": {"entry": 30, "exit": 30, "exit_timeout_count": 0, "unit": "seconds"},
        "exchange": exchange,
        "pairlists": [{"method": "StaticPairList"}],
        "telegram": {"enabled": False, "token": "", "chat_id": ""},
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": api_port,
            "verbosity": "error",
            "enable_openapi": False,
            "CORS_origins": [],
        },
        "initial_state": "running",
        "force_entry_enable": False,
        "internals": {"process_throttle_secs": 1, "heartbeat_interval": 0},
    }


def bot_environment(
    environ: Mapping[str, str],
    *,
    settings: Mapping[str, str],
    state_dir: Path,
    correlation_id: str,
    api: ApiAccess,
) -> dict[str, str]:
    """The bot's environment: the operator's, minus Freqtrade overrides and the breaker's
    location; plus the scenario's RISK_* values, the drill's state folder, its correlation
    id (so the runner links the bot's runs to the drill) and the API credentials."""
    env = {k: v for k, v in environ.items() if not k.upper().startswith(_DROPPED_PREFIXES)}
    env.pop(RUN_ID_ENV, None)
    env |= dict(settings)
    env |= {"RISK_STATE_DIR": str(state_dir.resolve()), CORRELATION_ID_ENV: correlation_id}
    return env | api.environment()


def bot_command(config_file: Path, logfile: Path) -> list[str]:
    """``tradingbot freqtrade trade --dry-run ...`` for the drill's bot, started through
    ``app.drill.launch`` so that it dies with the drill."""
    return [
        sys.executable, "-m", "app.drill.launch", str(os.getpid()),
        "freqtrade", "trade", "--dry-run", "-c", str(config_file),
        "--strategy", STRATEGY, "--strategy-path", str(strategy_path()),
        "--logfile", str(logfile),
    ]  # fmt: skip
