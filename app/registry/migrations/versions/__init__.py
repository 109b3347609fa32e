"""Migration scripts, applied in order by :func:`app.registry.migrate.upgrade_database`."""
