"""The Prometheus exporter: ``tradingbot exporter`` / ``python scripts/exporter.py``.

At every scrape of ``/metrics`` the collector (``collector.py``) reads its sources
concurrently, each on its own: the circuit breaker and the backtest slots
(``state.py``), the registry read-only (``registry.py``), each live bot's guard metrics
file (``guard.py``, written by ``app/risk/publish.py``) and each bot named in
``EXPORTER_BOTS`` over Freqtrade's REST API (``bots.py``). Metric names, types and labels
are in one table (``catalog.py``); settings in ``settings.py``; the HTTP server in
``server.py``. Nothing here writes to the registry, the state folder or a bot.
"""
