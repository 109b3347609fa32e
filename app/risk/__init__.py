"""The risk guard: pre-run gates and the in-bot entry guard.

* ``gates`` / ``slots``: what the guarded runner checks before Freqtrade starts
  (circuit breaker, concurrency slots, recorded backtest drawdown).
* ``guard`` / ``rules`` / ``snapshot`` / ``decision``: the entry guard that
  ``app.strategies.GuardedStrategy`` calls from Freqtrade's callbacks.
* ``runtime`` / ``feeds``: the glue between Freqtrade's objects and the guard.

Importing this package does not import Freqtrade (``runtime`` and ``feeds`` do).
"""
