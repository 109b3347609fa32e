#!/usr/bin/env python3
"""The Prometheus exporter: same as ``tradingbot exporter`` (see ``--help``).

    python scripts/exporter.py [--host 127.0.0.1] [--port 9000] [--allow-remote]

All logic lives in :mod:`app.exporter`; this file only starts it.
"""

import sys

from app.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["exporter", *sys.argv[1:]]))
