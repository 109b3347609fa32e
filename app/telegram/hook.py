"""The one integration point: a handler on the ``tradingbot`` log tree that sends messages.

``app.logs.configure_logging`` asks :func:`notification_handler` for it when the tree is
set up (on the first log line of a process). With ``TELEGRAM_BOT_TOKEN`` unset it returns
None and nothing else happens: no thread, no outbox row, no network. With a token, every
record goes through :class:`EventTranslator` (a dictionary lookup for records that are
not operations events) and the notices go to the process's :class:`Notifier`, which
never makes the logging call wait.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from typing import TYPE_CHECKING

from app.errors import ConfigError
from app.telegram.settings import get_telegram_settings

if TYPE_CHECKING:
    from app.telegram.events import EventTranslator
    from app.telegram.notifier import Notifier

_warned = threading.Event()


class NotificationHandler(logging.Handler):
    """Turns operations events into notices for the notifier."""

    def __init__(self, notifier: Notifier, translator: EventTranslator | None = None) -> None:
        super().__init__(logging.INFO)
        self.notifier = notifier
        self.translator = translator or _process_translator()

    def emit(self, record: logging.LogRecord) -> None:
        """Translate and queue; a failure here is reported, never raised into the caller."""
        try:
            notice = self.translator.translate(record)
            if notice is not None:
                self.notifier.submit(notice)
        except Exception:  # noqa: BLE001  # logging must never break the caller
            self.handleError(record)


def notification_handler() -> logging.Handler | None:
    """The handler when Telegram is on; None when off or misconfigured (said once on stderr).

    Programs validate the settings at start (``app.settings.load_settings``) and exit 2 on
    a bad value; this only covers a process that logs before it reads any settings.
    """
    try:
        settings = get_telegram_settings()
    except ConfigError as exc:
        if not _warned.is_set():
            _warned.set()
            sys.stderr.write(f"Warning: Telegram messages are off in this process: {exc}\n")
        return None
    if not settings.enabled:
        return None  # off: nothing more is imported or created
    from app.telegram.notifier import process_notifier

    return NotificationHandler(process_notifier(settings))


@functools.cache
def _process_translator() -> EventTranslator:
    """One per process: it remembers the live guards across logging reconfigurations."""
    from app.telegram.events import EventTranslator

    return EventTranslator()
