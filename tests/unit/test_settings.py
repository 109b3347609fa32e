"""Guard settings (app/settings.py): parsing, ranges, unknown names, .env and the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ConfigError
from app.settings import KNOWN_VARIABLES, RiskSettings, env_example_lines, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]

# Bad values per variable and kind of mistake; None where that kind cannot be wrong.
RATIO = {"text": "ten percent", "negative": "-0.1", "out_of_range": "1.5", "empty": ""}
BAD: dict[str, dict[str, str | None]] = {
    "RISK_STATE_DIR": {"empty": ""},
    "RISK_CIRCUIT_BREAKER_FILE": {"empty": "  "},
    "RISK_DB_PATH": {"empty": ""},
    "RISK_DB_URL": {"empty": ""},
    "RISK_ALLOW_WHEN_CB": {"text": "maybe", "negative": "-1", "out_of_range": "2", "empty": ""},
    "RISK_MAX_CONCURRENT_BACKTESTS": {"text": "abc", "negative": "-1", "out_of_range": "2.5"},
    "RISK_CONCURRENCY_TTL_SEC": {
        "text": "15m",
        "negative": "-5",
        "out_of_range": "604801",
        "empty": "",
    },
    "RISK_MAX_BACKTEST_DRAWDOWN_PCT": RATIO,
    "RISK_LIVE_MAX_CONCURRENT_TRADES": {
        "text": "three",
        "negative": "-1",
        "out_of_range": "0",
        "empty": "",
    },
    "RISK_LIVE_MAX_PER_MARKET_EXPOSURE_PCT": RATIO,
    "RISK_MAX_EXPOSURE_PCT": RATIO,
    "RISK_MAX_POSITION_PCT": RATIO,
    "RISK_DAILY_LOSS_CAP_PCT": {**RATIO, "out_of_range": "nan"},
    "RISK_MAX_DAILY_DRAWDOWN_PCT": {**RATIO, "out_of_range": "0"},
    "RISK_LOSS_STREAK_MAX": {"text": "x", "negative": "-2", "out_of_range": "1001", "empty": ""},
    "RISK_SESSION_COOLDOWN_MINUTES": {
        "text": "1h",
        "negative": "-1",
        "out_of_range": "0",
        "empty": "",
    },
    "RISK_DATA_STALE_TIMEOUT_SEC": {
        "text": "x",
        "negative": "-1",
        "out_of_range": "604801",
        "empty": "",
    },
    "RISK_MAX_ENTRY_DEVIATION_PCT": RATIO,
    "RISK_NEAR_LIQ_BUFFER_MULTIPLIER": {
        "text": "x",
        "negative": "-1",
        "out_of_range": "0.5",
        "empty": "",
    },
    "RISK_MAX_LEVERAGE": {"text": "x", "negative": "-3", "out_of_range": "inf", "empty": ""},
    "RISK_INCIDENT_RATE_LIMIT_SEC": {
        "text": "x",
        "negative": "-1",
        "out_of_range": "86401",
        "empty": "",
    },
}
CASES = [
    pytest.param(name, kind, value, id=f"{name}-{kind}")
    for name, kinds in BAD.items()
    for kind, value in kinds.items()
    if value is not None
]


def _load(**env: str) -> RiskSettings:
    return load_settings(env, dotenv_path=None)


def test_bad_value_table_when_built_then_covers_every_variable() -> None:
    """The table below is complete: a new variable must get bad-value cases."""
    assert set(BAD) == KNOWN_VARIABLES


@pytest.mark.parametrize(("name", "kind", "value"), CASES)
def test_load_when_value_bad_then_error_names_variable_value_and_range(
    name: str, kind: str, value: str
) -> None:
    """Every bad value stops with the variable, the value and what is allowed (exit 2)."""
    with pytest.raises(ConfigError) as error:
        _load(**{name: value})
    message = str(error.value)
    assert error.value.exit_code == 2
    assert f"{name}={value!r}" in message
    assert ("use " in message) or ("set " in message)


def test_load_when_nothing_set_then_documented_defaults() -> None:
    """Defaults from DESIGN.md: limits off, TTL 900, state in user_data/state."""
    s = _load()
    assert s.state_dir == Path("user_data/state")
    assert s.breaker_file == Path("user_data/state/circuit_breaker.json")
    assert s.max_concurrent_backtests == 0
    assert s.concurrency_ttl_sec == 900
    assert s.allow_when_cb is False
    assert s.database_url == "sqlite:///user_data/registry/strategies_registry.sqlite"
    assert s.live_max_concurrent_trades is None
    assert s.daily_loss_cap_pct is None


def test_load_when_values_valid_then_typed() -> None:
    """Valid text becomes typed values; blank RISK_MAX_CONCURRENT_BACKTESTS is unlimited."""
    s = _load(
        RISK_STATE_DIR="/srv/state",
        RISK_CIRCUIT_BREAKER_FILE="/srv/cb.json",
        RISK_ALLOW_WHEN_CB="1",
        RISK_MAX_CONCURRENT_BACKTESTS="",
        RISK_MAX_POSITION_PCT="0.25",
        RISK_LIVE_MAX_CONCURRENT_TRADES="3",
        RISK_DB_URL="postgresql+psycopg://u:p@db/reg",
    )
    assert s.breaker_file == Path("/srv/cb.json")
    assert s.allow_when_cb is True
    assert s.max_concurrent_backtests == 0
    assert s.max_position_pct == 0.25
    assert s.live_max_concurrent_trades == 3
    assert s.database_url == "postgresql+psycopg://u:p@db/reg"


def test_load_when_unknown_risk_variable_then_error_names_it() -> None:
    """A typo must not silently turn a limit off."""
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) RISK_DAILY_LOSS_CAP;"):
        _load(RISK_DAILY_LOSS_CAP="0.05")


def test_load_when_several_bad_then_all_named_at_once() -> None:
    """The operator fixes everything in one pass."""
    with pytest.raises(ConfigError) as error:
        _load(RISK_MAX_LEVERAGE="x", RISK_LOSS_STREAK_MAX="-1")
    assert "RISK_MAX_LEVERAGE" in str(error.value)
    assert "RISK_LOSS_STREAK_MAX" in str(error.value)


def test_load_when_dotenv_and_environment_then_environment_wins(tmp_path: Path) -> None:
    """.env supplies values; the process environment overrides them."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("RISK_MAX_POSITION_PCT=0.1\nRISK_LOSS_STREAK_MAX=3\nOTHER=1\n")
    s = load_settings({"RISK_LOSS_STREAK_MAX": "5"}, dotenv_path=dotenv)
    assert s.max_position_pct == 0.1
    assert s.loss_streak_max == 5


