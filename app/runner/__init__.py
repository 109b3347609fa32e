"""The guarded runner: ``tradingbot freqtrade [--offline] <freqtrade args>``."""
