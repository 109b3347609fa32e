"""Freqtrade configuration as Freqtrade itself would resolve it, read without Freqtrade.

Files are parsed with rapidjson in Freqtrade's mode (comments and trailing commas
allowed), ``add_config_files`` are followed, later files override earlier ones,
and ``FREQTRADE__SECTION__KEY`` environment variables override files. Paths are
resolved as Freqtrade 2026.9 does: ``--userdir`` or ``user_data_dir`` or
``./user_data``; ``--datadir`` or ``<user_data_dir>/data/<exchange>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rapidjson

from app.errors import ConfigError
from app.runner.ftargs import Invocation

DEFAULT_CONFIG = Path("user_data/configs/config.testnet.json")
_PARSE_MODE = rapidjson.PM_COMMENTS | rapidjson.PM_TRAILING_COMMAS
_ENV_PREFIX = "FREQTRADE__"
# Keys whose values are credentials: never hashed, logged or stored.
SECRET_KEYS = frozenset(
    {
        "key", "secret", "password", "uid", "apikey", "api_key", "private_key", "privatekey",
        "jwt_secret_key", "ws_token", "token", "chat_id", "username", "walletaddress",
    }
)  # fmt: skip


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``override`` (override wins)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_file(path: Path) -> dict[str, Any]:
    """One config file; :class:`ConfigError` names the file and the problem."""
    try:
        data = rapidjson.loads(path.read_text(), parse_mode=_PARSE_MODE)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found; pass an existing file with -c "
            f"(the project's configs are in user_data/configs/)"
        ) from None
    except (OSError, rapidjson.JSONDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return data


def load_files(files: list[Path], base: Path | None = None, level: int = 0) -> dict[str, Any]:
    """Merge ``files`` like Freqtrade's ``load_from_files`` (later files win)."""
    if level > 5:
        raise ConfigError("add_config_files nests more than 5 levels; is there a loop?")
    config: dict[str, Any] = {}
    for name in files:
        path = base / name if base is not None else name
        data = load_file(path)
        extra = data.get("add_config_files")
        if isinstance(extra, list):
            sub = load_files([Path(p) for p in extra], path.resolve().parent, level + 1)
            data = deep_merge(sub, data)
        config = deep_merge(config, data)
    return config


def _typed(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    if value.lower() in ("t", "true"):
        return True
    if value.lower() in ("f", "false"):
        return False
    return value


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``FREQTRADE__EXCHANGE__NAME=kraken`` -> ``{"exchange": {"name": "kraken"}}``."""
    nested: dict[str, Any] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(_ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(_ENV_PREFIX) :].split("__")]
        entry: Any = _typed(value)
        for part in reversed(parts):
            entry = {part: entry}
        nested = deep_merge(nested, entry)
    return nested


def without_secrets(value: Any) -> Any:
    """A copy of a config with every credential removed (see :data:`SECRET_KEYS`)."""
    if isinstance(value, Mapping):
        return {
            k: without_secrets(v) for k, v in value.items() if str(k).lower() not in SECRET_KEYS
        }
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the config without secrets, in a canonical JSON form."""
    blob = json.dumps(without_secrets(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class ResolvedConfig:
    """The merged configuration and the paths Freqtrade will use."""

    files: list[Path]
    data: dict[str, Any]
    user_data_dir: Path
    datadir: Path
    exchange: str
    trading_mode: str
    dry_run: bool
    timeframe: str | None
    whitelist: list[str]

    @property
    def futures(self) -> bool:
        return self.trading_mode == "futures"

    @property
    def candle_dir(self) -> Path:
        """Where this config's trade candles are: ``<datadir>/futures`` for futures."""
        return self.datadir / "futures" if self.futures else self.datadir


def resolve(inv: Invocation, environ: Mapping[str, str]) -> ResolvedConfig:
    """Load and resolve the configuration of ``inv`` (default config when none is given)."""
    files = inv.configs or [DEFAULT_CONFIG]
    data = deep_merge(load_files(files), env_overrides(environ))
    exchange = data.get("exchange")
    if not isinstance(exchange, dict) or not exchange.get("name"):
        raise ConfigError(f"config {', '.join(map(str, files))} has no exchange.name; add one")
    userdir = inv.userdir or Path(str(data.get("user_data_dir") or "user_data"))
    name = str(exchange["name"]).lower()
    datadir = inv.datadir or userdir / "data" / name
    whitelist = inv.pairs or [str(p) for p in exchange.get("pair_whitelist", [])]
    return ResolvedConfig(
        files=files,
        data=data,
        user_data_dir=userdir,
        datadir=datadir,
        exchange=name,
        trading_mode=str(inv.trading_mode or data.get("trading_mode") or "spot"),
        dry_run=bool(data.get("dry_run", True)) or inv.dry_run_flag,
        timeframe=inv.timeframe or data.get("timeframe"),
        whitelist=whitelist,
    )


def expand_pairs(patterns: list[str], available: list[str]) -> tuple[list[str], list[str]]:
    """Freqtrade-style whitelist expansion: (matched pairs, patterns that matched nothing)."""
    matched: list[str] = []
    missing: list[str] = []
    for pattern in patterns:
        try:
            regex = re.compile(f"^{pattern}$")
        except re.error:
            missing.append(pattern)
            continue
        hits = [p for p in available if p == pattern or regex.match(p)]
        if not hits:
            missing.append(pattern)
        matched.extend(h for h in hits if h not in matched)
    return matched, missing
