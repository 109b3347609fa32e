"""The service's own checks: Freqtrade's token refused, one poller per host, the token
rejected by the API, the breaker expiry announced once, the library logs guarded."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.circuit_breaker import enable_breaker
from app.errors import ConfigError, TelegramError
from app.settings import load_settings
from app.telegram.client import guard_library_logs, redactor_for
from app.telegram.service import BreakerWatch, Service, poller_lock, refuse_freqtrade_token
from tests.fakes.telegram_api import FakeTelegram
from tests.unit.telegram.conftest import SECRET, TOKEN, tg_settings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_refuse_when_a_freqtrade_config_holds_the_token_then_error_names_the_file(
    tmp_path: Path,
) -> None:
    """Two pollers of one token break each other: the config is named, the token never."""
    (tmp_path / "config.a.json").write_text('{"telegram": {"token": "other:x"}}')
    (tmp_path / "config.b.json").write_text(
        '// Freqtrade allows comments\n{"telegram": {"token": "%s",},}' % TOKEN  # noqa: UP031
    )
    (tmp_path / "broken.json").write_text("{not json")

    with pytest.raises(ConfigError) as error:
        refuse_freqtrade_token(tg_settings("http://127.0.0.1:1"), tmp_path, {})
    assert "config.b.json" in str(error.value)
    assert "config.a.json" not in str(error.value)
    assert SECRET not in str(error.value)


def test_refuse_when_freqtrade_env_token_is_ours_then_refused() -> None:
    """FREQTRADE__TELEGRAM__TOKEN counts as Freqtrade's token too."""
    with pytest.raises(ConfigError, match="FREQTRADE__TELEGRAM__TOKEN"):
        refuse_freqtrade_token(
            tg_settings("http://127.0.0.1:1"),
            Path("/nonexistent"),
            {"FREQTRADE__TELEGRAM__TOKEN": TOKEN},
        )


def test_poller_lock_when_held_then_second_poller_told(tmp_path: Path) -> None:
    """Only one poller per host (and state folder)."""
    with poller_lock(tmp_path) as first, poller_lock(tmp_path) as second:
        assert (first, second) == (True, False)
    with poller_lock(tmp_path) as again:
        assert again is True


def test_service_when_token_rejected_then_exit_9_and_message_without_token(
    tmp_path: Path,
) -> None:
    """A token the API rejects stops the service with a message that does not repeat it."""
    wrong = "111111111:AAFrejectedTokenrejectedTokenrejected1"
    settings = load_settings({"RISK_DB_PATH": str(tmp_path / "r.sqlite")}, dotenv_path=None)
    with FakeTelegram({TOKEN}) as tg:
        service = Service(settings, tg_settings(tg.url, token=wrong))
        with pytest.raises(TelegramError) as error:
            asyncio.run(service.once(polling=True))

    assert error.value.exit_code == 9
    assert "rejected TELEGRAM_BOT_TOKEN" in str(error.value)
    assert wrong.split(":")[1] not in str(error.value)


def test_breaker_watch_when_breaker_expired_recently_then_announced_once(
    tmp_path: Path,
) -> None:
    """A recent expiry is logged once (the message is then unique per end time); an old
    one (the service was down for hours) is not announced late."""
    file = tmp_path / "circuit_breaker.json"
    log = tmp_path / "risk.jsonl"
    from app.logs import configure_logging, reset_logging

    configure_logging(log_file=log, to_stderr=False)
    try:
        enable_breaker(file, reason="maintenance", now=NOW, until=NOW + timedelta(minutes=5))
        watch = BreakerWatch(file)
        watch.check(NOW + timedelta(minutes=4))
        watch.check(NOW + timedelta(minutes=6))
        watch.check(NOW + timedelta(minutes=7))
        BreakerWatch(file).check(NOW + timedelta(hours=3))
    finally:
        reset_logging()

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    (expired,) = [line for line in lines if line["message"] == "circuit_breaker_expired"]
    assert (expired["until"], expired["reason"]) == ("2026-11-30T12:05:00Z", "maintenance")


def test_guard_library_logs_when_httpx_logs_a_url_then_token_masked(tmp_path: Path) -> None:
    """httpx's INFO request lines are dropped and any line of those libraries is redacted,
    whatever handler (Freqtrade's) receives it."""
    import telegram  # noqa: F401  # its loggers exist once imported

    path = tmp_path / "root.log"
    handler = logging.FileHandler(path)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)  # only the guard may drop httpx's INFO lines
    try:
        guard_library_logs(redactor_for(tg_settings("http://127.0.0.1:1")))
        url = f"http://127.0.0.1:1/bot{TOKEN}/sendMessage"
        logging.getLogger("httpx").info("HTTP Request: POST %s", url)
        logging.getLogger("httpx").warning("HTTP Request: POST %s failed", url)
        logging.getLogger("telegram.Bot").error("The token `%s` was rejected", TOKEN)
    finally:
        root.setLevel(old_level)
        root.removeHandler(handler)
        handler.close()

    text = path.read_text()
    assert "failed" in text
    assert "was rejected" in text
    assert "HTTP Request: POST http" in text  # the warning line, masked
    assert text.count("HTTP Request") == 1  # the INFO line was dropped
    assert SECRET not in text
