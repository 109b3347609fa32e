"""Fixtures shared with the guard's unit tests."""

from tests.unit.risk.conftest import _fresh_error_budget, risk_log

__all__ = ["_fresh_error_budget", "risk_log"]
