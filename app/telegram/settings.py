"""Telegram settings: every ``TELEGRAM_*`` variable, typed, validated and read once.

Values come from the process environment, then from ``.env`` (the environment wins),
exactly like the ``RISK_*`` settings (``app/settings.py`` validates both when a program
starts, so a bad value stops it with exit code 2). An unset ``TELEGRAM_BOT_TOKEN`` means
Telegram is off: no message is queued or sent and nothing else changes. An empty value
is an error (remove the line instead), and so is an unknown ``TELEGRAM_*`` name.

The token is a secret: no error message, log line or ``repr`` ever shows it (errors name
its length only; the field is a ``SecretStr``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from app.errors import ConfigError
from app.explicit_settings import ExplicitSettings
from app.redaction import Redactor

ENV_PREFIX = "TELEGRAM_"
DEFAULT_API_URL = "https://api.telegram.org"
# BotFather's tokens: the bot's numeric id, a colon, a 35-character secret.
_TOKEN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,200}$")
_MAX_SHOWN = 60


def _allowed(text: str) -> dict[str, Any]:
    return {"allowed": text}


class TelegramSettings(ExplicitSettings):
    """Where operations messages go and who may command. Field docs are the operator contract."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", case_sensitive=False
    )

    bot_token: SecretStr | None = Field(
        None,
        description="Token of the operations bot (from @BotFather); unset = Telegram off. "
        "Must not be the token of Freqtrade's own Telegram bot.",
        json_schema_extra=_allowed("<bot id>:<secret> as @BotFather gives it"),
    )
    chat_id: int | None = Field(
        None,
        description="Chat that receives the messages (required with a token).",
        json_schema_extra=_allowed("a whole number, e.g. 123456789 or -1001234567890 (group)"),
    )
    allowed_chat_ids: tuple[int, ...] | None = Field(
        None,
        description="Chats whose commands are obeyed; default TELEGRAM_CHAT_ID.",
        json_schema_extra=_allowed("whole numbers separated by commas, e.g. 123456789,-100123"),
    )
    api_url: str = Field(
        DEFAULT_API_URL,
        description="Root URL of the Bot API (a self-hosted Bot API server or a test "
        "server); /bot<token>/<method> is added.",
        json_schema_extra=_allowed("an http(s) URL without /bot..., e.g. https://api.telegram.org"),
    )

    @field_validator("bot_token", mode="before")
    @classmethod
    def _token_shape(cls, value: object) -> object:
        if isinstance(value, str) and not _TOKEN.match(value.strip()):
            raise ValueError("not a bot token")
        return value.strip() if isinstance(value, str) else value

    @field_validator("allowed_chat_ids", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",")]
            if not any(items):
                raise ValueError("no chat id given")
            return tuple(items)
        return value

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL")
        if parts.query or parts.fragment or "/bot" in parts.path:
            raise ValueError("give the root URL only; the tool adds /bot<token>/<method>")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _chat_needed(self) -> TelegramSettings:
        if self.bot_token is not None and self.chat_id is None:
            raise ValueError("chat_id: required with a token")
        return self

    @property
    def enabled(self) -> bool:
        """True when a token is set: messages are queued and sent."""
        return self.bot_token is not None

    @property
    def token(self) -> str:
        """The token (call only where it is sent to Telegram; never log it)."""
        if self.bot_token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set; Telegram is off")
        return self.bot_token.get_secret_value()

    @property
    def allowed(self) -> frozenset[int]:
        """Chats obeyed: TELEGRAM_ALLOWED_CHAT_IDS, else TELEGRAM_CHAT_ID."""
        if self.allowed_chat_ids is not None:
            return frozenset(self.allowed_chat_ids)
        return frozenset() if self.chat_id is None else frozenset({self.chat_id})


def env_name(field: str) -> str:
    """``chat_id`` -> ``TELEGRAM_CHAT_ID``."""
    return f"{ENV_PREFIX}{field.upper()}"


KNOWN_VARIABLES: frozenset[str] = frozenset(env_name(f) for f in TelegramSettings.model_fields)


def _collect(environ: Mapping[str, str], dotenv_path: Path | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        for key, value in dotenv_values(dotenv_path).items():
            if key.upper().startswith(ENV_PREFIX) and value is not None:
                merged[key.upper()] = value
    for key, value in environ.items():
        if key.upper().startswith(ENV_PREFIX):
            merged[key.upper()] = value
    return merged


def shown(name: str, value: str, token: str | None = None) -> str:
    """How a value appears in an error: the token never (not even inside another value),
    long values cut."""
    if name == env_name("bot_token"):
        return f"<hidden: {len(value)} characters>"
    value = Redactor.from_sources(extra=[token] if token else ()).redact(value)
    if len(value) > _MAX_SHOWN:
        return repr(f"{value[:_MAX_SHOWN]}...") + f" ({len(value)} characters)"
    return repr(value)


def _explain(error: Mapping[str, Any], raw: Mapping[str, str]) -> str:
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"])
    field = loc[0] if loc else message.removeprefix("Value error, ").split(":", 1)[0]
    name = env_name(field)
    info = TelegramSettings.model_fields.get(field)
    extra = info.json_schema_extra if info is not None else None
    allowed = extra.get("allowed") if isinstance(extra, dict) else "a valid value"
    value = raw.get(name)
    if value is None:
        return f"{name} is not set but TELEGRAM_BOT_TOKEN is; set {allowed}"
    problem = message.removeprefix("Value error, ")
    problem = problem[:1].lower() + problem[1:]
    token = raw.get(env_name("bot_token"))
    return f"{name}={shown(name, value, token)} is invalid ({problem}); use {allowed}"


def load_telegram_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = Path(".env"),
) -> TelegramSettings:
    """Read, validate and return the settings; :class:`ConfigError` (exit 2) names each bad one."""
    raw = _collect(os.environ if environ is None else environ, dotenv_path)
    unknown = sorted(set(raw) - KNOWN_VARIABLES)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)}; check the spelling against "
            f".env.example (known: {', '.join(sorted(KNOWN_VARIABLES))})"
        )
    empty = sorted(name for name, value in raw.items() if value.strip() == "")
    if empty:
        raise ConfigError(
            "; ".join(f"{name}= is empty; set a value or remove the line" for name in empty)
            + " (an unset TELEGRAM_BOT_TOKEN turns Telegram off)"
        )
    values: dict[str, Any] = {key[len(ENV_PREFIX) :].lower(): v for key, v in raw.items()}
    try:
        return TelegramSettings(**values)
    except ValidationError as exc:
        raise ConfigError("; ".join(_explain(err, raw) for err in exc.errors())) from None


@functools.cache
def get_telegram_settings() -> TelegramSettings:
    """The process-wide settings, validated on first use."""
    return load_telegram_settings()
