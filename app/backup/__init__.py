"""Backups and restores of the registry, trade databases, results, logs, state and params.

Library API: :func:`app.backup.create.create_backup`, :func:`app.backup.restore.restore_backup`
and :func:`app.backup.restore.verify_backup`; :mod:`app.backup.service` adds the registry
record. The command line is ``scripts/backup_restore.py`` (:mod:`app.backup.cli`).

Modules: ``layout`` (what lives where), ``names`` (which files each part may hold),
``manifest`` (the manifest's fields), ``scrub`` (secrets masked in everything copied),
``archive`` (zips written and read safely), ``create`` (making a backup), ``source``
(reading a possibly crafted backup folder), ``plan`` / ``dirs`` / ``apply`` (where a
restore writes, folders opened without following links, stage and swap), ``restore``.
"""
