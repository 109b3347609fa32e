"""Market metadata derived from candles, in Binance's ``exchangeInfo`` shape.

Binance publishes for every symbol a price tick, a quantity step and a minimum
order value. Offline we derive them from the data so that Freqtrade's rounding and
minimum-stake logic behave as they would on the exchange:

- price tick: the finest decimal the prices are quoted in (at most 8 decimals);
- quantity step: the power of ten closest to one tenth of the minimum order value
  at the median price (Binance's steps keep one step worth a small fraction of
  the minimum order: ETH/BTC 0.0001, TRX/BTC 1, XRP/USDT 0.1);
- minimum order value: Binance's per-quote-asset ``NOTIONAL`` minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.offline_exchange.store import Candles, Market

MAX_DECIMALS = 8
# Binance's minimum order value by quote asset (NOTIONAL / MIN_NOTIONAL filters).
MIN_NOTIONAL = {"BTC": 0.0001, "ETH": 0.001, "BNB": 0.01, "USDT": 5.0, "USDC": 5.0, "FDUSD": 5.0}
DEFAULT_MIN_NOTIONAL = 1.0
FUTURES_MIN_NOTIONAL = 5.0
FUTURES_DELIVERY_PERPETUAL = 4133404800000  # Binance's delivery date for perpetual contracts
SPOT_ORDER_TYPES = [
    "LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]  # fmt: skip
FUTURES_ORDER_TYPES = [
    "LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]  # fmt: skip


@dataclass(frozen=True)
class MarketSpec:
    """Trading rules of one market."""

    price_decimals: int
    amount_decimals: int  # may be negative: a step of 10 or 100 units
    min_notional: float
    max_price: float
    max_qty: float

    @property
    def tick_size(self) -> float:
        return 10.0**-self.price_decimals

    @property
    def step_size(self) -> float:
        return 10.0**-self.amount_decimals


def price_decimals(candles: Candles) -> int:
    """Fewest decimals (<= 8) that represent every price in the series exactly."""
    prices = np.concatenate([candles.open, candles.high, candles.low, candles.close])
    prices = prices[np.isfinite(prices)]
    for decimals in range(MAX_DECIMALS + 1):
        scaled = prices * 10.0**decimals
        # Within a millionth of a tick, or float noise (1e-13 relative) on large values.
        tolerance = np.maximum(1e-6, np.abs(scaled) * 1e-13)
        if np.all(np.abs(scaled - np.round(scaled)) <= tolerance):
            return decimals
    return MAX_DECIMALS


def derive_spec(market: Market, candles: Candles) -> MarketSpec:
    """Derive tick, step and limits of ``market`` from its candles."""
    closes = candles.close[np.isfinite(candles.close) & (candles.close > 0)]
    median = float(np.median(closes)) if len(closes) else 1.0
    if market.is_futures:
        min_notional = FUTURES_MIN_NOTIONAL
    else:
        min_notional = MIN_NOTIONAL.get(market.quote, DEFAULT_MIN_NOTIONAL)
    step_exponent = round(math.log10(min_notional / median / 10))
    amount_decimals = max(-3, min(MAX_DECIMALS, -step_exponent))
    top = float(np.nanmax(candles.high)) if len(candles) else 1.0
    return MarketSpec(
        price_decimals=price_decimals(candles),
        amount_decimals=amount_decimals,
        min_notional=min_notional,
        max_price=10.0 ** math.ceil(math.log10(max(top, 1e-8) * 1000)),
        max_qty=9_000_000.0 if amount_decimals >= 0 else 90_000_000.0,
    )


def fmt(value: float, decimals: int = MAX_DECIMALS) -> str:
    """Binance's fixed-point string for filter values: ``fmt(0.001)`` -> ``"0.00100000"``."""
    return f"{value:.{max(decimals, 0)}f}"


def _filters(spec: MarketSpec, futures: bool) -> list[dict[str, Any]]:
    price = {
        "filterType": "PRICE_FILTER",
        "minPrice": fmt(spec.tick_size),
        "maxPrice": fmt(spec.max_price),
        "tickSize": fmt(spec.tick_size),
    }
    lot = {
        "filterType": "LOT_SIZE",
        "minQty": fmt(spec.step_size),
        "maxQty": fmt(spec.max_qty),
        "stepSize": fmt(spec.step_size),
    }
    market_lot = {**lot, "filterType": "MARKET_LOT_SIZE"}
    if futures:
        return [
            price,
            lot,
            market_lot,
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(spec.min_notional, 1)},
        ]
    return [
        price,
        lot,
        market_lot,
        {
            "filterType": "NOTIONAL",
            "minNotional": fmt(spec.min_notional),
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
    ]


def spot_symbol(market: Market, spec: MarketSpec) -> dict[str, Any]:
    """One entry of spot ``exchangeInfo.symbols``."""
    return {
        "symbol": market.symbol_id,
        "status": "TRADING",
        "baseAsset": market.base,
        "baseAssetPrecision": MAX_DECIMALS,
        "quoteAsset": market.quote,
        "quotePrecision": MAX_DECIMALS,
        "quoteAssetPrecision": MAX_DECIMALS,
        "baseCommissionPrecision": MAX_DECIMALS,
        "quoteCommissionPrecision": MAX_DECIMALS,
        "orderTypes": SPOT_ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": _filters(spec, futures=False),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def futures_symbol(market: Market, spec: MarketSpec, onboard_ms: int) -> dict[str, Any]:
    """One entry of USD-M futures ``exchangeInfo.symbols`` (a perpetual contract)."""
    return {
        "symbol": market.symbol_id,
        "pair": market.symbol_id,
        "contractType": "PERPETUAL",
        "deliveryDate": FUTURES_DELIVERY_PERPETUAL,
        "onboardDate": onboard_ms,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": market.base,
        "quoteAsset": market.quote,
        "marginAsset": market.settle,
        "pricePrecision": spec.price_decimals,
        "quantityPrecision": max(spec.amount_decimals, 0),
        "baseAssetPrecision": MAX_DECIMALS,
        "quotePrecision": MAX_DECIMALS,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": _filters(spec, futures=True),
        "orderTypes": FUTURES_ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }
