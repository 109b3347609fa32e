"""Alembic environment of the registry.

The registry passes an open connection (already inside a write transaction) through
``config.attributes["connection"]``; the command-line ``alembic`` tool, used only by
developers writing migrations, falls back to the URL from the settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app.registry.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the caller's connection, or open one from the settings."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from app.registry.engine import create_registry_engine, parse_url
    from app.settings import get_settings

    engine = create_registry_engine(parse_url(get_settings().database_url))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
