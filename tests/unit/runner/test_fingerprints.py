"""Fingerprints of a run's inputs: strategy code + parameters, and candle files."""

from __future__ import annotations

from pathlib import Path

from app.runner.fingerprints import (
    data_fingerprint,
    find_strategy_file,
    pair_of_file,
    strategy_hash,
)


def test_find_strategy_file_when_class_in_folder_then_found(tmp_path: Path) -> None:
    """The file defining ``class Name(`` is found, not one that only mentions it."""
    (tmp_path / "a.py").write_text("# uses MyStrat\nx = 'class MyStrat('\n")
    (tmp_path / "b.py").write_text("class MyStrat(IStrategy):\n    pass\n")

    assert find_strategy_file("MyStrat", [tmp_path / "missing", tmp_path]) == tmp_path / "b.py"
    assert find_strategy_file("Other", [tmp_path]) is None


def test_strategy_hash_when_params_file_changes_then_hash_changes(tmp_path: Path) -> None:
    """Promoted parameters are part of the strategy's fingerprint."""
    source = tmp_path / "S.py"
    source.write_text("class S: pass\n")
    before = strategy_hash(source)
    (tmp_path / "S.json").write_text('{"params": {"buy": {"x": 1}}}')

    assert strategy_hash(source) != before


def test_data_fingerprint_when_one_pair_file_changes_then_changes(tmp_path: Path) -> None:
    """Only the run's pairs count; a change in their candles changes the fingerprint."""
    (tmp_path / "ETH_BTC-5m.feather").write_bytes(b"one")
    (tmp_path / "LTC_BTC-5m.feather").write_bytes(b"two")
    first = data_fingerprint(tmp_path, ["ETH/BTC"])
    (tmp_path / "LTC_BTC-5m.feather").write_bytes(b"changed, but not our pair")
    unchanged = data_fingerprint(tmp_path, ["ETH/BTC"])
    (tmp_path / "ETH_BTC-5m.feather").write_bytes(b"changed")

    assert first == unchanged
    assert data_fingerprint(tmp_path, ["ETH/BTC"]) != first
    assert data_fingerprint(tmp_path, ["XRP/BTC"]) is None


def test_pair_of_file_when_spot_and_futures_names_then_pairs() -> None:
    """File names map back to Freqtrade pairs."""
    assert pair_of_file(Path("ETH_BTC-5m.feather")) == "ETH/BTC"
    assert pair_of_file(Path("XRP_USDT_USDT-1h-futures.feather")) == "XRP/USDT:USDT"
    assert pair_of_file(Path("notes.txt")) is None
