"""Backups and restores of the registry, trade databases, results, logs, state and params.

Library API: :func:`app.backup.create.create_backup`, :func:`app.backup.restore.restore_backup`
and :func:`app.backup.restore.verify_backup`; :mod:`app.backup.service` adds the registry
record. The command line is ``scripts/backup_restore.py`` (:mod:`app.backup.cli`).
"""
