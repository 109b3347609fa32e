"""One source per polled bot: Freqtrade's REST API read with ``freqtrade-client``.

Three requests per scrape, each bounded by ``EXPORTER_BOT_TIMEOUT_SEC``:

``/show_config``  state (running/paused/stopped) and ``max_open_trades``; a bot that does
                  not answer (refused, timed out) is ``tradingbot_bot_up 0`` and nothing
                  else is asked;
``/health``       the end of the last loop (``last_process_ts``; before the first loop,
                  the bot's start);
``/profit``       ``profit_all_ratio``, ``current_drawdown`` and the open trades
                  (``trade_count - closed_trade_count``; also answered while stopped).

A bot that is down is a measurement, not a failure of the source: ``bot_up 0`` with
``source_up 1``. The source shows down when the bot answered but could not be read:
credentials refused, an unexpected answer. The exporter only reads (GET requests).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import requests
from freqtrade_client import FtRestClient

from app.exporter.catalog import Batch
from app.exporter.collector import SourceError
from app.exporter.settings import BotTarget, env_key

STATES = ("running", "paused", "stopped")
# freqtrade-client logs a warning for each refused connection (one per scrape of a bot
# that is down); bot_up says it already.
logging.getLogger("ft_rest_client").setLevel(logging.ERROR)


class BotDown(Exception):  # noqa: N818  # a state of the bot, not an error of ours
    """The bot's API did not answer."""


class BotSource:
    """``tradingbot_bot_*{bot}`` of one bot."""

    def __init__(self, target: BotTarget, *, timeout_s: float) -> None:
        self.target = target
        self.name = f"bot:{target.name}"
        self.client = FtRestClient(
            target.url,
            target.username,
            target.password,
            timeout=timeout_s,
            pool_connections=1,
            pool_maxsize=2,
        )

    def collect(self, batch: Batch, now: float) -> None:
        """Poll the bot; ``bot_up`` always, the rest when it answered."""
        bot = self.target.name
        try:
            config = self._get("show_config", "state")
        except BotDown:
            batch.add("tradingbot_bot_up", 0.0, bot=bot)
            return
        batch.add("tradingbot_bot_up", 1.0, bot=bot)
        state = str(config["state"])
        for name in STATES:
            batch.add("tradingbot_bot_state", 1.0 if state == name else 0.0, bot=bot, state=name)
        batch.add(
            "tradingbot_bot_max_open_trades", _max_trades(config.get("max_open_trades")), bot=bot
        )
        health = self._get("health", "last_process_ts")
        last = health.get("last_process_ts") or health.get("bot_startup_ts")
        if last is not None:
            batch.add(
                "tradingbot_bot_last_process_timestamp_seconds", _number(last, "health"), bot=bot
            )
        profit = self._get("profit", "profit_all_ratio")
        open_trades = _number(profit.get("trade_count"), "profit") - _number(
            profit.get("closed_trade_count"), "profit"
        )
        batch.add("tradingbot_bot_open_trades", open_trades, bot=bot)
        batch.add(
            "tradingbot_bot_profit_ratio", _number(profit["profit_all_ratio"], "profit"), bot=bot
        )
        batch.add(
            "tradingbot_bot_drawdown_ratio",
            _number(profit.get("current_drawdown"), "profit"),
            bot=bot,
        )

    def _get(self, endpoint: str, expected: str) -> dict[str, Any]:
        """GET /api/v1/<endpoint>; the answer must be an object with ``expected``."""
        try:
            answer = getattr(self.client, endpoint)()
        except requests.Timeout as exc:
            if endpoint == "show_config":
                raise BotDown from exc
            raise SourceError(f"/{endpoint} timed out ({exc.__class__.__name__})") from None
        except ValueError:  # the body is not JSON (requests' JSONDecodeError is one)
            raise SourceError(f"/{endpoint} did not answer JSON") from None
        except requests.RequestException as exc:
            raise SourceError(f"/{endpoint} failed: {exc.__class__.__name__}") from None
        if answer is None:  # freqtrade-client's answer to a refused connection
            if endpoint == "show_config":
                raise BotDown
            raise SourceError(f"the bot stopped answering during the scrape (/{endpoint})")
        if not isinstance(answer, dict) or expected not in answer:
            raise SourceError(self._explain(endpoint, answer))
        return answer

    def _explain(self, endpoint: str, answer: object) -> str:
        detail = answer.get("detail") if isinstance(answer, dict) else None
        if detail == "Unauthorized":
            key = env_key(self.target.name)
            return (
                f"the bot refused the exporter's login: check EXPORTER_BOT_{key}_USERNAME / "
                f"_PASSWORD (or FREQTRADE__API_SERVER__USERNAME / _PASSWORD)"
            )
        shown = str(detail or answer)[:200]
        return f"/{endpoint} answered something unexpected: {shown}"


def _number(value: object, endpoint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceError(f"/{endpoint} answered {value!r} where a number was expected")
    return float(value)


def _max_trades(value: object) -> float:
    number = _number(value, "show_config")
    return math.inf if number < 0 or math.isinf(number) else number
