"""The outbox's rate limit, as a plain value (no database import: the log handler uses it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``burst`` messages per ``window`` for one key; ``label`` names the rest."""

    burst: int
    window: timedelta
    label: str
