"""tradingbot: Freqtrade strategies, a fail-closed risk guard, a run registry and offline tools."""

__version__ = "0.1.0"
