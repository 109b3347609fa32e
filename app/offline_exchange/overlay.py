"""The Freqtrade config overlay that points ccxt at the offline exchange.

Every API base URL ccxt's Binance class knows is redirected to the loopback
server, private ones included, so that nothing an offline run does can reach the
internet; API keys are blanked so that no credential is ever sent anywhere.
"""

from __future__ import annotations

from typing import Any

# ccxt's Binance `urls.api` keys and the path each serves (tests compare this with ccxt).
BINANCE_API_PATHS: dict[str, str] = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/dapi/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}


def ccxt_overlay(base_url: str, *, futures: bool = False) -> dict[str, Any]:
    """The ``exchange`` section to merge over a Binance config for an offline run."""
    ccxt_config: dict[str, Any] = {
        "urls": {"api": {key: base_url + path for key, path in BINANCE_API_PATHS.items()}},
        "options": {"fetchMarkets": {"types": ["linear" if futures else "spot"]}},
    }
    return {
        "exchange": {
            "name": "binance",
            "key": "",
            "secret": "",
            "password": "",
            "uid": "",
            "enable_ws": False,
            # Freqtrade's fast Binance download fetches archives from data.binance.vision
            # over the internet; offline, candles come from the loopback REST API only.
            "only_from_ccxt": True,
            "ccxt_config": ccxt_config,
            "ccxt_async_config": ccxt_config,
        }
    }
