"""The drill's market: synthetic 1m candles by default, or checked real candles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from app.datadirs import is_synthetic
from app.drill.market import SYNTHETIC_PAIRS, materialize, plan_market
from app.errors import ConfigError, DataError
from tests.unit.offline_exchange.candles import write_candles


def test_plan_when_no_datadir_then_synthetic_1m_pairs_and_nothing_written(tmp_path: Path) -> None:
    """By default the drill plans three synthetic BTC pairs on 1m candles, writing nothing."""
    market = plan_market(None, None)
    assert market.synthetic
    assert market.pairs == SYNTHETIC_PAIRS
    assert (market.timeframe, market.stake_currency) == ("1m", "BTC")
    assert list(tmp_path.iterdir()) == []


def test_materialize_when_synthetic_then_marked_1m_files_in_the_drill_folder(
    tmp_path: Path,
) -> None:
    """The synthetic candles are written into the drill's folder, marked SYNTHETIC, 1m."""
    market = materialize(plan_market(None, ["SYNA/BTC"]), tmp_path)
    assert market.datadir == tmp_path / "data"
    assert is_synthetic(market.datadir)
    frame = pd.read_feather(market.datadir / "SYNA_BTC-1m.feather")
    assert (frame["date"].diff().dropna() == pd.Timedelta(minutes=1)).all()
    assert len(frame) == 3 * 1440


@pytest.fixture
def real(tmp_path: Path) -> Path:
    write_candles(tmp_path / "ETH_BTC-1m.feather", 50, timeframe="1m")
    write_candles(tmp_path / "LTC_BTC-5m.feather", 50)
    write_candles(tmp_path / "XRP_USDT-5m.feather", 50)
    return tmp_path


def test_plan_when_datadir_then_finest_timeframe_pairs_by_default(real: Path) -> None:
    """Real candles: by default the pairs with the finest timeframe; chosen pairs trade on
    the finest timeframe they all have."""
    market = plan_market(real, None)
    assert (market.pairs, market.timeframe, market.synthetic) == (("ETH/BTC",), "1m", False)
    both = plan_market(real, ["ETH/BTC", "LTC/BTC"])
    assert (both.timeframe, both.stake_currency) == ("5m", "BTC")
    assert materialize(both, real / "drill") == both


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["DOGE/BTC"], "DOGE/BTC have no spot candle files in"),
        (["ETH/BTC", "XRP/USDT"], "quoted in BTC, USDT"),
    ],
)
def test_plan_when_bad_pairs_then_config_error_names_them(
    real: Path, pairs: list[str], message: str
) -> None:
    """Unknown pairs or mixed quote currencies are refused before anything starts."""
    with pytest.raises(ConfigError, match=message):
        plan_market(real, pairs)


def test_plan_when_synthetic_pair_unknown_then_config_error() -> None:
    """Only the synthetic market's pairs exist without --datadir."""
    with pytest.raises(ConfigError, match="not in the drill's synthetic market"):
        plan_market(None, ["ETH/BTC"])


def test_plan_when_datadir_missing_then_data_error(tmp_path: Path) -> None:
    """A missing datadir is a data error (exit code 3) naming it."""
    with pytest.raises(DataError, match="does not exist") as caught:
        plan_market(tmp_path / "nope", None)
    assert caught.value.exit_code == 3
