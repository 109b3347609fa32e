#!/usr/bin/env python3
"""Back up and restore the bundle's data: see ``python scripts/backup_restore.py --help``.

    python scripts/backup_restore.py backup [--logs] [--out DIR] [--user-data DIR]
    python scripts/backup_restore.py restore BACKUP_DIR [--only PART]... [--overwrite]
    python scripts/backup_restore.py verify BACKUP_DIR

All logic lives in :mod:`app.backup`; this file only starts it.
"""

from app.backup.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
