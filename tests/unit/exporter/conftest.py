"""Exporter fixtures: the registry's databases on each backend (SQLite, PostgreSQL)."""

from tests.unit.registry.conftest import db_url, postgres_server
from tests.unit.risk.conftest import risk_log

__all__ = ["db_url", "postgres_server", "risk_log"]
