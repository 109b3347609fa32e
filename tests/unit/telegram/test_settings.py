"""TELEGRAM_* settings: off by default, validated like RISK_*, the token never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ConfigError
from app.settings import load_settings
from app.telegram.settings import KNOWN_VARIABLES, TelegramSettings, load_telegram_settings

REPO_ROOT = Path(__file__).resolve().parents[3]
TOKEN = "123456789:AAHsecretsecretsecretsecretsecret123"
ON = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "42"}


def _load(**env: str) -> TelegramSettings:
    return load_telegram_settings(env, dotenv_path=None)


def test_load_when_nothing_set_then_off_with_documented_defaults() -> None:
    """No token: Telegram is off; the API URL defaults to Telegram's own."""
    s = _load()
    assert s.enabled is False
    assert s.api_url == "https://api.telegram.org"
    assert s.allowed == frozenset()


def test_load_when_token_and_chat_then_on_and_chat_is_the_default_allowed_one() -> None:
    """TELEGRAM_ALLOWED_CHAT_IDS defaults to TELEGRAM_CHAT_ID; a trailing / is dropped."""
    s = _load(**ON, TELEGRAM_API_URL="http://127.0.0.1:8081/")
    assert s.enabled is True
    assert (s.chat_id, s.allowed, s.token) == (42, frozenset({42}), TOKEN)
    assert s.api_url == "http://127.0.0.1:8081"
    assert TOKEN not in repr(s)


def test_load_when_allowed_list_given_then_parsed_including_groups() -> None:
    """A comma list of chat ids, negative group ids included, replaces the default."""
    s = _load(**ON, TELEGRAM_ALLOWED_CHAT_IDS=" 42, -1001234567890 ,7")
    assert s.allowed == frozenset({42, -1001234567890, 7})


BAD = [
    ("TELEGRAM_BOT_TOKEN", "not-a-token", "is invalid (not a bot token)"),
    ("TELEGRAM_CHAT_ID", "@mychannel", "TELEGRAM_CHAT_ID='@mychannel' is invalid"),
    ("TELEGRAM_ALLOWED_CHAT_IDS", "42,abc", "TELEGRAM_ALLOWED_CHAT_IDS='42,abc' is invalid"),
    ("TELEGRAM_ALLOWED_CHAT_IDS", " , ", "(no chat id given)"),
    ("TELEGRAM_API_URL", "ftp://example.org", "(not an http(s) URL)"),
    ("TELEGRAM_API_URL", "https://api.telegram.org/bot", "the tool adds /bot<token>/<method>"),
    ("TELEGRAM_CHAT_ID", "", "TELEGRAM_CHAT_ID= is empty"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD)
def test_load_when_value_bad_then_exit_2_names_variable_and_fix(
    name: str, value: str, expected: str
) -> None:
    """Each bad value stops with exit code 2, the variable, the problem and the fix."""
    with pytest.raises(ConfigError) as error:
        _load(**{**ON, name: value})
    assert error.value.exit_code == 2
    assert expected in str(error.value)
    assert name in str(error.value)
    assert ("use " in str(error.value)) or ("set " in str(error.value))


def test_load_when_token_without_chat_then_chat_id_required() -> None:
    """A token alone is not enough: where would the messages go?"""
    with pytest.raises(ConfigError, match="TELEGRAM_CHAT_ID is not set but TELEGRAM_BOT_TOKEN"):
        _load(TELEGRAM_BOT_TOKEN=TOKEN)


def test_load_when_unknown_telegram_variable_then_named() -> None:
    """A typo (TELEGRAM_CHATID) is an error, not a silently ignored line."""
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) TELEGRAM_CHATID;"):
        _load(TELEGRAM_CHATID="42")


def test_load_when_value_long_then_cut_in_the_message() -> None:
    """A pasted blob is cut in the message (its length is given instead)."""
    with pytest.raises(ConfigError) as error:
        _load(**ON, TELEGRAM_API_URL="x" * 5000)
    assert "(5000 characters)" in str(error.value)
    assert len(str(error.value)) < 400


def test_load_when_token_pasted_into_url_then_not_echoed() -> None:
    """Even inside another variable's value the token is masked in the error."""
    with pytest.raises(ConfigError) as error:
        _load(**ON, TELEGRAM_API_URL=f"https://api.telegram.org/bot{TOKEN}")
    assert TOKEN.split(":")[1] not in str(error.value)
    assert "[REDACTED]" in str(error.value)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80).filter(lambda t: t.strip() != ""))
def test_load_when_token_is_anything_then_message_depends_on_its_length_only(token: str) -> None:
    """Whatever is pasted as a token, an error says the same as for any other text of that
    length: nothing of the value itself reaches the message."""

    def message(value: str) -> str | None:
        try:
            _load(TELEGRAM_BOT_TOKEN=value, TELEGRAM_CHAT_ID="1")
        except ConfigError as error:
            return str(error)
        return None

    got = message(token)
    if got is not None:
        assert got == message("#" * len(token))


def test_risk_settings_when_telegram_value_bad_then_programs_stop_with_exit_2() -> None:
    """load_settings (every program's start) validates TELEGRAM_* too."""
    with pytest.raises(ConfigError, match="TELEGRAM_CHAT_ID='x' is invalid") as error:
        load_settings({**ON, "TELEGRAM_CHAT_ID": "x"}, dotenv_path=None)
    assert error.value.exit_code == 2


def test_load_when_dotenv_and_environment_then_environment_wins(tmp_path: Path) -> None:
    """.env supplies values, the process environment overrides them."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_CHAT_ID=1\n")
    s = load_telegram_settings({"TELEGRAM_CHAT_ID": "2"}, dotenv_path=dotenv)
    assert (s.enabled, s.chat_id) == (True, 2)


def test_docs_when_read_then_every_variable_in_env_example_and_runbook() -> None:
    """.env.example (with a placeholder) and the RUNBOOK name every TELEGRAM_* variable."""
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    runbook = (REPO_ROOT / "docs" / "RUNBOOK.md").read_text(encoding="utf-8")
    assert sorted(n for n in KNOWN_VARIABLES if f"{n}=" not in example) == []
    assert sorted(n for n in KNOWN_VARIABLES if n not in runbook) == []
