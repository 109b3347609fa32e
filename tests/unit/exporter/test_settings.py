"""Exporter settings (app/exporter/settings.py): parsed once, refused with the exact fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import ConfigError
from app.exporter.settings import BotTarget, env_key, load_exporter_settings

CREDS = {"FREQTRADE__API_SERVER__USERNAME": "ops", "FREQTRADE__API_SERVER__PASSWORD": "pw-123"}


def _load(env: dict[str, str]) -> object:
    return load_exporter_settings(env, dotenv_path=None)


def test_settings_when_nothing_set_then_no_bots_default_timeout() -> None:
    """No EXPORTER_* variable: nothing is polled, requests time out after 2 s."""
    settings = load_exporter_settings({}, dotenv_path=None)

    assert settings.bots == ()
    assert settings.bot_timeout_s == 2.0


def test_settings_when_bots_listed_then_own_credentials_win_over_fallback() -> None:
    """Per-bot credentials first, FREQTRADE__API_SERVER__* for the others."""
    env = {
        **CREDS,
        "EXPORTER_BOTS": "main=http://127.0.0.1:8080, alt.2=https://bot2:8443/",
        "EXPORTER_BOT_ALT_2_USERNAME": "alt-user",
        "EXPORTER_BOT_ALT_2_PASSWORD": "alt-pw",
        "EXPORTER_BOT_TIMEOUT_SEC": "0.5",
    }

    settings = load_exporter_settings(env, dotenv_path=None)

    assert settings.bots == (
        BotTarget("main", "http://127.0.0.1:8080", "ops", "pw-123"),
        BotTarget("alt.2", "https://bot2:8443", "alt-user", "alt-pw"),
    )
    assert settings.bot_timeout_s == 0.5
    assert "pw-123" not in repr(settings) and "alt-pw" not in repr(settings)


def test_settings_when_dotenv_then_read_and_environment_wins(tmp_path: Path) -> None:
    """.env is read like for RISK_*; the process environment overrides it."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("EXPORTER_BOTS=a=http://h:1\nEXPORTER_BOT_TIMEOUT_SEC=5\nOTHER=x\n")

    settings = load_exporter_settings({**CREDS, "EXPORTER_BOT_TIMEOUT_SEC": "3"}, dotenv)

    assert [b.name for b in settings.bots] == ["a"]
    assert settings.bot_timeout_s == 3.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EXPORTER_BOTS": "main"}, "'main' is not NAME=URL"),
        ({"EXPORTER_BOTS": "bad name=http://h:1"}, "'bad name=http://h:1' is not NAME=URL"),
        ({"EXPORTER_BOTS": "a=ftp://h:1"}, "is not http(s)://HOST:PORT"),
        ({"EXPORTER_BOTS": "a=http://u:p@h:1"}, ("carries credentials; remove them and set "
         "EXPORTER_BOT_A_USERNAME")),
        ({"EXPORTER_BOTS": "a=http://h:1/api/v1"}, "has a path"),
        ({"EXPORTER_BOTS": "a-b=http://h:1,a_b=http://h:2"}, "names a bot twice"),
        ({"EXPORTER_BOT_TIMEOUT_SEC": "abc"}, ("EXPORTER_BOT_TIMEOUT_SEC='abc' is invalid; use "
         "a number of seconds in [0.1, 30]")),
        ({"EXPORTER_BOT_TIMEOUT_SEC": "0"}, "EXPORTER_BOT_TIMEOUT_SEC='0' is invalid"),
        ({"EXPORTER_BOT_TIMEOUT_SEC": "nan"}, "EXPORTER_BOT_TIMEOUT_SEC='nan' is invalid"),
        ({"EXPORTER_BOTZ": "a=http://h:1"}, "unknown setting EXPORTER_BOTZ"),
        ({"EXPORTER_BOTS": "a=http://h:1", "EXPORTER_BOT_B_PASSWORD": "x"},
         "unknown setting EXPORTER_BOT_B_PASSWORD"),
    ],
)  # fmt: skip
def test_settings_when_value_bad_then_config_error_naming_it(
    env: dict[str, str], message: str
) -> None:
    """Each bad value stops the exporter (exit 2) with the variable, value and fix."""
    with pytest.raises(ConfigError) as excinfo:
        _load({**CREDS, **env})

    assert message in str(excinfo.value)
    assert excinfo.value.exit_code == 2


def test_settings_when_bot_has_no_credentials_then_error_names_both_variables() -> None:
    """A bot without its own or a shared login cannot be polled: say what to set."""
    expected = r"set EXPORTER_BOT_MAIN_PASSWORD \(or FREQTRADE__API_SERVER__PASSWORD"
    with pytest.raises(ConfigError, match=expected):
        _load({"EXPORTER_BOTS": "main=http://h:1", "EXPORTER_BOT_MAIN_USERNAME": "u"})


NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@given(st.lists(NAMES, min_size=1, max_size=6, unique_by=env_key))
def test_settings_when_any_valid_names_then_round_trip(names: list[str]) -> None:
    """Any list of valid, distinct names parses back to the same bots in order."""
    text = ",".join(f"{name}=http://127.0.0.1:{8000 + i}" for i, name in enumerate(names))

    settings = load_exporter_settings({**CREDS, "EXPORTER_BOTS": text}, dotenv_path=None)

    assert [b.name for b in settings.bots] == names
    assert [b.url for b in settings.bots] == [
        f"http://127.0.0.1:{8000 + i}" for i in range(len(names))
    ]
