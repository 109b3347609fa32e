"""Telegram operations messages (outbox, delivery) and operator commands.

``settings`` (TELEGRAM_* variables), ``events`` (which log events become messages),
``hook`` + ``notifier`` (the process-wide sender behind the ``tradingbot`` log tree),
``delivery`` (outbox to Bot API, shared by every sender), ``service`` and ``commands``
(``tradingbot telegram``). The outbox table lives in :mod:`app.registry.outbox`.
"""
