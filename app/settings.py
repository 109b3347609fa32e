"""Guard settings: every ``RISK_*`` variable, typed, range-checked and read once.

Values come from the process environment, then from ``.env`` in the working
directory (the environment wins). A value that cannot be parsed or is out of
range raises :class:`app.errors.ConfigError` (exit code 2) with a message that
names the variable, the value and the allowed range. An unknown ``RISK_*``
name is an error too: a typo must not silently turn a limit off.

Ratios are decimals (``0.10`` = 10 %). Optional limits are *off* when the
variable is absent; an empty value is refused, because an operator who writes
``RISK_DAILY_LOSS_CAP_PCT=`` may well believe a cap is set. The one exception
is ``RISK_MAX_CONCURRENT_BACKTESTS``, where blank means unlimited (DESIGN.md).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from app.config_input import (
    OptionalPlainDecimal,
    OptionalPlainInt,
    PlainInt,
    ZeroOrOne,
    read_dotenv,
)
from app.errors import ConfigError
from app.explicit_settings import ExplicitSettings
from app.telegram.settings import load_telegram_settings
from app.text import cut, printable, shown

ENV_PREFIX = "RISK_"

RATIO = "a decimal in (0, 1], e.g. 0.2 for 20 %"


def _allowed(text: str) -> dict[str, Any]:
    return {"allowed": text}


class RiskSettings(ExplicitSettings):
    """The guard's configuration. Field docs are the operator contract (see RUNBOOK)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        validate_default=True,
        allow_inf_nan=False,
    )

    # -- RUN GATES --------------------------------------------------------------------------
    state_dir: Path = Field(
        Path("user_data/state"),
        description="State folder: running/*.lock slots and the circuit breaker file.",
        json_schema_extra=_allowed("a folder path"),
    )
    circuit_breaker_file: Path | None = Field(
        None,
        description="Circuit breaker file; default <state_dir>/circuit_breaker.json.",
        json_schema_extra=_allowed("a file path"),
    )
    allow_when_cb: ZeroOrOne = Field(
        False,
        description="1 = run despite an active breaker (manual override, logged as an incident).",
        json_schema_extra=_allowed("0 or 1"),
    )
    max_concurrent_backtests: PlainInt = Field(
        0,
        ge=0,
        description="Backtest/hyperopt slots; 0 or blank = unlimited.",
        json_schema_extra=_allowed("a whole number >= 0 (0 or blank = unlimited)"),
    )
    concurrency_ttl_sec: PlainInt = Field(
        900,
        ge=1,
        le=7 * 24 * 3600,
        description="A slot older than this many seconds is orphaned and reclaimed.",
        json_schema_extra=_allowed("a whole number of seconds in [1, 604800]"),
    )
    max_backtest_drawdown_pct: OptionalPlainDecimal = Field(
        None,
        gt=0,
        le=1,
        description="Refuse a backtest when the strategy's latest max_drawdown_account >= this.",
        json_schema_extra=_allowed(RATIO),
    )

    # -- REGISTRY ---------------------------------------------------------------------------
    db_path: Path = Field(
        Path("user_data/registry/strategies_registry.sqlite"),
        description="Registry SQLite file.",
        json_schema_extra=_allowed("a file path"),
    )
    db_url: str | None = Field(
        None,
        min_length=1,
        description="Any SQLAlchemy URL for the registry; overrides RISK_DB_PATH.",
        json_schema_extra=_allowed("an SQLAlchemy URL, e.g. postgresql+psycopg://u:p@host/db"),
    )

    # -- LIVE / DRY-RUN ENTRY RULES (absent = off) -------------------------------------------
    live_max_concurrent_trades: OptionalPlainInt = Field(
        None,
        ge=1,
        le=10_000,
        description="Open trades allowed at once.",
        json_schema_extra=_allowed("a whole number in [1, 10000]"),
    )
    live_max_per_market_exposure_pct: OptionalPlainDecimal = Field(
        None,
        gt=0,
        le=1,
        description="Stake in one market as a share of the wallet.",
        json_schema_extra=_allowed(RATIO),
    )
    max_exposure_pct: OptionalPlainDecimal = Field(
        None,
        gt=0,
        le=1,
        description="Stake in all open trades as a share of the wallet.",
        json_schema_extra=_allowed(RATIO),
    )
    max_position_pct: OptionalPlainDecimal = Field(
        None,
        gt=0,
        le=1,
        description="Largest stake of one entry as a share of the wallet (stakes are trimmed).",
        json_schema_extra=_allowed(RATIO),
    )
    daily_loss_cap_pct: OptionalPlainDecimal = Field(
        None,
        gt=0,
        le=1,
        description="Halt entries until 00:00 UTC when the day's loss (realised + unrealised) "
        "reaches this share of the day's starting equity.",
        json_schema_extra=_allowed(RATIO),
    )
    max_daily_drawdown_pct: OptionalPlainDecimal = Field(
        None,
        gt=0,
        le=1,
        description="Trip the circuit breaker when equity (incl. open trades) falls this far "
        "below the day's peak.",
        json_schema_extra=_allowed(RATIO),
    )
    loss_streak_max: OptionalPlainInt = Field(
        None,
        ge=1,
        le=1000,
        description="Consecutive losing closed trades that start a cooldown.",
        json_schema_extra=_allowed("a whole number in [1, 1000]"),
    )
    session_cooldown_minutes: PlainInt = Field(
        60,
        ge=1,
        le=7 * 24 * 60,
        description="Length of the cooldown after a losing streak.",
        json_schema_extra=_allowed("a whole number of minutes in [1, 10080]"),
    )
    data_stale_timeout_sec: OptionalPlainInt = Field(
        None,
        ge=0,
        le=7 * 24 * 3600,
        description="Refuse entries when the last candle is older than one timeframe plus this.",
        json_schema_extra=_allowed("a whole number of seconds in [0, 604800]"),
    )
    max_entry_deviation_pct: OptionalPlainDecimal = Field(
        None,
        gt=0,
        le=1,
        description="Refuse an entry whose rate is further than this from the last close.",
        json_schema_extra=_allowed(RATIO),
    )
    near_liq_buffer_multiplier: OptionalPlainDecimal = Field(
        None,
        ge=1,
        le=100,
        description="Refuse a leveraged entry when the liquidation distance is less than this "
        "many stoploss distances.",
        json_schema_extra=_allowed("a number in [1, 100]"),
    )
    max_leverage: OptionalPlainDecimal = Field(
        None,
        ge=1,
        le=125,
        description="Cap on the leverage the strategy may request.",
        json_schema_extra=_allowed("a number in [1, 125]"),
    )
    incident_rate_limit_sec: PlainInt = Field(
        300,
        ge=0,
        le=24 * 3600,
        description="At most one incident per refusal reason in this many seconds.",
        json_schema_extra=_allowed("a whole number of seconds in [0, 86400]"),
    )

    @field_validator("state_dir", "circuit_breaker_file", "db_path", mode="before")
    @classmethod
    def _path_not_blank(cls, value: object) -> object:
        # Path("") is Path("."): a blank value would silently mean "the working directory".
        if isinstance(value, str) and value.strip() == "":
            raise ValueError("a path is required")
        if isinstance(value, str) and "\x00" in value:  # only a .env can carry one
            raise ValueError("a path cannot contain a NUL character")
        return value

    @field_validator("max_concurrent_backtests", mode="before")
    @classmethod
    def _blank_is_unlimited(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() == "":
            return 0
        return value

    @property
    def breaker_file(self) -> Path:
        """The circuit breaker file, defaulting to ``<state_dir>/circuit_breaker.json``."""
        if self.circuit_breaker_file is not None:
            return self.circuit_breaker_file
        return self.state_dir / "circuit_breaker.json"

    @property
    def database_url(self) -> str:
        """The registry's SQLAlchemy URL: ``RISK_DB_URL`` or SQLite at ``RISK_DB_PATH``.

        ``RISK_DB_PATH`` is a path, never parsed as a URL: ``%41``, ``?``, ``#`` and
        non-ASCII letters in it name exactly that file (see :func:`sqlite_url`).
        """
        if self.db_url:
            return self.db_url
        return sqlite_url(self.db_path)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL text of the SQLite file ``path``, quoted so it parses back to it.

    Built with ``URL.create`` (which percent-quotes the file name) instead of pasting the
    path after ``sqlite:///``, where ``reg%41.sqlite`` would open ``regA.sqlite`` and
    ``?mode=ro`` would become a driver option. ``:memory:`` is SQLite's in-memory name,
    so such a path is written ``./:memory:``: a file, like every other path.
    """
    from sqlalchemy.engine import URL

    database = str(path)
    if database == ":memory:":
        database = f"./{database}"
    return URL.create("sqlite", database=database).render_as_string(hide_password=False)


def env_name(field: str) -> str:
    """The environment variable of a settings field: ``max_position_pct`` -> ``RISK_MAX_...``."""
    return f"{ENV_PREFIX}{field.upper()}"


KNOWN_VARIABLES: frozenset[str] = frozenset(env_name(f) for f in RiskSettings.model_fields)


def _collect(environ: Mapping[str, str], dotenv_path: Path | None) -> dict[str, str]:
    """Merge ``.env`` and the environment (environment wins), keeping only ``RISK_*``.

    The whole ``.env`` is checked (:func:`app.config_input.read_dotenv`), not only its
    ``RISK_*`` lines: a broken line may well have been meant as a limit.
    """
    merged: dict[str, str] = {}
    if dotenv_path is not None:
        for key, value in read_dotenv(dotenv_path).items():
            if key.upper().startswith(ENV_PREFIX):
                merged[key.upper()] = value
    for key, value in environ.items():
        if key.upper().startswith(ENV_PREFIX):
            merged[key.upper()] = value
    return merged


def _explain(error: Mapping[str, Any], raw: Mapping[str, str]) -> str:
    field = str(error["loc"][0]) if error["loc"] else "?"
    name = env_name(field)
    info = RiskSettings.model_fields.get(field)
    extra = info.json_schema_extra if info is not None else None
    allowed = extra.get("allowed") if isinstance(extra, dict) else None
    value = raw.get(name, error.get("input"))
    if isinstance(value, str) and value.strip() == "":
        problem = "is empty"
        fix = f"set {allowed}, or remove the variable to use the default"
    else:
        # A ValueError of our parsers reads better without pydantic's "Value error, ".
        detail = str(error["msg"]).removeprefix("Value error, ")
        problem = f"is invalid ({detail[:1].lower()}{detail[1:]})"
        fix = f"use {allowed}"
    return f"{name}={shown(value)} {problem}; {fix}"


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = Path(".env"),
) -> RiskSettings:
    """Read, validate and return the settings.

    Raises :class:`ConfigError` (exit code 2) naming every bad or unknown variable (the
    ``RISK_*`` ones, then the ``TELEGRAM_*`` ones of ``app/telegram/settings.py``).
    """
    raw = _collect(os.environ if environ is None else environ, dotenv_path)
    unknown = sorted(set(raw) - KNOWN_VARIABLES)
    if unknown:
        named = ", ".join(printable(cut(name)) for name in unknown)
        raise ConfigError(
            f"unknown setting(s) {named}; check the spelling against "
            f".env.example (known: {', '.join(sorted(KNOWN_VARIABLES))})"
        )
    values: dict[str, Any] = {key[len(ENV_PREFIX) :].lower(): v for key, v in raw.items()}
    try:
        settings = RiskSettings(**values)
    except ValidationError as exc:
        messages = [_explain(err, raw) for err in exc.errors()]
        raise ConfigError("; ".join(messages)) from None
    # Every program reads these settings at start: the TELEGRAM_* ones are checked here too.
    load_telegram_settings(environ, dotenv_path)
    return settings


@functools.cache
def get_settings() -> RiskSettings:
    """The process-wide settings, validated on first use."""
    return load_settings()


def env_example_lines() -> list[str]:
    """``.env.example`` lines for every variable: a comment, then the default or a placeholder.

    Optional limits (off by default) are written commented out, so copying the file
    changes nothing until the operator uncomments a line.
    """
    lines: list[str] = []
    for field, info in RiskSettings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        lines.append(f"# {info.description} Allowed: {extra.get('allowed')}.")
        default = info.default
        if default is None or field == "circuit_breaker_file":
            lines.append(f"# {env_name(field)}=")
        elif isinstance(default, bool):
            lines.append(f"{env_name(field)}={int(default)}")
        else:
            lines.append(f"{env_name(field)}={default}")
    return lines
