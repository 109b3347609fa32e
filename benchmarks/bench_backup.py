"""Registry backup through app.backup vs the sqlite3 shell's ``.backup``, on the same file.

    .venv/bin/python benchmarks/bench_backup.py [--runs 10000] [--repeat 7]

Builds a registry with N runs (20 metrics each) in a temp folder, then times, alternating
so that caches treat them alike:

* ``sqlite3 FILE ".backup OUT"`` (the sqlite3 command-line shell; the baseline);
* ``copy_database`` (the online-backup step ``backup`` uses for every database);
* ``create_backup`` of a user_data holding only that registry: the copy plus its
  ``quick_check``, sha256, fsync, manifest and the rename into place.

Prints median wall times and the ratios to the baseline (aim: <= 1.2x for the copy).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_registry import populate  # sibling script (benchmarks/ is sys.path[0])

from app.backup.create import create_backup
from app.backup.layout import BackupPaths
from app.backup.sqlite_copy import copy_database
from app.registry import Registry


def timed(action: object) -> float:
    """Seconds taken by ``action()``."""
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    """Build the registry, time the three ways, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sqlite3_cli = shutil.which("sqlite3")
    if sqlite3_cli is None:
        raise SystemExit("the sqlite3 command-line shell is not installed; it is the baseline")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        user_data = root / "user_data"
        database = user_data / "registry" / "strategies_registry.sqlite"
        with Registry(f"sqlite:///{database}") as registry:
            registry.upgrade()
            populate(registry, args.runs)
        size_mb = database.stat().st_size / 1e6
        paths = BackupPaths(user_data, f"sqlite:///{database}", user_data / "state")
        out = root / "out"
        out.mkdir()
        cli, ours, full = [], [], []
        for n in range(args.repeat):
            target = out / f"cli{n}.sqlite"
            cli.append(
                timed(
                    lambda t=target: subprocess.run(
                        [sqlite3_cli, str(database), f".backup {t}"], check=True
                    )
                )
            )
            target = out / f"ours{n}.sqlite"
            ours.append(timed(lambda t=target: copy_database(database, t)))
            full.append(timed(lambda n=n: create_backup(paths, out_dir=out / f"full{n}")))
        base = statistics.median(cli)
        print(f"registry: {args.runs} runs, {size_mb:.1f} MB; median of {args.repeat} runs each")
        print(f"  sqlite3 .backup (baseline): {base * 1000:8.1f} ms")
        copy = statistics.median(ours)
        print(f"  copy_database:              {copy * 1000:8.1f} ms  ratio {copy / base:.2f}x")
        whole = statistics.median(full)
        print(
            f"  create_backup (registry):   {whole * 1000:8.1f} ms  ratio {whole / base:.2f}x "
            "(adds quick_check, sha256, fsync, manifest)"
        )


if __name__ == "__main__":
    main()
