"""Bot sources (app/exporter/bots.py) against a local fake of Freqtrade's REST API.

A real dry-run bot is polled in tests/integration/test_observability_e2e.py; the fake
adds what a real bot does not do on demand: a hung API, a garbage answer.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator

import pytest

from app.exporter.bots import BotSource
from app.exporter.collector import SourceError
from app.exporter.settings import BotTarget
from tests.fakes.freqtrade_api import FakeFreqtradeApi
from tests.unit.exporter.helpers import collect


@pytest.fixture
def api() -> Iterator[FakeFreqtradeApi]:
    with FakeFreqtradeApi(username="ops", password="s3cret-pass") as fake:
        yield fake


def _source(url: str, *, password: str = "s3cret-pass", timeout: float = 2.0) -> BotSource:
    return BotSource(BotTarget("main", url, "ops", password), timeout_s=timeout)


def test_bot_when_running_then_every_bot_metric_reported(api: FakeFreqtradeApi) -> None:
    """A running bot: up, one-hot state, last loop, open/max trades, profit, drawdown."""
    got = collect(_source(api.url))

    assert got == {
        "tradingbot_bot_up{bot=main}": 1.0,
        "tradingbot_bot_state{bot=main,state=running}": 1.0,
        "tradingbot_bot_state{bot=main,state=paused}": 0.0,
        "tradingbot_bot_state{bot=main,state=stopped}": 0.0,
        "tradingbot_bot_max_open_trades{bot=main}": 3.0,
        "tradingbot_bot_last_process_timestamp_seconds{bot=main}": 1_790_000_000.0,
        "tradingbot_bot_open_trades{bot=main}": 2.0,
        "tradingbot_bot_profit_ratio{bot=main}": 0.0123,
        "tradingbot_bot_drawdown_ratio{bot=main}": 0.045,
    }
    assert api.requests == ["show_config", "health", "profit"]


def test_bot_when_paused_unlimited_and_no_loop_yet_then_state_inf_and_start_time(
    api: FakeFreqtradeApi,
) -> None:
    """Paused is one-hot; max_open_trades -1 is +Inf; before its first loop the start counts."""
    api.state, api.max_open_trades, api.last_process_ts = "paused", -1, None

    got = collect(_source(api.url))

    assert got["tradingbot_bot_state{bot=main,state=paused}"] == 1.0
    assert got["tradingbot_bot_state{bot=main,state=running}"] == 0.0
    assert math.isinf(got["tradingbot_bot_max_open_trades{bot=main}"])  # type: ignore[arg-type]
    assert got["tradingbot_bot_last_process_timestamp_seconds{bot=main}"] == 1_789_999_000.0


def test_bot_when_port_closed_then_down_and_source_fine() -> None:
    """Nothing listens: bot_up 0 is the measurement; the source itself did not fail."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert collect(_source(f"http://127.0.0.1:{port}")) == {"tradingbot_bot_up{bot=main}": 0.0}


def test_bot_when_api_hangs_then_down_within_the_timeout(api: FakeFreqtradeApi) -> None:
    """A hung API counts as down after EXPORTER_BOT_TIMEOUT_SEC, not after the hang."""
    api.hang_s = 2.0
    started = time.monotonic()

    got = collect(_source(api.url, timeout=0.3))

    assert got == {"tradingbot_bot_up{bot=main}": 0.0}
    assert time.monotonic() - started < 2.0


def test_bot_when_login_refused_then_source_error_names_the_variables(
    api: FakeFreqtradeApi,
) -> None:
    """Wrong credentials: the bot is up, the source fails naming the variables to fix."""
    source = _source(api.url, password="wrong")

    with pytest.raises(SourceError) as excinfo:
        collect(source)

    assert "EXPORTER_BOT_MAIN_USERNAME" in str(excinfo.value)
    assert "wrong" not in str(excinfo.value)


def test_bot_when_answer_is_not_json_then_source_error(api: FakeFreqtradeApi) -> None:
    """A proxy's HTML page instead of JSON fails the source with a clear message."""
    api.garbage = True

    with pytest.raises(SourceError, match="did not answer JSON"):
        collect(_source(api.url))


def test_bot_when_profit_is_not_a_number_then_source_error(api: FakeFreqtradeApi) -> None:
    """A field of the wrong type is refused, never exported as something else."""
    api.profit_all_ratio = "lots"  # type: ignore[assignment]

    with pytest.raises(SourceError, match="where a number was expected"):
        collect(_source(api.url))
