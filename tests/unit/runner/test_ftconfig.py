"""Resolving Freqtrade configuration files the way Freqtrade does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.runner.ftargs import parse_invocation
from app.runner.ftconfig import config_hash, env_overrides, expand_pairs, load_files, resolve


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_load_files_when_comments_and_add_config_files_then_merged_later_wins(
    tmp_path: Path,
) -> None:
    """Comments and trailing commas parse; add_config_files load first; later -c wins."""
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "extra.json", {"stake_amount": 1, "timeframe": "1h"})
    (tmp_path / "base.json").write_text(
        '{\n // comment\n "add_config_files": ["sub/extra.json"],\n "timeframe": "5m",\n}'
    )
    _write(tmp_path / "over.json", {"stake_amount": 2})

    config = load_files([tmp_path / "base.json", tmp_path / "over.json"])

    assert config["timeframe"] == "5m"  # the including file overrides what it includes
    assert config["stake_amount"] == 2


def test_env_overrides_when_freqtrade_vars_then_nested_and_typed() -> None:
    """FREQTRADE__SECTION__KEY variables become nested, typed overrides."""
    env = {"FREQTRADE__EXCHANGE__NAME": "kraken", "FREQTRADE__DRY_RUN": "false", "OTHER": "x"}

    assert env_overrides(env) == {"exchange": {"name": "kraken"}, "dry_run": False}


def test_resolve_when_no_datadir_then_userdir_data_exchange(tmp_path: Path) -> None:
    """The datadir defaults to <user_data_dir>/data/<exchange>, as in Freqtrade 2026.9."""
    cfg_path = _write(
        tmp_path / "c.json",
        {"exchange": {"name": "Binance", "pair_whitelist": [".*/BTC"]}, "dry_run": True},
    )
    inv = parse_invocation(["backtesting", "-c", str(cfg_path), "--userdir", "ud"])

    cfg = resolve(inv, {})

    assert cfg.datadir == Path("ud/data/binance")
    assert cfg.whitelist == [".*/BTC"]


def test_resolve_when_config_missing_then_error_names_file(tmp_path: Path) -> None:
    """A missing config file is a ConfigError naming it."""
    inv = parse_invocation(["backtesting", "-c", str(tmp_path / "nope.json")])

    with pytest.raises(ConfigError, match=r"nope\.json not found"):
        resolve(inv, {})


def test_config_hash_when_only_secrets_differ_then_equal() -> None:
    """Credentials are removed before hashing; anything else changes the hash."""
    a = {"exchange": {"name": "binance", "key": "AAA", "secret": "S1"}, "stake_amount": 1}
    b = {"exchange": {"name": "binance", "key": "BBB", "secret": "S2"}, "stake_amount": 1}
    c = {"exchange": {"name": "binance", "key": "AAA", "secret": "S1"}, "stake_amount": 2}

    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(c)


def test_expand_pairs_when_regex_and_literal_then_matches_and_missing() -> None:
    """Whitelist regexes expand against available pairs; unmatched entries are reported."""
    matched, missing = expand_pairs([".*/BTC", "FOO/USDT"], ["ETH/BTC", "LTC/BTC", "ETH/USDT"])

    assert matched == ["ETH/BTC", "LTC/BTC"]
    assert missing == ["FOO/USDT"]
