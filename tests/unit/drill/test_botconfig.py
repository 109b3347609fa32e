"""The drill bot's config, environment and command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from app.drill.botconfig import (
    STRATEGY,
    ApiAccess,
    bot_command,
    bot_config,
    bot_environment,
    strategy_path,
)
from app.drill.market import plan_market
from app.logs import CORRELATION_ID_ENV, RUN_ID_ENV
from app.offline_exchange.overlay import BINANCE_API_PATHS

URL = "http://127.0.0.1:4242"


def config(tmp_path: Path) -> dict[str, object]:
    return bot_config(plan_market(None, None), URL, tmp_path / "t.sqlite", 8123)


def test_config_when_built_then_freqtrade_loads_it_with_the_strategy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Freqtrade's own configuration loader, strategy resolver and consistency checks accept
    the drill's config and strategy (credentials from the environment, as the bot gets them)."""
    from freqtrade.configuration import Configuration
    from freqtrade.configuration.config_validation import validate_config_consistency
    from freqtrade.enums import RunMode
    from freqtrade.resolvers import StrategyResolver

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(tmp_path)))
    for name, value in ApiAccess(8123).environment().items():
        monkeypatch.setenv(name, value)
    args = {"config": [str(path)], "strategy": STRATEGY, "strategy_path": str(strategy_path())}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:  # Freqtrade's loader sets up its own logging on the root logger
        conf = Configuration({**args, "dry_run": True}, RunMode.DRY_RUN).get_config()
        strategy = StrategyResolver.load_strategy(conf)
        validate_config_consistency(conf)
    finally:
        root.handlers, root.level = handlers, level
    assert type(strategy).__name__ == STRATEGY
    assert conf["timeframe"] == "1m"
    assert conf["api_server"]["username"] == "drill"
    assert strategy.process_only_new_candles is True


def test_config_when_built_then_points_every_ccxt_url_at_the_exchange(tmp_path: Path) -> None:
    """Every ccxt URL goes to the drill's exchange; keys are blank; ccxt times out after 5 s."""
    exchange = config(tmp_path)["exchange"]
    assert isinstance(exchange, dict)
    urls = exchange["ccxt_config"]["urls"]["api"]
    assert set(urls) == set(BINANCE_API_PATHS)
    assert all(u.startswith(URL) for u in urls.values())
    assert exchange["ccxt_async_config"]["timeout"] == 5000
    assert (exchange["key"], exchange["secret"]) == ("", "")
    assert exchange["outdated_offset"] == 1
    assert exchange["pair_whitelist"] == ["SYNA/BTC", "SYNB/BTC", "SYNC/BTC"]


def test_config_when_written_then_no_secret_in_it(tmp_path: Path) -> None:
    """The API's credentials never reach the config file: only the environment has them."""
    api = ApiAccess(8123)
    text = json.dumps(config(tmp_path))
    assert api.password not in text
    assert api.jwt_secret not in text
    assert "password" not in json.dumps(config(tmp_path)["api_server"])
    assert api.password not in repr(api)
    assert ApiAccess(8123).password != api.password  # made per drill


def test_environment_when_built_then_isolated_state_and_linked_runs(tmp_path: Path) -> None:
    """The bot gets the drill's state folder and correlation id, the scenario's settings and
    the credentials; the operator's Freqtrade overrides and breaker location are dropped."""
    api = ApiAccess(8123)
    operator = {
        "PATH": "/bin",
        "FREQTRADE__EXCHANGE__KEY": "real-key",
        "RISK_CIRCUIT_BREAKER_FILE": "/prod/breaker.json",
        "RISK_STATE_DIR": "/prod/state",
        "RISK_LIVE_MAX_CONCURRENT_TRADES": "2",
        RUN_ID_ENV: "run_x",
    }
    env = bot_environment(
        operator,
        settings={"RISK_DATA_STALE_TIMEOUT_SEC": "5"},
        state_dir=tmp_path / "state",
        correlation_id="abc123",
        api=api,
    )
    assert env["PATH"] == "/bin"
    assert "FREQTRADE__EXCHANGE__KEY" not in env
    assert "RISK_CIRCUIT_BREAKER_FILE" not in env
    assert env["RISK_STATE_DIR"] == str((tmp_path / "state").resolve())
    assert env["RISK_LIVE_MAX_CONCURRENT_TRADES"] == "2"  # the operator's limits apply
    assert env["RISK_DATA_STALE_TIMEOUT_SEC"] == "5"
    assert env[CORRELATION_ID_ENV] == "abc123"
    assert RUN_ID_ENV not in env
    assert env["FREQTRADE__API_SERVER__PASSWORD"] == api.password


def test_command_when_built_then_guarded_runner_with_the_shipped_strategy(tmp_path: Path) -> None:
    """The bot runs `tradingbot freqtrade trade --dry-run` through the launcher, with the
    strategy folder shipped in the package."""
    argv = bot_command(tmp_path / "c.json", tmp_path / "f.log")
    assert argv[:3] == [sys.executable, "-m", "app.drill.launch"]
    assert argv[4:7] == ["freqtrade", "trade", "--dry-run"]
    assert argv[argv.index("--strategy") + 1] == STRATEGY
    folder = Path(argv[argv.index("--strategy-path") + 1])
    assert folder == strategy_path()
    assert "class DrillStrategy(GuardedStrategy)" in (folder / "drill_strategy.py").read_text()
