"""Property-based tests of the settings parser: valid settings or ConfigError, nothing else.

Arbitrary values for the known variables (and some unknown ones), and arbitrary bytes
written to a real ``.env`` file, must give either typed settings or a
:class:`ConfigError` whose message is one printable line. An accepted number must have
been written as a plain decimal (ASCII digits, optional '-' and one '.').
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ConfigError
from app.settings import KNOWN_VARIABLES, RiskSettings, load_settings

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PATHS = {"RISK_STATE_DIR", "RISK_CIRCUIT_BREAKER_FILE", "RISK_DB_PATH", "RISK_DB_URL"}
PLAIN = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
NAMES = [*sorted(KNOWN_VARIABLES), "RISK_TYPO", "risk_max_leverage", "OTHER"]


def _outcome(load: object) -> RiskSettings | ConfigError:
    try:
        return load()  # type: ignore[operator, no-any-return]
    except ConfigError as exc:
        assert str(exc).isprintable(), str(exc)
        return exc


# Numbers with one odd character somewhere: the near misses a person actually types.
number_like = st.from_regex(r"\A[-+ ]?[0-9]{1,3}[_ .eE,\u0661\uff11]?[0-9]{0,2}[ ]?\Z")
values = number_like | st.text(max_size=30) | st.sampled_from(["", "0", "1", "0.5", "900"])


@SETTINGS
@given(env=st.dictionaries(st.sampled_from(NAMES), values, max_size=5))
def test_load_when_arbitrary_values_then_settings_or_config_error(env: dict[str, str]) -> None:
    """No other exception; an accepted number was written as a plain decimal."""
    result = _outcome(lambda: load_settings(env, dotenv_path=None))
    if isinstance(result, ConfigError):
        return
    for name, text in env.items():
        if name.upper() in PATHS or name.upper() not in KNOWN_VARIABLES:
            continue
        if name.upper() == "RISK_MAX_CONCURRENT_BACKTESTS" and text == "":
            continue  # blank = unlimited
        assert PLAIN.fullmatch(text), (name, text)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="settings-props-") as name:
        yield Path(name)


fragments = st.sampled_from(
    [
        "RISK_MAX_LEVERAGE",
        "RISK_LOSS_STREAK_MAX",
        "RISK_X",
        "A",
        "export ",
        "=",
        "==",
        "#",
        "'",
        '"',
        "\\",
        " ",
        "\t",
        "\n",
        "\r\n",
        "\r",
        "${A}",
        "${",
        "3",
        "0.5",
        "\x00",
        "é",
    ]
)
lines = st.lists(fragments, max_size=12).map("".join)


@SETTINGS
@given(data=st.binary(max_size=300) | lines.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_load_when_arbitrary_dotenv_bytes_then_settings_or_config_error(
    folder: Path, data: bytes
) -> None:
    """A real .env file with any bytes: settings or a ConfigError naming the problem."""
    dotenv = folder / ".env"
    dotenv.write_bytes(data)
    result = _outcome(lambda: load_settings({}, dotenv_path=dotenv))
    if isinstance(result, ConfigError) and "RISK_" not in str(result):
        assert str(dotenv) in str(result)  # a file-level problem names the file
