"""Strategy base classes. ``from app.strategies import GuardedStrategy`` (imports Freqtrade)."""

from app.strategies.base import GUARDED_CALLBACKS, GuardedStrategy

__all__ = ["GUARDED_CALLBACKS", "GuardedStrategy"]
