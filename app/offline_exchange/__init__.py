"""A loopback Binance look-alike serving local candle files (see ``docs/OFFLINE.md``)."""
