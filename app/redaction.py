"""Keep secrets out of everything the bundle prints or stores.

Freqtrade prints a rejected configuration in its error messages, passwords included; a
log excerpt, an incident, a backup or a Telegram message must never carry such a value
onward. A :class:`Redactor` knows the secret *values* of one process -- from secret
environment variables and from the secret keys of a Freqtrade config -- and replaces
each occurrence (also JSON-, repr- and URL-escaped) with :data:`MASK`. Independently of
known values it masks what looks like a secret by its context: ``"password": "..."``,
``token=...``, ``https://user:pass@host`` and Telegram bot tokens (``bot<id>:<secret>``).

Values shorter than :data:`MIN_VALUE_LENGTH` are not searched for by value (a one-letter
password would mask every such letter in a log); the context rules still catch them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

MASK = "[REDACTED]"
MIN_VALUE_LENGTH = 4

# Config keys whose values are credentials (Freqtrade's sanitize_config list and ours),
# compared in lower case: never hashed, logged or stored.
SECRET_KEYS = frozenset(
    {
        "key", "secret", "password", "uid", "apikey", "api_key", "private_key", "privatekey",
        "jwt_secret_key", "ws_token", "token", "chat_id", "username", "walletaddress",
        "wallet_address", "account_id", "accountid", "webhook_url", "url",
    }
)  # fmt: skip
# Keys whose values are secrets only inside these sections ("url" is harmless elsewhere).
_SECTION_ONLY = {"url": frozenset({"webhook"}), "username": frozenset({"api_server"})}

# Environment variables holding secrets, by name.
_SECRET_ENV = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|JWT|WEBHOOK"
    r"|__KEY$|__UID$|__USERNAME$|_DB_URL$|DATABASE_URL$|_DSN$)",
    re.IGNORECASE,
)
_CONTEXT_KEYS = (
    r"password|passwd|passphrase|secret|token|api_?key|apikey|private_?key|jwt_secret_key"
    r"|ws_token|webhook_url"
)
# "password": "x"  /  'password': 'x'  (JSON, Python repr of a dict)
_QUOTED = re.compile(
    rf"""(?P<head>(?P<q>["'])(?:[\w.]*?(?:{_CONTEXT_KEYS}))(?P=q)\s*:\s*)(?P<v>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""",
    re.IGNORECASE,
)
# password=x  /  token: x  (command lines, .env lines, YAML, log fields)
_ASSIGNED = re.compile(
    rf"(?P<head>\b[\w.-]*(?:{_CONTEXT_KEYS})\s*[=:]\s*)(?!\[REDACTED\])(?P<v>[^\s,;'\"}}\]]+)",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[a-z][\w+.-]*://[^:/@\s]*:)(?P<v>[^@\s/]+)(?=@)")
_BOT_TOKEN = re.compile(r"\b(?P<head>(?:bot)?\d{5,}:)(?P<v>[A-Za-z0-9_-]{30,})")

# Cheap necessary conditions, checked before the context rules (most text has no secret;
# the rules cost about 90 us per log line, the checks a few). A context key always
# contains one of these words once folded to lower case; the characters that
# re.IGNORECASE matches to an ASCII letter but str.lower() does not are folded first.
_KEY_HINTS = ("passw", "passphrase", "secret", "token", "apikey", "api_key", "private", "webhook")
_IGNORECASE_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})
_BOT_HINT = re.compile(r"\d{5}:")


def is_secret_env(name: str) -> bool:
    """True when the environment variable ``name`` holds a secret by its name."""
    return bool(_SECRET_ENV.search(name))


def _is_secret_key(key: str, section: str | None) -> bool:
    lowered = key.lower()
    if lowered not in SECRET_KEYS:
        return False
    sections = _SECTION_ONLY.get(lowered)
    return sections is None or section in sections


def config_secret_values(config: Any, section: str | None = None) -> set[str]:
    """Every string (or number) under a secret key of a Freqtrade config, at any depth."""
    found: set[str] = set()
    if isinstance(config, Mapping):
        for key, value in config.items():
            if _is_secret_key(str(key), section) and isinstance(value, str | int | float):
                if not isinstance(value, bool) and str(value):
                    found.add(str(value))
            else:
                found |= config_secret_values(value, str(key).lower())
    elif isinstance(config, list):
        for item in config:
            found |= config_secret_values(item, section)
    return found


def _url_passwords(text: str) -> set[str]:
    return {m.group("v") for m in _URL_CREDENTIALS.finditer(text)}


def _variants(value: str) -> set[str]:
    """The forms a value takes when printed: raw, JSON-escaped, repr-escaped, URL-quoted."""
    return {
        value,
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        quote(value, safe=""),
        quote(value, safe="/:@"),
    }


# Values that hide nothing: empty, or masked already (by us, or by Freqtrade's sanitizer).
_NOTHING_TO_HIDE = frozenset({"", MASK, "REDACTED"})


def _mask_group(match: re.Match[str]) -> str:
    value = match.group("v")
    if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
        if value[1:-1] in _NOTHING_TO_HIDE:
            return match.group(0)
        return f"{match.group('head')}{value[0]}{MASK}{value[0]}"
    if value in _NOTHING_TO_HIDE:
        return match.group(0)
    return f"{match.group('head')}{MASK}"


@dataclass(frozen=True)
class Redactor:
    """Replaces known secret values and context-recognised secrets with :data:`MASK`."""

    values: frozenset[str] = frozenset()

    @classmethod
    def from_sources(
        cls,
        environ: Mapping[str, str] | None = None,
        configs: Iterable[Any] = (),
        extra: Iterable[str] = (),
    ) -> Redactor:
        """Secrets of ``environ`` (by variable name, and passwords inside URLs), of each
        config (by key) and ``extra`` values."""
        values: set[str] = set(extra)
        for name, value in (environ or {}).items():
            if is_secret_env(name):
                values.add(value)
            values |= _url_passwords(value)
        for config in configs:
            values |= config_secret_values(config)
        return cls(frozenset(v for v in values if len(v) >= MIN_VALUE_LENGTH))

    def with_values(self, values: Iterable[str]) -> Redactor:
        """A redactor that also knows ``values``."""
        more = {v for v in values if len(v) >= MIN_VALUE_LENGTH}
        return Redactor(self.values | more)

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        forms = {form for value in self.values for form in _variants(value) if form}
        if not forms:
            return None
        # Longest first, so that a secret containing another is masked whole.
        ordered = sorted(forms, key=lambda f: (-len(f), f))
        return re.compile("|".join(re.escape(form) for form in ordered))

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by :data:`MASK`."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        folded = text.translate(_IGNORECASE_FOLD).lower()
        keyed = any(hint in folded for hint in _KEY_HINTS)
        if keyed:
            text = _QUOTED.sub(_mask_group, text)
        if "://" in text:
            text = _URL_CREDENTIALS.sub(_mask_group, text)
        if _BOT_HINT.search(text):
            text = _BOT_TOKEN.sub(_mask_group, text)
        return _ASSIGNED.sub(_mask_group, text) if keyed else text

    def redact_values(self, text: str) -> str:
        """``text`` with the known secret values masked; no context rules (for data such as
        order ids and tags, which a context rule must not touch)."""
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)

    def redact_bytes(self, data: bytes) -> bytes:
        """The same for bytes (decoded as UTF-8, undecodable bytes kept as escapes)."""
        return self.redact(data.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape"
        )

    def contains_secret(self, text: str) -> bool:
        """True when :meth:`redact` would change ``text``."""
        return self.redact(text) != text