def test_load_when_dotenv_value_bad_then_error() -> None:
    """.env values are validated like the environment's."""
    with pytest.raises(ConfigError, match="RISK_MAX_POSITION_PCT='2'"):
        load_settings({"RISK_MAX_POSITION_PCT": "2"}, dotenv_path=None)


def test_env_example_when_generated_then_every_variable_has_a_commented_line() -> None:
    """.env.example lines exist for every variable, each after its comment."""
    lines = env_example_lines()
    for name in KNOWN_VARIABLES:
        index = next(i for i, line in enumerate(lines) if f"{name}=" in line)
        assert lines[index - 1].startswith("# ")


def test_runbook_when_read_then_every_variable_documented() -> None:
    """docs/RUNBOOK.md names every RISK_* variable."""
    runbook = (REPO_ROOT / "docs" / "RUNBOOK.md").read_text(encoding="utf-8")
    missing = sorted(name for name in KNOWN_VARIABLES if name not in runbook)
    assert missing == []


NUMERIC = sorted(
    name
    for name in KNOWN_VARIABLES
    if name not in {"RISK_STATE_DIR", "RISK_CIRCUIT_BREAKER_FILE", "RISK_DB_PATH", "RISK_DB_URL"}
)
NOT_PLAIN = ["1_0", " 1", "1 ", "1e0", "+1", "0x1", "\u0661", "\uff11", "1,0", "Infinity"]


@pytest.mark.parametrize("value", NOT_PLAIN)
@pytest.mark.parametrize("name", NUMERIC)
def test_load_when_number_not_plain_decimal_then_refused(name: str, value: str) -> None:
    """Underscores, spaces, exponents, '+', hex and non-ASCII digits are refused everywhere."""
    with pytest.raises(ConfigError) as error:
        _load(**{name: value})
    assert f"{name}={value!r} is invalid" in str(error.value)


def test_load_when_value_long_or_with_controls_then_echo_cut_and_escaped() -> None:
    """A 10,000-character value shows 80 characters and its length; controls are escaped."""
    with pytest.raises(ConfigError) as error:
        _load(RISK_MAX_LEVERAGE="9" * 10_000, RISK_LOSS_STREAK_MAX="\x1b[2J3\n")
    message = str(error.value)
    assert f"RISK_MAX_LEVERAGE={'9' * 80!r}... (10000 chars) is invalid" in message
    assert "RISK_LOSS_STREAK_MAX='\\x1b[2J3\\n' is invalid" in message
    assert len(message) < 1000
    assert message.isprintable()


def test_load_when_unknown_name_has_controls_then_escaped() -> None:
    """An unknown name is echoed escaped too (it may come from a crafted .env)."""
    with pytest.raises(ConfigError) as error:
        _load(**{"RISK_X\n\x1b[1MY": "1"})
    assert "RISK_X\\n\\x1b[1MY" in str(error.value)
    assert str(error.value).isprintable()


def test_load_when_path_has_nul_then_refused() -> None:
    """A NUL in a path (only a .env can carry one) is refused, not a crash later."""
    with pytest.raises(ConfigError, match=r"RISK_STATE_DIR='a\\x00b' is invalid"):
        _load(RISK_STATE_DIR="a\x00b")


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("1", True)])
def test_load_when_allow_when_cb_zero_or_one_then_bool(value: str, expected: bool) -> None:
    """RISK_ALLOW_WHEN_CB takes exactly 0 or 1 (not true/yes/on)."""
    assert _load(RISK_ALLOW_WHEN_CB=value).allow_when_cb is expected
    with pytest.raises(ConfigError, match="RISK_ALLOW_WHEN_CB='yes'"):
        _load(RISK_ALLOW_WHEN_CB="yes")
