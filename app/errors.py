"""The project's exception hierarchy.

Every class says what the operator should do about it. CLIs turn these into
``Error: <message>`` on stderr and the class's ``exit_code``; nothing else
catches them silently.
"""

from __future__ import annotations


class TradingBotError(Exception):
    """Base class. Requires a person to read the message and act on it."""

    exit_code = 1


class ConfigError(TradingBotError):
    """A setting, flag or config file is invalid. Fix the named value and run again."""

    exit_code = 2


class DataError(TradingBotError):
    """Candle data is missing, unreadable or inconsistent.

    Check the named file or folder; download or regenerate the data.
    """

    exit_code = 3


class OfflineExchangeError(TradingBotError):
    """The offline exchange could not start (port in use, bad host, no data). Fix and retry."""

    exit_code = 4


class RegistryError(TradingBotError):
    """The run registry could not be read or written.

    Temporary when the database is busy (retry); otherwise check ``RISK_DB_PATH`` /
    ``RISK_DB_URL`` and run ``tradingbot registry upgrade``.
    """

    exit_code = 5


class BackupError(TradingBotError):
    """A backup or restore was refused or failed. Nothing was changed; read the reason."""

    exit_code = 6


class CircuitBreakerError(TradingBotError):
    """The circuit breaker file could not be written (permissions, disk, lock held too long).

    The breaker keeps its previous state. Fix the named path and run the command again.
    """

    exit_code = 7


class TelegramError(TradingBotError):
    """The Telegram service cannot run: the Bot API rejected the token, or another
    ``tradingbot telegram`` already polls with it. Messages wait in the outbox meanwhile;
    fix the token / stop the other poller and start it again."""

    exit_code = 9
