"""Exporter settings: which Freqtrade bots to poll and how, from the environment only.

Read once at start from the process environment and ``.env`` (the environment wins),
like the ``RISK_*`` settings; a bad value stops the exporter with exit code 2 and a
message naming the variable, the value and the fix. Credentials are never taken from a
file of the repository, never logged and never shown (``repr`` hides them).

``EXPORTER_BOTS``            ``NAME=URL`` pairs, comma-separated: the bots to poll, e.g.
                             ``tradingbot-dryrun=http://127.0.0.1:8080``. NAME is the
                             ``bot`` label: use the bot's ``bot_name`` (or strategy class
                             name), as its guard does. Absent or empty: no bot is polled.
``EXPORTER_BOT_<NAME>_USERNAME`` / ``_PASSWORD``
                             the bot's REST API login; NAME upper-cased, every character
                             outside A-Z 0-9 becomes ``_``. Default: ``FREQTRADE__API_
                             SERVER__USERNAME`` / ``_PASSWORD`` (one bot beside the exporter).
``EXPORTER_BOT_TIMEOUT_SEC`` seconds each REST request may take (default 2, 0.1-30).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from app.errors import ConfigError

BOTS_ENV = "EXPORTER_BOTS"
TIMEOUT_ENV = "EXPORTER_BOT_TIMEOUT_SEC"
USER_FALLBACK_ENV = "FREQTRADE__API_SERVER__USERNAME"
PASSWORD_FALLBACK_ENV = "FREQTRADE__API_SERVER__PASSWORD"  # noqa: S105  # a variable name
PREFIX = "EXPORTER_"
DEFAULT_TIMEOUT_S = 2.0
MAX_BOTS = 50
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CREDENTIAL = re.compile(r"^EXPORTER_BOT_(?P<key>[A-Z0-9_]+)_(?P<what>USERNAME|PASSWORD)$")
_EXAMPLE = "tradingbot-dryrun=http://127.0.0.1:8080"


def env_key(name: str) -> str:
    """``my-bot.1`` -> ``MY_BOT_1`` (the NAME part of its credential variables)."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


@dataclass(frozen=True, slots=True)
class BotTarget:
    """One bot to poll. The credentials never appear in ``repr``."""

    name: str
    url: str
    username: str = field(repr=False)
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ExporterSettings:
    """What the exporter polls."""

    bots: tuple[BotTarget, ...] = ()
    bot_timeout_s: float = DEFAULT_TIMEOUT_S


def _collect(environ: Mapping[str, str], dotenv_path: Path | None) -> dict[str, str]:
    wanted = (PREFIX, USER_FALLBACK_ENV, PASSWORD_FALLBACK_ENV)
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        values = dotenv_values(dotenv_path).items()
        merged = {k: v for k, v in values if k.startswith(wanted) and v is not None}
    merged.update({k: v for k, v in environ.items() if k.startswith(wanted)})
    return merged


def _url(name: str, text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{BOTS_ENV}: the URL {text!r} of bot {name!r} is not http(s)://HOST:PORT; "
            f"write e.g. {_EXAMPLE}"
        )
    if parts.username or parts.password:
        raise ConfigError(
            f"{BOTS_ENV}: the URL of bot {name!r} carries credentials; remove them and set "
            f"EXPORTER_BOT_{env_key(name)}_USERNAME / _PASSWORD instead"
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigError(
            f"{BOTS_ENV}: the URL {text!r} of bot {name!r} has a path; give the API's root "
            f"(scheme, host and port only), e.g. {_EXAMPLE}"
        )
    return text.rstrip("/")


def _targets(raw: Mapping[str, str]) -> list[tuple[str, str]]:
    text = raw.get(BOTS_ENV, "").strip()
    if not text:
        return []
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        name, sep, url = item.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not _NAME.match(name):
            raise ConfigError(
                f"{BOTS_ENV}={text!r}: {item!r} is not NAME=URL with NAME of letters, digits, "
                f"'_', '.', '-' (at most 64); write e.g. {_EXAMPLE}"
            )
        pairs.append((name, _url(name, url)))
    keys = [env_key(name) for name, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ConfigError(
            f"{BOTS_ENV}={text!r} names a bot twice (names that differ only in case or in "
            "'_', '.', '-' share their credential variables); give each bot its own name"
        )
    if len(pairs) > MAX_BOTS:
        raise ConfigError(f"{BOTS_ENV} lists {len(pairs)} bots; at most {MAX_BOTS} are polled")
    return pairs


def _timeout(raw: Mapping[str, str]) -> float:
    text = raw.get(TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.1 <= value <= 30:
        raise ConfigError(
            f"{TIMEOUT_ENV}={text!r} is invalid; use a number of seconds in [0.1, 30] "
            f"(default {DEFAULT_TIMEOUT_S:g})"
        )
    return value


def _credential(raw: Mapping[str, str], name: str, what: str, fallback: str) -> str:
    own = f"EXPORTER_BOT_{env_key(name)}_{what}"
    value = raw.get(own) or raw.get(fallback)
    if not value:
        raise ConfigError(
            f"bot {name!r} in {BOTS_ENV} has no API {what.lower()}: set {own} (or {fallback} "
            "for every bot) in the environment or .env"
        )
    return value


def load_exporter_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: Path | None = Path(".env")
) -> ExporterSettings:
    """Read and validate the settings; :class:`ConfigError` (exit 2) names a bad value."""
    raw = _collect(os.environ if environ is None else environ, dotenv_path)
    pairs = _targets(raw)
    keys = {env_key(name) for name, _ in pairs}
    for variable in sorted(raw):
        match = _CREDENTIAL.match(variable)
        if variable in (BOTS_ENV, TIMEOUT_ENV, USER_FALLBACK_ENV, PASSWORD_FALLBACK_ENV):
            continue
        if match is None or match["key"] not in keys:
            raise ConfigError(
                f"unknown setting {variable}; the exporter reads {BOTS_ENV}, {TIMEOUT_ENV} and "
                f"EXPORTER_BOT_<NAME>_USERNAME/_PASSWORD for the NAMEs in {BOTS_ENV} "
                f"({', '.join(sorted(keys)) or 'none'}): check the spelling"
            )
    bots = tuple(
        BotTarget(
            name,
            url,
            _credential(raw, name, "USERNAME", USER_FALLBACK_ENV),
            _credential(raw, name, "PASSWORD", PASSWORD_FALLBACK_ENV),
        )
        for name, url in pairs
    )
    return ExporterSettings(bots=bots, bot_timeout_s=_timeout(raw))
