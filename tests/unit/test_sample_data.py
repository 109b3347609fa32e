"""The synthetic sample: deterministic, plausible, clearly marked, never mixed with real data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.datadirs import SYNTHETIC_MARKER, is_synthetic
from app.errors import ConfigError, DataError
from app.sample_data import PAIRS, write_sample


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.feather")}


def test_write_sample_when_same_seed_then_identical_bytes(tmp_path: Path) -> None:
    """The same seed always gives the same files; another seed gives other prices."""
    write_sample(tmp_path / "a", days=5, seed=3)
    write_sample(tmp_path / "b", days=5, seed=3)
    write_sample(tmp_path / "c", days=5, seed=4)

    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_write_sample_when_written_then_marked_and_freqtrade_shaped(tmp_path: Path) -> None:
    """Every pair gets a 5m feather file in Freqtrade's layout, and the folder is marked."""
    paths = write_sample(tmp_path, days=7)

    assert is_synthetic(tmp_path)
    assert "NOT real market prices" in (tmp_path / SYNTHETIC_MARKER).read_text()
    assert sorted(p.name for p in paths) == sorted(
        f"{s.pair.replace('/', '_')}-5m.feather" for s in PAIRS
    )
    frame = pd.read_feather(paths[0])
    assert list(frame.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert str(frame["date"].dt.tz) == "UTC"
    assert len(frame) == 7 * 288
    assert (frame["date"].diff().dropna() == pd.Timedelta(minutes=5)).all()


def test_sample_when_generated_then_ohlc_consistent_and_volatility_plausible(
    tmp_path: Path,
) -> None:
    """High/low bound open/close, volume is positive, daily volatility is crypto-like."""
    for path in write_sample(tmp_path, days=30):
        frame = pd.read_feather(path)
        body_top = frame[["open", "close"]].max(axis=1)
        body_bottom = frame[["open", "close"]].min(axis=1)
        returns = np.log(frame["close"]).diff().dropna()
        daily_vol = returns.std() * np.sqrt(288)

        assert (frame["high"] >= body_top).all()
        assert (frame["low"] <= body_bottom).all()
        assert (frame["volume"] > 0).all()
        assert 0.01 < daily_vol < 0.15, path.name
        assert returns.kurt() > 1  # fat tails, as real 5m returns have


def test_write_sample_when_folder_holds_real_data_then_refused(tmp_path: Path) -> None:
    """The sample never overwrites or mixes with candles that are not synthetic."""
    (tmp_path / "ETH_BTC-5m.feather").write_bytes(b"real data")

    with pytest.raises(DataError, match="not a synthetic sample"):
        write_sample(tmp_path, days=5)
    assert (tmp_path / "ETH_BTC-5m.feather").read_bytes() == b"real data"


@pytest.mark.parametrize("days", [0, 2, 731])
def test_write_sample_when_days_out_of_range_then_config_error(tmp_path: Path, days: int) -> None:
    """A length outside 3-730 days is refused with the range in the message."""
    with pytest.raises(ConfigError, match="3-730"):
        write_sample(tmp_path, days=days)
    assert not tmp_path.joinpath(SYNTHETIC_MARKER).exists()
