"""Fixtures shared with the guard's unit tests."""

from tests.unit.risk.conftest import risk_log

__all__ = ["risk_log"]
