"""Alembic migrations of the run registry, shipped inside the package."""
