"""Trading rules derived from candles: tick, step and minimum order value."""

from __future__ import annotations

import numpy as np

from app.offline_exchange.markets import derive_spec, price_decimals
from app.offline_exchange.store import Candles, Market


def _candles(prices: list[float]) -> Candles:
    arr = np.array(prices, dtype=np.float64)
    times = np.arange(len(arr), dtype=np.int64) * 300_000
    return Candles(300_000, times, arr, arr, arr, arr, np.ones_like(arr))


def _market(quote: str, settle: str | None = None) -> Market:
    return Market(f"X/{quote}", "X", quote, settle, {})


def test_price_decimals_when_prices_have_six_decimals_then_six() -> None:
    """The tick is the finest decimal the prices use."""
    assert price_decimals(_candles([0.099477, 0.0984, 0.1])) == 6


def test_price_decimals_when_float_noise_then_not_inflated() -> None:
    """Binary float noise (0.09946999000000001) does not add decimals."""
    assert price_decimals(_candles([0.09946999000000001, 0.0998])) == 8
    assert price_decimals(_candles([1.1893, 1.1954000000000002])) == 4


def test_derive_spec_when_btc_quote_then_binance_like_step_and_min_notional() -> None:
    """ETH/BTC around 0.1: step 0.0001 ETH, minimum order 0.0001 BTC."""
    spec = derive_spec(_market("BTC"), _candles([0.1, 0.11, 0.09]))

    assert spec.step_size == 1e-4
    assert spec.min_notional == 0.0001


def test_derive_spec_when_cheap_coin_then_whole_unit_steps() -> None:
    """A coin at 1e-6 BTC trades in whole units or more, never in fractions."""
    spec = derive_spec(_market("BTC"), _candles([1e-6, 1.1e-6]))

    assert spec.step_size >= 1.0


def test_derive_spec_when_futures_then_five_usdt_minimum() -> None:
    """USD-M futures use Binance's 5 USDT minimum notional."""
    spec = derive_spec(_market("USDT", "USDT"), _candles([1.1893, 1.2]))

    assert spec.min_notional == 5.0
    assert spec.price_decimals == 4
